"""Honest evaluation: ranking, probability and business metrics, overall and by lifecycle stage."""

from __future__ import annotations

from typing import Any

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


CAUSES_ORDER = ("price", "service", "other")


def _upcoming_churns(truth: pd.DataFrame, as_of: pd.Timestamp, horizon_days: int) -> pd.DataFrame:
    """Each customer's first churn in (T, T + H] with its planted cause."""
    end = as_of + pd.Timedelta(days=horizon_days)
    upcoming = truth[(truth["churn_date"] > as_of) & (truth["churn_date"] <= end)]
    return upcoming.sort_values(["churn_date", "customer_id"]).drop_duplicates("customer_id")[["customer_id", "cause"]]


def evaluate_at(
    scores: pd.DataFrame, truth: pd.DataFrame, oracle: pd.DataFrame, as_of: pd.Timestamp | str, horizon_days: int
) -> dict[str, object]:
    """How the scores file for T compares with the generator's truth: risk, calibration and cause, at T itself.

    ``scores`` is the scores frame of :func:`churnml.pipeline.score`; ``truth`` and ``oracle`` are
    the generator's (``truth.csv``, ``oracle.parquet``). Risk: ROC-AUC of the model and of the oracle on the
    customers scored at T, ECE and mean predicted against observed churn in (T, T + H]. Cause, on the flagged
    customers who truly leave within the horizon: accuracy of ``primary_cause`` against the planted cause beside
    the accuracy of the oracle's own cause at T (``oracle_cause``, the ceiling of what was knowable), recall per
    cause for both, and the cause mix of every flagged customer against the oracle's mix on the same customers.
    """
    t = pd.Timestamp(as_of)
    upcoming = _upcoming_churns(truth, t, horizon_days)
    at_t = oracle.loc[oracle["as_of_date"] == t, ["customer_id", "oracle_probability", "oracle_cause"]]
    frame = scores[["customer_id", "churn_probability", "flagged", "primary_cause"]].merge(
        at_t, on="customer_id", how="left"
    )
    frame = frame.merge(upcoming, on="customer_id", how="left")
    y = frame["cause"].notna().to_numpy(dtype=int)
    p = frame["churn_probability"].to_numpy(dtype=float)
    risk = classification_metrics(y, p)
    have = frame["oracle_probability"].notna().to_numpy()
    oracle_auc = float(roc_auc_score(y[have], frame["oracle_probability"].to_numpy()[have])) if have.any() else float("nan")
    out: dict[str, Any] = {
        "as_of": str(t.date()),
        "customers": len(frame),
        "churners": int(y.sum()),
        "roc_auc": risk["roc_auc"],
        "oracle_roc_auc": oracle_auc,
        "auc_ratio": risk["roc_auc"] / oracle_auc if oracle_auc == oracle_auc else float("nan"),
        "ece": risk["ece"],
        "mean_predicted": float(p.mean()) if len(p) else float("nan"),
        "observed": float(y.mean()) if len(y) else float("nan"),
    }
    out["mean_gap_share"] = abs(out["mean_predicted"] - out["observed"]) / out["observed"] if out["observed"] else float("nan")

    flagged = frame[frame["flagged"].to_numpy(dtype=bool)]
    leavers = flagged[flagged["cause"].notna() & flagged["oracle_cause"].notna()]
    model_hit = leavers["primary_cause"] == leavers["cause"]
    oracle_hit = leavers["oracle_cause"] == leavers["cause"]
    accuracy = float(model_hit.mean()) if len(leavers) else float("nan")
    oracle_accuracy = float(oracle_hit.mean()) if len(leavers) else float("nan")
    out.update(
        flagged=len(flagged),
        flagged_leavers=len(leavers),
        cause_accuracy=accuracy,
        oracle_cause_accuracy=oracle_accuracy,
        cause_accuracy_ratio=accuracy / oracle_accuracy if oracle_accuracy else float("nan"),
    )
    for cause in CAUSES_ORDER:
        planted = leavers["cause"] == cause
        n = int(planted.sum())
        out[f"{cause}_leavers"] = n
        out[f"{cause}_recall"] = float(model_hit[planted].mean()) if n else float("nan")
        out[f"{cause}_oracle_recall"] = float(oracle_hit[planted].mean()) if n else float("nan")
        known = flagged["oracle_cause"].notna()
        out[f"{cause}_share"] = float((flagged["primary_cause"] == cause).mean()) if len(flagged) else float("nan")
        out[f"{cause}_oracle_share"] = float((flagged.loc[known, "oracle_cause"] == cause).mean()) if known.any() else float("nan")
    return out
