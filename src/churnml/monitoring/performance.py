"""How well tonight's scores will do, estimated before any outcome is known (confidence-based performance
estimation): with calibrated probabilities, each customer leaves with their probability, so the expected number
of leavers, the expected precision of the flagged and the expected ROC-AUC follow from the probabilities alone.
They hold as long as the calibration does, which the realised figures of past runs check (``churnml backtest``).
"""

from __future__ import annotations

import numpy as np


def expected_auc(p: np.ndarray) -> float:
    """Expected ROC-AUC of ranking by ``p`` when each customer leaves with probability ``p``: the expected number
    of (leaver, stayer) pairs ranked right, ties counting half, over the expected number of such pairs (the ratio
    of expectations, as confidence-based estimation takes it). NaN with fewer than two customers."""
    p = np.asarray(p, dtype=float)
    if len(p) < 2:
        return float("nan")
    values, inverse = np.unique(p, return_inverse=True)  # groups of tied scores, ascending
    leave = np.bincount(inverse, weights=p, minlength=len(values))
    stay = np.bincount(inverse, weights=1.0 - p, minlength=len(values))
    self_pairs = np.bincount(inverse, weights=p * (1.0 - p), minlength=len(values))
    stay_below = np.concatenate([[0.0], np.cumsum(stay)[:-1]])
    right = np.sum(leave * stay_below) + 0.5 * np.sum(leave * stay - self_pairs)
    pairs = leave.sum() * stay.sum() - self_pairs.sum()
    return float(right / pairs) if pairs > 0 else float("nan")


def expected_performance(p: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Expected leavers, rate, ROC-AUC and precision of the flagged, from calibrated probabilities alone."""
    p = np.asarray(p, dtype=float)
    flagged = np.asarray(flagged, dtype=bool)
    return {
        "expected_churners": float(p.sum()),
        "expected_churn_rate": float(p.mean()) if len(p) else float("nan"),
        "expected_roc_auc": expected_auc(p),
        "expected_precision_flagged": float(p[flagged].mean()) if flagged.any() else float("nan"),
        "expected_churners_flagged": float(p[flagged].sum()),
    }
