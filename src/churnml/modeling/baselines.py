"""Baselines the model must beat, fitted on the same training rows and features."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def _split_columns(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return [c for c in X.columns if c not in categorical], categorical


class LogisticBaseline:
    """L2-regularised logistic regression: median-imputed, standardised numbers and one-hot categories.

    Fitted on at most ``max_rows`` training rows (a stratified-by-chance sample) to keep retraining fast.
    """

    def __init__(self, C: float = 1.0, max_rows: int = 200_000, seed: int = 0):
        self.C = C
        self.max_rows = max_rows
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticBaseline:
        y = np.asarray(y)
        if len(X) > self.max_rows:
            idx = np.random.default_rng(self.seed).choice(len(X), self.max_rows, replace=False)
            X, y = X.iloc[np.sort(idx)], y[np.sort(idx)]
        numeric, categorical = _split_columns(X)
        # Columns that are entirely missing in training carry nothing and break the imputer.
        numeric = [c for c in numeric if X[c].notna().any()]
        transform = ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), numeric),
                ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", min_frequency=20)), categorical),
            ]
        )
        self.pipeline_ = make_pipeline(transform, LogisticRegression(C=self.C, max_iter=2000))
        self.pipeline_.fit(self._objects(X), y)
        return self

    @staticmethod
    def _objects(X: pd.DataFrame) -> pd.DataFrame:
        # scikit-learn's imputers want object categories with NaN for missing values.
        out = X.copy()
        for c in out.columns:
            if isinstance(out[c].dtype, pd.CategoricalDtype):
                out[c] = out[c].astype(object).where(out[c].notna(), np.nan)
        return out

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(self._objects(X))[:, 1]


class OneFeatureRule:
    """The single numeric feature that ranks churners best on the training rows, in its better direction.

    Scores are the feature's value (missing values rank lowest); calibrate them before reading them as probabilities.
    """

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> OneFeatureRule:
        numeric, _ = _split_columns(X)
        y = np.asarray(y)
        best, best_auc, best_sign = None, 0.5, 1.0
        for c in numeric:  # a loop over columns, each scored vectorised
            v = X[c].to_numpy(dtype=float)
            if np.all(np.isnan(v)) or np.nanstd(v) == 0:
                continue
            auc = roc_auc_score(y, np.nan_to_num(v, nan=np.nanmin(v) - 1))
            if max(auc, 1 - auc) > best_auc:
                best, best_auc, best_sign = c, max(auc, 1 - auc), (1.0 if auc >= 0.5 else -1.0)
        if best is None:
            raise ValueError("no numeric feature separates churners at all; the rule baseline cannot be fitted")
        self.feature_, self.sign_, self.train_auc_ = best, best_sign, best_auc
        self.fill_ = float(np.nanmin(X[best].to_numpy(dtype=float) * best_sign)) - 1.0
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:
        v = X[self.feature_].to_numpy(dtype=float) * self.sign_
        return np.nan_to_num(v, nan=self.fill_)
