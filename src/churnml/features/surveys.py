"""Satisfaction surveys: the latest score, the lowest and the change since the previous one (service)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import FeatureConfig
from churnml.dataset import as_timestamp
from churnml.features._common import events_before, frame_of, group_bounds


def survey_features(
    surveys: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, cfg: FeatureConfig
) -> pd.DataFrame:
    """Scores of surveys answered in the ``survey_window_days`` before ``as_of``; NaN where there are none.

    ``survey_score_change`` is the latest score minus the one before it (NaN with fewer than two).
    """
    t = as_timestamp(as_of)
    ev = events_before(surveys, "timestamp", customers, t, max_age_days=cfg.survey_window_days)
    n = len(customers)
    score = ev.column(surveys, "score")
    last = np.full(n, np.nan)
    change = np.full(n, np.nan)
    if len(ev.codes):
        # Oldest first per customer; equal timestamps are ordered by score so that row order never matters.
        order = np.lexsort((score, -ev.age, ev.codes))
        codes, ordered = ev.codes[order], score[order]
        firsts, lasts = group_bounds(codes)
        last[codes[lasts]] = ordered[lasts]
        two = lasts > firsts
        change[codes[lasts[two]]] = ordered[lasts[two]] - ordered[lasts[two] - 1]
    return frame_of(
        customers,
        {
            "survey_last_score": last,
            "survey_lowest_score": ev.minimum(score),
            "survey_score_change": change,
            "survey_count": ev.count(),
        },
    )
