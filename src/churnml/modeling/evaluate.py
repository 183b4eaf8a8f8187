"""Honest evaluation: ranking, probability and business metrics, overall and by lifecycle stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from churnml.modeling.calibration import expected_calibration_error


def top_fraction_mask(p: np.ndarray, fraction: float) -> np.ndarray:
    """The highest-risk ``fraction`` of rows, ties broken by position so the count is exact."""
    n = len(p)
    k = int(np.ceil(fraction * n)) if n else 0
    mask = np.zeros(n, dtype=bool)
    if k:
        mask[np.argsort(-np.asarray(p), kind="stable")[:k]] = True
    return mask


def classification_metrics(y: np.ndarray, p: np.ndarray, capacity: float = 0.10) -> dict[str, float]:
    """ROC-AUC, PR-AUC, log loss, Brier, ECE, top-decile lift and recall at the flagging capacity."""
    y, p = np.asarray(y, dtype=int), np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    out: dict[str, float] = {"rows": float(len(y)), "positives": float(y.sum()), "base_rate": float(y.mean()) if len(y) else float("nan")}
    if len(y) == 0 or y.min() == y.max():
        # One class only (a small segment): ranking metrics are undefined, probability ones still mean something.
        out.update(roc_auc=float("nan"), pr_auc=float("nan"), top_decile_lift=float("nan"), recall_at_capacity=float("nan"))
    else:
        out["roc_auc"] = float(roc_auc_score(y, p))
        out["pr_auc"] = float(average_precision_score(y, p))
        top = top_fraction_mask(p, 0.10)
        out["top_decile_lift"] = float(y[top].mean() / y.mean())
        out["recall_at_capacity"] = float(y[top_fraction_mask(p, capacity)].sum() / y.sum())
    if len(y):
        out["log_loss"] = float(log_loss(y, p, labels=[0, 1]))
        out["brier"] = float(brier_score_loss(y, p))
        out["ece"] = expected_calibration_error(y, p)
    return out


def metrics_by_group(y: np.ndarray, p: np.ndarray, groups: pd.Series, capacity: float = 0.10) -> dict[str, dict[str, float]]:
    """The same metrics within each group (e.g. lifecycle stage)."""
    groups = pd.Series(np.asarray(groups), dtype="str")
    return {
        str(g): classification_metrics(np.asarray(y)[idx], np.asarray(p)[idx], capacity)
        for g, idx in groups.groupby(groups, sort=True).indices.items()
    }


def lift_curve(y: np.ndarray, p: np.ndarray, points: int = 50) -> pd.DataFrame:
    """Cumulative share of churners captured against share of customers contacted, highest risk first."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(p), kind="stable")
    captured = np.cumsum(y[order]) / max(y.sum(), 1.0)
    share = np.arange(1, len(y) + 1) / max(len(y), 1)
    idx = np.unique(np.linspace(0, len(y) - 1, min(points, len(y))).astype(int))
    return pd.DataFrame({"contacted": share[idx], "captured": captured[idx]})
