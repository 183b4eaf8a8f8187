"""The nightly scoring job as a pure function: dataset + bundle + T in, the scores frame of the contract out.

Two passes over customer chunks keep memory bounded by the chunk size, not the population:

1. every customer active at T: features, calibrated probability (a few numbers kept per customer);
2. rank, tier and flag the population, then only the flagged customers: features again (the builders are
   partition-safe, so a customer's features do not depend on which chunk they are in), TreeSHAP
   contributions, cause, reasons and remedy.

Only data known before T is used (:meth:`Dataset.known_at`), so rows dated after T cannot change the output.
"""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.explain.causes import attribute
from churnml.explain.playbook import recommend_actions
from churnml.explain.reasons import render_reasons
from churnml.features import build_features, feature_registry, population_context
from churnml.lifecycle import active_customers, lifecycle_stage
from churnml.modeling.bundle import ModelBundle

SCORE_COLUMNS = [
    "customer_id",
    "as_of_date",
    "churn_probability",
    "risk_rank",
    "risk_tier",
    "flagged",
    "lifecycle_stage",
    "primary_cause",
    "cause_share",
    "reason_1",
    "reason_2",
    "reason_3",
    "recommended_action",
    "model_version",
]
# Optional columns after the contract's, for analysts: how risk splits across the cause families.
EXTRA_COLUMNS = ["price_share", "service_share", "other_share"]
# ... and, for the CRM, satisfied low-risk customers worth a referral request (config `referral`).
REFERRAL_COLUMN = "referral_candidate"
_SURVEY_SCORE = "survey_last_score"


def referral_candidates(
    flagged: np.ndarray, tier: np.ndarray, survey_score: np.ndarray, config: ChurnConfig
) -> np.ndarray:
    """Not flagged, in an allowed risk tier, and a latest survey score of at least the configured minimum."""
    r = config.referral
    if not r.enabled:
        return np.zeros(len(flagged), dtype=bool)
    enthusiastic = np.nan_to_num(survey_score, nan=-1.0) >= r.min_survey_score  # no recent survey: not enthusiastic
    return ~flagged & np.isin(tier, r.risk_tiers) & enthusiastic


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@dataclass
class StageLog:
    """Wall time and peak memory of each stage, for the run manifest."""

    stages: dict[str, dict[str, float]] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        self.stages[name] = {"seconds": round(time.perf_counter() - started, 3), "peak_rss_mb": round(_peak_rss_mb(), 1)}


@dataclass
class ScoreResult:
    scores: pd.DataFrame
    log: StageLog
    explain_seconds: float = 0.0
    fit: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # ModelBundle.fit_counts over every active customer

    def fit_shares(self) -> dict[str, dict[str, float]]:
        """``fit`` as shares of the present values, per check and feature."""
        return {check: {name: (n / m if m else 0.0) for name, (n, m) in per.items()} for check, per in self.fit.items()}

    def counts(self) -> dict[str, Any]:
        s = self.scores
        flagged = s[s["flagged"]]
        return {
            "active_customers": int(len(s)),
            "flagged": int(len(flagged)),
            "by_tier": {k: int(v) for k, v in s["risk_tier"].value_counts().sort_index().items()},
            "by_stage": {k: int(v) for k, v in s["lifecycle_stage"].value_counts().sort_index().items()},
            "flagged_by_cause": {k: int(v) for k, v in flagged["primary_cause"].value_counts().sort_index().items()},
            "flagged_by_action": {k: int(v) for k, v in flagged["recommended_action"].value_counts().sort_index().items()},
            "referral_candidates": int(s[REFERRAL_COLUMN].sum()),
        }


def _chunks(dataset: Dataset, ids: pd.Index, size: int, progress: bool, label: str):
    parts = dataset.partitions(ids, size)
    if not progress:
        return parts
    from rich.progress import track

    return track(parts, description=label, total=max(1, -(-len(ids) // size)), transient=True)


def risk_tiers(p: np.ndarray, high: float, medium: float) -> np.ndarray:
    return np.where(p >= high, "high", np.where(p >= medium, "medium", "low"))


def flag(rank: np.ndarray, p: np.ndarray, config: ChurnConfig) -> np.ndarray:
    """Who is selected for action: the top fraction by rank, or everyone at or above the threshold."""
    f = config.flagging
    if f.top_fraction is not None:
        return rank <= int(np.ceil(f.top_fraction * len(rank)))
    return p >= f.probability_threshold


def score_dataset(
    dataset: Dataset, as_of: str | pd.Timestamp, bundle: ModelBundle, config: ChurnConfig, *, progress: bool = False
) -> ScoreResult:
    """Score every customer active at ``as_of``; explain and prescribe for the flagged ones."""
    t = as_timestamp(as_of)
    log = StageLog()
    with log.stage("point_in_time"):
        known = dataset.known_at(t)
        context = population_context(known, t, config)
        active = active_customers(known.subscriptions, t)
        stage = lifecycle_stage(known.subscriptions, t, config.labels).reindex(active)
    size = config.scoring.chunk_customers

    with log.stage("features_and_scores"):
        probs, surveys = [], []
        fit: dict[str, dict[str, list[int]]] = {}
        for _, part in _chunks(known, active, size, progress, "scoring"):
            features = build_features(part, t, config, context)
            X = bundle.prepare(features)
            for check, per in bundle.fit_counts(features, X).items():
                totals = fit.setdefault(check, {})
                for name, (n, m) in per.items():
                    pair = totals.setdefault(name, [0, 0])
                    pair[0] += n
                    pair[1] += m
            probs.append(pd.Series(bundle.calibrator.transform(bundle.predict_raw(X)), index=features.index))
            surveys.append(features[_SURVEY_SCORE].astype(float))
        p = pd.concat(probs).reindex(active).to_numpy() if probs else np.array([], dtype=float)
        survey = pd.concat(surveys).reindex(active).to_numpy() if surveys else np.array([], dtype=float)

    with log.stage("rank_and_flag"):
        # Highest risk first; equal probabilities keep customer-id order, so reruns give identical ranks.
        order = np.lexsort((np.arange(len(active)), -p))
        rank = np.empty(len(active), dtype=np.int64)
        rank[order] = np.arange(1, len(active) + 1)
        flagged = flag(rank, p, config)
        tier = risk_tiers(p, config.flagging.tiers.high, config.flagging.tiers.medium)
        scores = pd.DataFrame(
            {
                "customer_id": active.to_numpy(),
                "as_of_date": str(t.date()),
                "churn_probability": p,
                "risk_rank": rank,
                "risk_tier": tier,
                "flagged": flagged,
                "lifecycle_stage": stage.to_numpy(),
            }
        )
        for col in ("primary_cause", "reason_1", "reason_2", "reason_3"):
            scores[col] = ""
        scores["cause_share"] = np.nan
        scores["recommended_action"] = "none"
        for col in EXTRA_COLUMNS:
            scores[col] = np.nan
        scores[REFERRAL_COLUMN] = referral_candidates(flagged, tier, survey, config)

    explain_seconds = 0.0
    with log.stage("explain_flagged"):
        registry = feature_registry(config, dict(known.customers.drop(columns="customer_id").dtypes))
        flagged_ids = active[flagged]
        pos = pd.Series(np.arange(len(active)), index=active)
        for ids, part in _chunks(known, flagged_ids, size, progress, "explaining"):
            features = build_features(part, t, config, context)
            if features.empty:  # nobody flagged in this chunk
                continue
            started = time.perf_counter()
            why = attribute(features, bundle, registry, config)
            explain_seconds += time.perf_counter() - started
            causes = why.causes
            reasons = render_reasons(why.reasons, features[bundle.feature_names], registry)
            rows = pos.reindex(features.index).to_numpy()
            price = features["monthly_price"].to_numpy(dtype=float) if "monthly_price" in features else np.zeros(len(rows))
            actions = recommend_actions(causes, scores["lifecycle_stage"].to_numpy()[rows], p[rows], price, config.playbook, config.cause)
            scores.loc[rows, "primary_cause"] = causes["primary_cause"].to_numpy()
            scores.loc[rows, "cause_share"] = causes["cause_share"].to_numpy()
            for col in EXTRA_COLUMNS:
                scores.loc[rows, col] = causes[col].to_numpy()
            for k, texts in enumerate(reasons, start=1):
                scores.loc[rows, f"reason_{k}"] = texts
            scores.loc[rows, "recommended_action"] = actions

    scores["model_version"] = bundle.version
    scores = scores.sort_values("risk_rank", kind="stable").reset_index(drop=True)
    return ScoreResult(scores[SCORE_COLUMNS + EXTRA_COLUMNS + [REFERRAL_COLUMN]], log, explain_seconds, fit)


def format_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores frame as the CSV shows it: 4-decimal probabilities, true/false flags, empty for not flagged."""
    out = scores.copy()
    out["churn_probability"] = np.char.mod("%.4f", out["churn_probability"].to_numpy(dtype=float))
    out["flagged"] = np.where(out["flagged"], "true", "false")
    if REFERRAL_COLUMN in out:
        out[REFERRAL_COLUMN] = np.where(out[REFERRAL_COLUMN].to_numpy(dtype=bool), "true", "false")
    for col in ["cause_share", *EXTRA_COLUMNS]:
        out[col] = decimals_or_empty(out[col].to_numpy(dtype=float), "%.4f")
    return out


def decimals_or_empty(values: np.ndarray, fmt: str) -> np.ndarray:
    """Numbers as fixed-decimal text (``fmt``), missing values as empty text."""
    return np.where(np.isnan(values), "", np.char.mod(fmt, np.nan_to_num(values)))
