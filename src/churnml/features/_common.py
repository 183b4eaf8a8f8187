"""Vectorised helpers shared by the feature builders.

Builders map ``customer_id`` to integer positions in the (sorted) index of active customers once, then aggregate
with ``np.bincount`` and ``ufunc.at``: no Python loop ever runs over rows or customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.dataset import NS_PER_DAY
from churnml.lifecycle import group_bounds, positions_in

__all__ = [
    "Events",
    "events_before",
    "frame_of",
    "group_bounds",
    "group_quantile",
    "positions_in",
    "ratio",
    "timestamp_ns",
    "window_name",
]


def timestamp_ns(values: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch as int64, whatever the datetime resolution of the column."""
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


def as_of_ns(as_of: pd.Timestamp) -> int:
    return int(as_of.as_unit("ns").value)


@dataclass(frozen=True)
class Events:
    """Rows of one event log known at T (timestamp strictly before T) that belong to the given customers.

    ``codes`` are positions in the customer index, ``age`` is days before T (> 0, fractional for times of day),
    ``pos`` the positions of the kept rows in the original frame (to fetch more columns).
    """

    codes: np.ndarray
    age: np.ndarray
    pos: np.ndarray
    n: int

    def column(self, frame: pd.DataFrame, name: str, dtype: str | type = np.float64) -> np.ndarray:
        return frame[name].to_numpy(dtype=dtype)[self.pos]

    def within(self, days: float) -> np.ndarray:
        """Mask of rows dated in the last ``days`` days: ``T - days <= timestamp < T``."""
        return self.age <= days

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        codes = self.codes if mask is None else self.codes[mask]
        return np.bincount(codes, minlength=self.n).astype(np.float64)

    def total(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        if mask is not None:
            return np.bincount(self.codes[mask], weights=values[mask], minlength=self.n)
        return np.bincount(self.codes, weights=values, minlength=self.n)

    def mean(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return ratio(self.total(values, mask), self.count(mask))

    def maximum(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return _extreme(np.fmax, self.codes, values, mask, self.n)

    def minimum(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        return _extreme(np.fmin, self.codes, values, mask, self.n)

    def days_since_last(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Days from the latest row to T; NaN for customers with none."""
        return self.minimum(self.age, mask)


def _extreme(ufunc: np.ufunc, codes: np.ndarray, values: np.ndarray, mask: np.ndarray | None, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    if mask is not None:
        codes, values = codes[mask], values[mask]
    ufunc.at(out, codes, values)  # fmax/fmin ignore the NaN start value
    return out


def events_before(
    frame: pd.DataFrame,
    time_column: str,
    customers: pd.Index,
    as_of: pd.Timestamp,
    max_age_days: float | None = None,
    positions: np.ndarray | None = None,
) -> Events:
    """The rows of ``frame`` dated strictly before ``as_of`` (and at most ``max_age_days`` old) of ``customers``.
    ``positions``: each row's position in ``customers`` (-1: none) where the caller has them
    (:meth:`Dataset.positions`); else the ids are looked up here."""
    n = len(customers)
    if len(frame) == 0 or n == 0:
        empty = np.empty(0, dtype=np.int64)
        return Events(empty, np.empty(0), empty, n)
    stamps = timestamp_ns(frame[time_column])
    age_ns = as_of_ns(as_of) - stamps
    keep = (age_ns > 0) & (stamps != np.iinfo(np.int64).min)  # NaT: undated rows are never known
    if max_age_days is not None:
        keep &= age_ns <= max_age_days * NS_PER_DAY
    pos = np.flatnonzero(keep)
    if positions is not None:
        codes = positions if len(pos) == len(frame) else positions[pos]
    else:
        ids = frame["customer_id"]
        codes = positions_in(ids if len(pos) == len(frame) else ids.iloc[pos], customers)
    mine = codes >= 0
    pos, codes = pos[mine], codes[mine]
    return Events(codes, age_ns[pos] / NS_PER_DAY, pos, n)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise ``numerator / denominator`` with NaN where the denominator is 0."""
    out = np.full(len(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def group_quantile(codes: np.ndarray, values: np.ndarray, q: float, n: int) -> np.ndarray:
    """Per-code ``q`` quantile with linear interpolation (as ``np.quantile``); NaN for codes without values."""
    out = np.full(n, np.nan)
    if len(codes) == 0:
        return out
    order = np.lexsort((values, codes))
    c, v = codes[order], values[order]
    firsts, lasts = group_bounds(c)
    # The position within each group, not in the whole array: a fraction of a position in the millions keeps
    # only a few digits. Interpolated as numpy does (from the nearer end), so values match np.quantile exactly.
    within = q * (lasts - firsts).astype(np.float64)
    step = np.floor(within)
    t = within - step
    lo = firsts + step.astype(np.int64)
    hi = np.minimum(lo + 1, lasts)
    a, b = v[lo], v[hi]
    diff = b - a
    out[c[firsts]] = np.where(t >= 0.5, b - diff * (1.0 - t), a + diff * t)
    return out


def frame_of(customers: pd.Index, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A float64 feature frame indexed by ``customers`` (named ``customer_id``), columns in the given order."""
    index = customers.rename("customer_id")
    return pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}, index=index)


def window_name(stem: str, days: int) -> str:
    return f"{stem}_{days}d"
