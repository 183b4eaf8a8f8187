"""Satisfaction surveys: the latest score, the lowest and the change since the previous one (service)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features._common import events_before, frame_of, group_bounds
from churnml.features.spec import (
    COUNT,
    INF,
    LOWER,
    NO_EVENT,
    Builder,
    FeatureSpec,
)


def survey_features(
    surveys: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, cfg: FeatureConfig,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Scores of surveys answered in the ``survey_window_days`` before ``as_of``; NaN where there are none.

    ``survey_score_change`` is the latest score minus the one before it (NaN with fewer than two).
    """
    t = as_timestamp(as_of)
    ev = events_before(surveys, "timestamp", customers, t, max_age_days=cfg.survey_window_days, positions=positions)
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


# ---------------------------------------------------------------------------------------------- declarations


def survey_specs(config: ChurnConfig) -> list[FeatureSpec]:
    s, src = Family.SERVICE, "surveys"
    none = "no recent survey answer"
    within = f"in the last {config.features.survey_window_days} days"
    # Satisfied is 7 and up (passives and promoters on the usual 0..10 scale); no answer is no complaint.
    unhappy: dict[str, Any] = {"reference": NO_EVENT, "hurts": LOWER, "neutral": (7.0, INF)}
    return [
        FeatureSpec(
            "survey_last_score",
            s,
            "last survey score {value}/10",
            src,
            missing=none,
            label="last survey score (of 10)",
            **unhappy,
        ),
        FeatureSpec(
            "survey_lowest_score",
            s,
            f"lowest survey score {{value}}/10 {within}",
            src,
            missing=none,
            label=f"lowest survey score (of 10, last {config.features.survey_window_days} days)",
            **unhappy,
        ),
        FeatureSpec(
            "survey_score_change",
            s,
            "survey score {up_down} {abs} point{s} since the previous survey",
            src,
            missing="no earlier survey to compare with",
            zero="survey score unchanged since the previous survey",
            reference=NO_EVENT,
            hurts=LOWER,
            neutral=(0.0, INF),
            label="survey score change since the previous survey",
        ),
        FeatureSpec("survey_count", s, f"{{value}} survey{{s}} answered {within}", src, COUNT),
    ]


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return survey_features(data.surveys, customers, t, config.features, data.positions("surveys", customers))


BUILDER = Builder("surveys", 80, _build, survey_specs)
