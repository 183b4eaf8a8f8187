"""Plain-language reasons from the largest contributions, with each customer's own values."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from churnml.features import FeatureSpec, render_reason


def top_contributions(contributions: np.ndarray, k: int, *, positive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's ``k`` largest (or most negative) contributions, largest first.

    Rows with fewer than ``k`` contributions of the asked sign get index -1 in the empty places.
    """
    c = np.asarray(contributions, dtype=float)
    k = min(k, c.shape[1])
    signed = c if positive else -c
    idx = np.argsort(-signed, axis=1, kind="stable")[:, :k]
    vals = np.take_along_axis(c, idx, axis=1)
    idx = np.where((vals > 0) if positive else (vals < 0), idx, -1)
    return idx, vals


def choose_reasons(contributions: np.ndarray, candidates: np.ndarray, first: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` reasons: candidates in ``first`` (the primary cause's family) by
    contribution, largest first, then the other candidates; -1 where there are fewer than ``k``."""
    c = np.asarray(contributions, dtype=float)
    k = min(k, c.shape[1])
    # Rank by (in the cause's family, contribution): the family first, the largest contribution first within it.
    key = np.where(candidates, np.where(first, 1.0, 0.0) * (np.abs(c).max() + 1.0) * 2 + c, -np.inf)
    idx = np.argsort(-key, axis=1, kind="stable")[:, :k]
    return np.where(np.take_along_axis(candidates, idx, axis=1), idx, -1)


def render_reasons(
    idx: np.ndarray, features: pd.DataFrame, registry: Mapping[str, FeatureSpec]
) -> list[np.ndarray]:
    """Reason texts for chosen feature indices; one array per rank, empty string where there is none.

    Each distinct (feature, value) pair is rendered once: customers share few distinct values per feature.
    """
    names = list(features.columns)
    n = len(features)
    out = []
    for rank in range(idx.shape[1]):
        texts = np.full(n, "", dtype=object)
        col = idx[:, rank]
        for j in np.unique(col[col >= 0]):  # a loop over features, each vectorised over its rows
            rows = np.flatnonzero(col == j)
            spec = registry.get(names[j])
            values = features.iloc[rows, j]
            if spec is None:
                texts[rows] = names[j].replace("_", " ")
                continue
            codes, uniques = pd.factorize(values, use_na_sentinel=True)
            rendered = np.array([render_reason(spec, v) for v in uniques] + [render_reason(spec, None)], dtype=object)
            texts[rows] = rendered[np.where(codes < 0, len(uniques), codes)]
        out.append(texts)
    return out
