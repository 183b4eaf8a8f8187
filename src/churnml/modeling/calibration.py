"""Probability calibration stored as plain numbers, so a model bundle never needs pickle.

Fit on held-out predictions only (never the rows the booster trained on); apply at score time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

_CANDIDATES = ("identity", "sigmoid", "isotonic")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class Calibrator:
    """Maps raw model probabilities to calibrated ones.

    ``method="isotonic"`` learns a monotone step function (stored as its knots); ``"sigmoid"`` learns Platt
    scaling on the logit (stored as slope and intercept); ``"auto"`` picks among identity, sigmoid and isotonic
    by ``folds``-fold cross-validated log loss on the rows it is given (``cv_log_loss_``) and fits the winner on
    all of them: a booster trained on log loss is often calibrated already, and on a small held-out set a fitted
    map can add more noise than it removes. Learned state ends in ``_``.
    """

    def __init__(self, method: str = "isotonic", min_samples: int = 200, min_bin: int = 50, folds: int = 5):
        self.method = method
        self.min_samples = min_samples
        self.min_bin = min_bin
        self.folds = folds

    def fit(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=int)
        if len(raw) != len(y) or len(raw) == 0:
            raise ValueError("calibration needs as many labels as predictions, and at least one")
        self.n_samples_ = len(raw)
        # Too few held-out rows or a single class: an identity map is more honest than a fitted one.
        if len(raw) < self.min_samples or len(np.unique(y)) < 2:
            self.method_ = "identity"
            return self
        method = self._select(raw, y) if self.method == "auto" else self.method
        self._fit_method(method, raw, y)
        return self

    def _select(self, raw: np.ndarray, y: np.ndarray) -> str:
        """The candidate with the lowest out-of-fold log loss (ties: the simpler one, in candidate order)."""
        from sklearn.model_selection import StratifiedKFold

        folds = min(self.folds, int(np.bincount(y).min()))
        if folds < 2:
            self.cv_log_loss_ = {}
            return "identity"
        losses = {m: 0.0 for m in _CANDIDATES}
        # Fixed shuffling seed: the same held-out rows always choose the same calibrator.
        for fit_idx, eval_idx in StratifiedKFold(folds, shuffle=True, random_state=0).split(raw, y):
            for m in _CANDIDATES:
                cal = Calibrator(m, min_samples=0, min_bin=self.min_bin)._fit_method(m, raw[fit_idx], y[fit_idx])
                losses[m] += _log_loss(y[eval_idx], cal.transform(raw[eval_idx])) * len(eval_idx)
        self.cv_log_loss_ = {m: v / len(raw) for m, v in losses.items()}
        return min(_CANDIDATES, key=lambda m: self.cv_log_loss_[m])

    def _fit_method(self, method: str, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        self.method_ = method
        if method == "identity":
            pass
        elif method == "isotonic":
            # Fit on pooled quantile bins of at least `min_bin` rows: a handful of top scores that all churned
            # would otherwise become a step to probability 1.0.
            order = np.argsort(raw, kind="stable")
            n_bins = max(1, len(raw) // self.min_bin)
            bin_of = np.arange(len(raw)) * n_bins // len(raw)
            weight = np.bincount(bin_of, minlength=n_bins).astype(float)
            centre = np.bincount(bin_of, weights=raw[order], minlength=n_bins) / weight
            rate = np.bincount(bin_of, weights=y[order], minlength=n_bins) / weight
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True).fit(centre, rate, sample_weight=weight)
            self.x_ = np.asarray(iso.X_thresholds_, dtype=float)
            self.y_ = np.asarray(iso.y_thresholds_, dtype=float)
        elif method == "sigmoid":
            lr = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
            self.slope_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
            if not (0 < self.slope_ <= 1e6 and abs(self.intercept_) <= 1e6):
                # Scores that rank backwards (or not at all) on these rows: keep them as they are, never invert.
                self.method_ = "identity"
        else:
            raise ValueError(f"unknown calibration method {method!r}; use auto, isotonic or sigmoid")
        return self

    level_shift_ = 0.0

    def relevel(self, raw: np.ndarray, y: np.ndarray) -> Calibrator:
        """Shift the calibrated log-odds by one constant so that the mean calibrated probability of ``raw`` equals
        the churn rate of ``y`` (``level_shift_``): the shape comes from the tuning rows, the level from as many
        months of labelled history as there are, so one unusual tuning month does not set every probability."""
        raw, y = np.asarray(raw, dtype=float), np.asarray(y, dtype=float)
        self.level_shift_ = 0.0
        target = float(y.mean()) if len(y) else float("nan")
        if not 0.0 < target < 1.0:
            return self
        base = _logit(self.transform(raw))
        lo, hi = -5.0, 5.0
        for _ in range(60):  # bisection: the mean is increasing in the shift
            mid = (lo + hi) / 2
            if np.mean(1.0 / (1.0 + np.exp(-(base + mid)))) < target:
                lo = mid
            else:
                hi = mid
        self.level_shift_ = float((lo + hi) / 2)
        return self

    def transform(self, raw: np.ndarray) -> np.ndarray:
        p = self._shape(np.asarray(raw, dtype=float))
        shift = getattr(self, "level_shift_", 0.0)
        return p if shift == 0.0 else 1.0 / (1.0 + np.exp(-(_logit(p) + shift)))

    def _shape(self, raw: np.ndarray) -> np.ndarray:
        if self.method_ == "identity":
            return raw.copy()
        if self.method_ == "isotonic":
            # Small slopes between knots keep ranks among tied steps close to the raw ranking.
            return np.interp(raw, self.x_, self.y_)
        return 1.0 / (1.0 + np.exp(-(self.slope_ * _logit(raw) + self.intercept_)))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method_, "n_samples": self.n_samples_}
        if getattr(self, "cv_log_loss_", None):
            data["cv_log_loss"] = dict(self.cv_log_loss_)
        if getattr(self, "level_shift_", 0.0):
            data["level_shift"] = self.level_shift_
        if self.method_ == "isotonic":
            data.update(x=self.x_.tolist(), y=self.y_.tolist())
        elif self.method_ == "sigmoid":
            data.update(slope=self.slope_, intercept=self.intercept_)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        method = data["method"]
        cal = cls(method="isotonic" if method == "identity" else method)
        cal.method_, cal.n_samples_ = method, int(data.get("n_samples", 0))
        cal.cv_log_loss_ = {str(k): float(v) for k, v in data.get("cv_log_loss", {}).items()}
        cal.level_shift_ = float(data.get("level_shift", 0.0))
        if not np.isfinite(cal.level_shift_):
            raise ValueError("calibrator level_shift must be a finite number")
        if method == "isotonic":
            cal.x_, cal.y_ = np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)
            if len(cal.x_) != len(cal.y_) or len(cal.x_) == 0 or np.any(np.diff(cal.x_) < 0):
                raise ValueError("isotonic calibrator knots must be paired and sorted")
            if not (np.all(np.isfinite(cal.x_)) and np.all((cal.y_ >= 0) & (cal.y_ <= 1)) and np.all(np.diff(cal.y_) >= 0)):
                raise ValueError("isotonic calibrator probabilities must be finite, within [0, 1] and non-decreasing")
        elif method == "sigmoid":
            cal.slope_, cal.intercept_ = float(data["slope"]), float(data["intercept"])
            # A fitted Platt map is increasing (fit falls back to identity otherwise); an infinite slope would turn
            # every score into 0 or 1.
            if not (np.isfinite(cal.slope_) and np.isfinite(cal.intercept_) and 0 < cal.slope_ <= 1e6 and abs(cal.intercept_) <= 1e6):
                raise ValueError("sigmoid calibrator slope must be in (0, 1e6] and its intercept finite")
        elif method != "identity":
            raise ValueError(f"unknown calibration method {method!r}")
        return cal


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean gap between predicted and observed churn over equal-count bins of the prediction."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(p) == 0:
        return float("nan")
    order = np.argsort(p, kind="stable")
    groups = np.array_split(order, min(bins, len(p)))
    return float(sum(len(g) * abs(p[g].mean() - y[g].mean()) for g in groups if len(g)) / len(p))


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Mean prediction and observed rate per equal-count bin: the data of a reliability plot."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, max(len(p), 1))) if len(g)]
    return {
        "predicted": [float(p[g].mean()) for g in groups],
        "observed": [float(y[g].mean()) for g in groups],
        "count": [len(g) for g in groups],
    }
