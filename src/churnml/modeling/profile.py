"""Leavers against stayers in the training snapshots: what the report's profile shows, measured once by ``train``.

Kept in the model bundle (small: one row per feature and per segment), so the report reads it instead of
rebuilding training snapshots. Numbers only; the report words them with the feature registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

META_COLUMNS = ("snapshot_date", "customer_id", "lifecycle_stage", "label")
MAX_SEGMENTS = 12  # values shown per dimension; the rest are summed as "other (N)"


def top_segments(values: pd.Series, limit: int = MAX_SEGMENTS) -> pd.Series:
    """Values with the largest ``limit - 1`` segments kept and the rest merged as ``other (N)``."""
    counts = values.value_counts(sort=False)
    if len(counts) <= limit:
        return values
    keep = counts.sort_values(ascending=False, kind="stable").index[: limit - 1]
    rest = len(counts) - len(keep)
    return values.where(values.isin(keep), f"other ({rest})")


def leavers_profile(snapshots: pd.DataFrame, families: Mapping[str, str], latest: int = 6) -> dict[str, Any]:
    """Per feature the mean of leavers (label 1) and stayers (label 0) and their standardised difference
    (``effect``, leavers minus stayers, largest ``|effect|`` first), and the churn rate per lifecycle stage and
    per categorical feature's value, over the ``latest`` snapshot dates. JSON-ready: ``features``, ``rates``,
    ``info``."""
    info: dict[str, Any] = {"rows": 0, "leavers": 0, "customers": 0, "snapshots": [], "base_rate": None}
    if snapshots.empty:
        return {"features": [], "rates": [], "info": info}
    dates = np.sort(pd.to_datetime(snapshots["snapshot_date"]).unique())[-max(1, latest):]
    snaps = snapshots[pd.to_datetime(snapshots["snapshot_date"]).isin(dates)]
    y = snaps["label"].to_numpy(dtype=int) == 1
    info = {
        "rows": len(snaps),
        "leavers": int(y.sum()),
        "customers": int(snaps["customer_id"].nunique()),
        "snapshots": [str(pd.Timestamp(d).date()) for d in dates],
        "base_rate": float(y.mean()) if len(y) else None,
    }
    if len(snaps) == 0 or y.all() or not y.any():
        return {"features": [], "rates": [], "info": info}
    rows, categorical = [], []
    for col in snaps.columns:  # a loop over features; each is one vectorised pass over the rows
        if col in META_COLUMNS:
            continue
        values = snaps[col]
        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            categorical.append(col)
            continue
        v = values.to_numpy(dtype=float)
        a, b = v[y], v[~y]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) < 2 or len(b) < 2:
            continue
        m1, m0 = float(a.mean()), float(b.mean())
        sd = float(np.sqrt((a.var() + b.var()) / 2))
        rows.append({"feature": col, "family": str(families.get(col, "other")), "leavers": m1, "stayers": m0,
                     "effect": (m1 - m0) / sd if sd > 0 else 0.0})
    rows.sort(key=lambda r: (-abs(r["effect"]), r["feature"]))
    rates: list[dict[str, Any]] = []
    for col in ["lifecycle_stage", *categorical]:
        seg = top_segments(snaps[col].astype(object).fillna("unknown").astype(str))
        g = pd.DataFrame({"segment": seg.to_numpy(), "label": y}).groupby("segment", sort=True)["label"].agg(rows="size", leavers="sum")
        rates.extend({"dimension": col, "segment": str(s), "rows": int(n), "leavers": int(k), "churn_rate": float(k / n)}
                     for s, n, k in zip(g.index, g["rows"], g["leavers"], strict=True))
    return {"features": rows, "rates": rates, "info": info}
