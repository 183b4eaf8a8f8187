"""Small builders of canonical frames, shared by the test modules as fixtures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from churnml.dataset import Dataset
from churnml.schemas import DATETIME_DTYPE, ID_DTYPE, TABLES


def canonical_table(
    name: str, rows: list[tuple] | list[dict[str, Any]], columns: list[str] | None = None
) -> pd.DataFrame:
    """A canonical frame of table ``name`` from tuples (in ``columns`` or the table's column order) or dicts.

    Dates are ISO strings (``None`` = empty); ``customers`` attribute columns become float64 when numeric, else str.
    """
    spec = TABLES[name]
    if rows and not isinstance(rows[0], dict):
        names = columns or spec.column_names
        rows = [dict(zip(names, r)) for r in rows]
    raw = pd.DataFrame(rows)
    out: dict[str, pd.Series] = {}
    for col in spec.columns:
        values = raw[col.name] if col.name in raw.columns else pd.Series([None] * len(raw), dtype=object)
        if col.dtype == DATETIME_DTYPE:
            out[col.name] = pd.to_datetime(values, format="ISO8601").astype(DATETIME_DTYPE)
        elif col.dtype == ID_DTYPE:
            out[col.name] = values.astype(ID_DTYPE)
        elif col.dtype == "bool":
            out[col.name] = values.astype(bool)
        else:
            out[col.name] = pd.to_numeric(values).astype(col.dtype)
    frame = pd.DataFrame(out)
    for extra in raw.columns.difference(spec.column_names, sort=False):
        values = raw[extra]
        numeric = pd.to_numeric(values, errors="coerce")
        frame[extra] = (
            numeric.astype("float64") if numeric.notna().sum() == values.notna().sum() else values.astype(ID_DTYPE)
        )
    return frame.reset_index(drop=True)


def canonical_dataset(**tables: list) -> Dataset:
    """A dataset from rows per table (see :func:`canonical_table`); absent tables are empty."""
    return Dataset.from_frames({name: canonical_table(name, rows) for name, rows in tables.items()})


@pytest.fixture(scope="session")
def table():
    return canonical_table


@pytest.fixture(scope="session")
def dataset_of():
    return canonical_dataset


def mixed_dataset(seed: int = 7, customers: int = 40) -> Dataset:
    """A small dataset with every table and every awkward case the definitions care about.

    Periods that end and return inside and outside the grace period, periods ending and starting on month starts
    (the usual as-of dates), events with times of day and on midnights, shared incidents, unknown notice,
    unlimited allowances, attributes with gaps. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    day0 = pd.Timestamp("2024-01-01")
    ids = [f"{i:05d}" for i in range(customers)]
    plans = ["basic", "plus", "pro"]
    subs = []
    for i, cid in enumerate(ids):
        start = day0 + pd.Timedelta(days=int(rng.integers(0, 500)))
        if i % 7 == 0:
            start = start.replace(day=1)  # starts on a month start (a snapshot date)
        periods = int(rng.integers(1, 4))
        for p in range(periods):
            length = int(rng.integers(20, 400))
            end = start + pd.Timedelta(days=length)
            last = p == periods - 1
            open_end = last and rng.random() < 0.5
            subs.append(
                (
                    cid,
                    str(start.date()),
                    None if open_end else str(end.date()),
                    plans[int(rng.integers(0, 3))],
                    float(rng.choice([10, 20, 30, 45])),
                )
            )
            gap = int(rng.choice([0, 1, 15, 30, 31, 45, 120]))  # 30 = exactly the grace period
            start = end + pd.Timedelta(days=gap)

    def stamp(n: int) -> list[str]:
        days = rng.integers(0, 900, n)
        secs = np.where(rng.random(n) < 0.5, 0, rng.integers(0, 86_400, n))
        return [str(day0 + pd.Timedelta(days=int(d), seconds=int(s))) for d, s in zip(days, secs)]

    def who(n: int) -> list[str]:
        return [ids[int(k)] for k in rng.integers(0, customers, n)]

    n = 400
    contacts = list(zip(who(n), stamp(n), ["phone"] * n, rng.exponential(15, n).round(1), rng.random(n) < 0.7))
    complaints = list(
        zip(
            who(120),
            stamp(120),
            rng.choice(["billing", "service", "technical", "product", "other"], 120),
            rng.integers(1, 6, 120),
        )
    )
    old = rng.choice([10.0, 20.0, 30.0, 0.0], 150)
    notice = np.where(rng.random(150) < 0.3, np.nan, rng.integers(0, 60, 150))
    prices = list(zip(who(150), stamp(150), old, (old * rng.choice([0.9, 1.0, 1.1, 1.25], 150)).round(2), notice))
    months = pd.date_range("2024-01-01", "2026-06-01", freq="MS")
    usage = [
        (cid, str(m.date()), float(rng.gamma(2, 6)), float("nan") if i % 5 == 0 else 20.0)
        for i, cid in enumerate(ids)
        for m in months
        if rng.random() < 0.8
    ]
    incidents = rng.choice(["INC-A", "INC-B", "INC-C", None], 200, p=[0.2, 0.15, 0.05, 0.6])
    faults = list(
        zip(
            who(200),
            stamp(200),
            rng.choice(["outage", "degradation", "device", "app", "other"], 200),
            rng.exponential(50, 200).round(),
            incidents,
        )
    )
    surveys = list(zip(who(150), stamp(150), rng.integers(0, 11, 150).astype(float)))
    attrs = [
        {
            "customer_id": cid,
            "contract": rng.choice(["monthly", "yearly", None]),
            "age": float(rng.integers(18, 90)) if i % 9 else None,
        }
        for i, cid in enumerate(ids[:-3])  # the last customers have no attribute row
    ]
    return canonical_dataset(
        subscriptions=subs,
        support_contacts=contacts,
        complaints=complaints,
        price_changes=prices,
        usage=usage,
        tech_faults=faults,
        surveys=surveys,
        customers=attrs,
    )


@pytest.fixture(scope="session")
def mixed():
    """The :func:`mixed_dataset` (session-wide: tests never modify it)."""
    return mixed_dataset()


def _documented_id_hash(customer_id: str) -> int:
    """The documented id hash in plain Python: FNV-1a 64 of the UTF-8 bytes, then the splitmix64 finaliser."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for b in customer_id.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & mask
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & mask
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & mask
    h ^= h >> 31
    return h


@pytest.fixture(scope="session")
def id_hash():
    """The documented customer-id hash, written independently of the package's vectorised one."""
    return _documented_id_hash
