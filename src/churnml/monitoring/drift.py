"""Drift of tonight's population against the model's training reference, per feature and for the predictions.

The reference is small and JSON-friendly: per numeric feature the inner edges of its training deciles (fewer
where values repeat, as counts of zero do) and the training share of every bin, with one bin for missing values;
per categorical feature its levels' shares plus one bin for levels unseen in training and one for missing. Tonight's
values are counted into the same bins part by part (counts add up across partitions) and compared with the
population stability index, PSI = sum over bins of (now - then) * ln(now / then).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

# A share never drops below this in PSI: an empty bin on either side would make it infinite.
_MIN_SHARE = 1e-4
PROBABILITY = "churn_probability"  # the predictions' entry among the features of a reference


def _edges(values: np.ndarray, bins: int) -> list[float]:
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return []
    inner = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    return [float(e) for e in np.unique(inner)]


def _numeric_bins(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin of each value: 0 .. len(edges) by ``value <= edge``, len(edges) + 1 for a missing one."""
    out = np.searchsorted(np.asarray(edges, dtype=float), values, side="left")
    out[np.isnan(values)] = len(edges) + 1
    return out


def _category_bins(values: pd.Series, levels: list[str]) -> np.ndarray:
    """Bin of each value: its level's position, len(levels) for a level unseen in training, len(levels) + 1 missing."""
    text = values.astype("object")
    missing = text.isna().to_numpy()
    codes = pd.Index(levels).get_indexer(text.where(~missing, None).astype(str))
    out = np.where(codes < 0, len(levels), codes)
    out[missing] = len(levels) + 1
    return out


def _is_category(values: pd.Series) -> bool:
    return isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values.dtype)


def reference_summary(features: pd.DataFrame, probability: np.ndarray | None = None, bins: int = 10) -> dict[str, Any]:
    """The training reference of every column of ``features`` (and of the predictions, given): bins and shares."""
    out: dict[str, Any] = {"bins": bins, "rows": len(features), "features": {}}
    columns = {name: features[name] for name in features.columns}
    if probability is not None:
        columns[PROBABILITY] = pd.Series(np.asarray(probability, dtype=float))
    for name, values in columns.items():
        if _is_category(values):
            levels = sorted(str(v) for v in pd.unique(values.dropna().astype(str)))
            entry: dict[str, Any] = {"kind": "category", "levels": levels}
            counts = np.bincount(_category_bins(values, levels), minlength=len(levels) + 2)
        else:
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
            edges = _edges(numbers, bins)
            entry = {"kind": "numeric", "edges": edges}
            counts = np.bincount(_numeric_bins(numbers, edges), minlength=len(edges) + 2)
        entry["shares"] = [float(c) for c in counts / max(1, len(values))]
        out["features"][str(name)] = entry
    return out


def usual_moves(months: list[pd.DataFrame], reference: Mapping[str, Any], quantile: float = 0.9) -> dict[str, float]:
    """How much each referenced feature moves from one month to the next when nothing special happens: the
    ``quantile`` of the PSI between consecutive ``months`` (training snapshots, oldest first) in the reference bins.
    A feature driven by regional incidents swings by tenths of a PSI every month; a price or tenure feature by
    hundredths. 0 where fewer than two months are given."""
    counts = [bin_counts(month, reference) for month in months if len(month)]
    out: dict[str, float] = {}
    for name in reference.get("features", {}):
        steps = [psi(np.asarray(a[name], float) / max(1, a[name].sum()), b[name])
                 for a, b in pairwise(counts) if name in a and name in b]
        steps = [v for v in steps if np.isfinite(v)]
        out[name] = float(np.quantile(steps, quantile)) if steps else 0.0
    return out


def bin_counts(features: pd.DataFrame, reference: Mapping[str, Any], probability: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Tonight's count per reference bin of every referenced column present (they add up across partitions)."""
    out: dict[str, np.ndarray] = {}
    for name, entry in reference.get("features", {}).items():
        if name == PROBABILITY:
            if probability is None:
                continue
            values: pd.Series = pd.Series(np.asarray(probability, dtype=float))
        elif name in features.columns:
            values = features[name]
        else:
            continue
        if entry["kind"] == "category":
            counts = np.bincount(_category_bins(values, entry["levels"]), minlength=len(entry["levels"]) + 2)
        else:
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
            counts = np.bincount(_numeric_bins(numbers, entry["edges"]), minlength=len(entry["edges"]) + 2)
        out[name] = counts.astype(np.int64)
    return out


def psi(expected: np.ndarray | list[float], counts: np.ndarray | list[int]) -> float:
    """Population stability index of ``counts`` (tonight, per bin) against ``expected`` shares (training)."""
    e = np.maximum(np.asarray(expected, dtype=float), _MIN_SHARE)
    c = np.asarray(counts, dtype=float)
    if c.sum() == 0:
        return float("nan")
    a = np.maximum(c / c.sum(), _MIN_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_table(
    reference: Mapping[str, Any], counts: Mapping[str, np.ndarray], families: Mapping[str, str], watch: float, drifted: float,
    previous: Mapping[str, Any] | None = None, move_factor: float = 2.0,
) -> pd.DataFrame:
    """Per referenced column: PSI against the training reference, status (``drifted``, ``moving``, ``stable``),
    family, the missing share in training and tonight and, given the previous run's counts in the same bins,
    ``psi_since_previous`` (what moved since that run), the feature's ``usual_move`` month to month in training and
    ``moved``: ``psi_since_previous`` at least ``move_factor`` times that and at least ``watch``; the most drifted
    first."""
    rows = []
    for name, entry in reference.get("features", {}).items():
        if name not in counts:
            continue
        c = np.asarray(counts[name], dtype=float)
        value = psi(entry["shares"], c)
        before = None if previous is None else previous.get(name)
        rows.append({
            "feature": name,
            "family": "prediction" if name == PROBABILITY else families.get(name, "other"),
            "psi": value,
            "status": "drifted" if value >= drifted else "moving" if value >= watch else "stable",
            "psi_since_previous": psi(np.asarray(before, float) / max(1.0, float(np.sum(before))), c)
            if before is not None and len(before) == len(c) else float("nan"),
            "missing_share_reference": float(entry["shares"][-1]),
            "missing_share_now": float(c[-1] / c.sum()) if c.sum() else float("nan"),
            "usual_move": float(entry.get("usual_move", 0.0)),
        })
    table = pd.DataFrame(rows, columns=["feature", "family", "psi", "status", "psi_since_previous", "missing_share_reference",
                                        "missing_share_now", "usual_move"])
    since = table["psi_since_previous"].to_numpy(dtype=float)
    table["moved"] = np.nan_to_num(since, nan=-1.0) >= np.maximum(watch, move_factor * table["usual_move"].to_numpy(dtype=float))
    return table.sort_values(["psi", "feature"], ascending=[False, True], kind="stable", na_position="last").reset_index(drop=True)


def volume_changes(
    previous: Mapping[str, float], current: Mapping[str, float], max_drop: float, max_rise: float,
    lowest: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Tables whose recent rows per active customer fell by more than ``max_drop`` (a share: 0.5 = halved: kind
    ``fell``, a broken feed) or rose more than ``max_rise``-fold (kind ``rose``: a feed delivered twice over, or a
    real change such as an incident wave) against ``previous`` (table -> rows per active customer, a baseline),
    or started or stopped arriving. Ordinary months move a log by tens of percent; a log that swings by itself
    (faults follow regional incidents) is not called broken while it stays within three quarters of ``lowest``,
    the lowest rate of the recent runs, so only a fall below what those runs have already shown counts."""
    out = []
    for name in sorted(set(previous) | set(current)):
        before, now = float(previous.get(name, 0.0)), float(current.get(name, 0.0))
        if before == 0 and now == 0:
            continue
        change = (now - before) / before if before else float("inf")
        floor = None if lowest is None else lowest.get(name)
        if now < before * (1.0 - max_drop) and (floor is None or now < floor * (1.0 - max_drop / 2)):
            out.append({"table": name, "per_customer_before": before, "per_customer_now": now, "change": change, "kind": "fell"})
        elif now > before * max_rise:
            out.append({"table": name, "per_customer_before": before, "per_customer_now": now, "change": change, "kind": "rose"})
    return out
