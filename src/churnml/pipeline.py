"""One function per stage, the only way the CLI, the notebooks and the scale-out engines run churnml.

Every stage takes canonical frames (a :class:`~churnml.dataset.Dataset`), typed configuration and a model bundle,
and returns frames and what its run manifest records; none reads or writes a file (that is :mod:`churnml.io`
and the CLI). Each applies the point-in-time rule itself: nothing dated at or after ``as_of`` reaches its output.

=================  ==================================================================================
:func:`validate`    raw tables as read -> canonical dataset, rejects with reasons, counts
:func:`build_features`  dataset, T -> one feature vector per active customer
:func:`train`       dataset, T -> churn model (+ win-back return model) evaluated out of time
:func:`score`       dataset, T, bundle -> the scores frame: probability, rank, tier, flag, cause, reasons, action
:func:`explain`     dataset, T, bundle, ids -> every contribution of the chosen customers
:func:`winback`     dataset, T, bundle -> the win-back list: cause at churn, return chance, value, action
:func:`report_inputs`  scores frame and its run -> what the analysts' report shows
=================  ==================================================================================

Memory follows ``scoring.chunk_customers``, not the population: stages that touch every customer work through
customer chunks, each with the population-wide context computed once.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from churnml import features as _features
from churnml.config import ChurnConfig, Family, WinbackAction
from churnml.dataset import Dataset, as_timestamp
from churnml.decisions import flag, rank_by_risk, recommend_actions, referral_candidates, risk_tiers, winback_actions
from churnml.errors import InputError
from churnml.explain import attribute, explain_customers, render_reasons
from churnml.features import PopulationContext, feature_registry, population_context
from churnml.labels import training_snapshots
from churnml.lifecycle import active_customers, lifecycle_stage
from churnml.modeling.bundle import ModelBundle
from churnml.modeling.train import TrainingResult, train_model
from churnml.modeling.winback import (
    WinbackModel,
    attach_winback,
    churned_in_window,
    features_at_churn,
    return_features,
    train_winback,
    winback_model,
)
from churnml.report.gather import gather_report_inputs
from churnml.schemas import OUTPUTS
from churnml.validation import validate_dataset

__all__ = [
    "ScoreResult",
    "StageLog",
    "Training",
    "WinbackResult",
    "build_features",
    "explain",
    "report_inputs",
    "score",
    "train",
    "validate",
    "winback",
]

_SURVEY_SCORE = "survey_last_score"
_FAMILY_SHARES = ("price_share", "service_share", "other_share")


# ------------------------------------------------------------------------------------------------ bookkeeping


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


def _chunks(dataset: Dataset, ids: pd.Index, size: int, progress: bool, label: str):
    parts = dataset.partitions(ids, size)
    if not progress:
        return parts
    from rich.progress import track

    return track(parts, description=label, total=max(1, -(-len(ids) // size)), transient=True)


@contextmanager
def _status(text: str, progress: bool) -> Iterator[None]:
    """A spinner on stderr while a step without a progress bar runs (only with ``progress``)."""
    if not progress:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


def _registry(known: Dataset, config: ChurnConfig):
    return feature_registry(config, dict(known.customers.drop(columns="customer_id").dtypes))


# --------------------------------------------------------------------------------------------------- validate


# Checks every table as read (:func:`churnml.io.read_raw_tables`) and the rules across tables; rejected rows keep their
# source line and reason, and accepted + rejected = read for every table.
validate = validate_dataset


# --------------------------------------------------------------------------------------------------- features


def build_features(dataset: Dataset, as_of: str | pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    """The point-in-time feature vector of every customer active at ``as_of``, built chunk by chunk."""
    t = as_timestamp(as_of)
    known = dataset.known_at(t)
    context = population_context(known, t, config)
    active = active_customers(known.subscriptions, t)
    frames = [_features.build_features(part, t, config, context) for _, part in known.partitions(active, config.scoring.chunk_customers)]
    return pd.concat(frames) if frames else _features.build_features(known, t, config, context)


# ------------------------------------------------------------------------------------------------------ train


@dataclass
class Training:
    """What :func:`train` learned: the churn model's result (its bundle holds the return model when one was
    learned), the cause family of every feature, and the training rows it used."""

    result: TrainingResult
    families: dict[str, Family]
    snapshot_rows: int
    snapshot_dates: int
    fingerprint: dict[str, Any]
    winback: WinbackModel | None = None
    winback_skipped: str | None = None  # why no return model was learned (too little history)
    example: pd.DataFrame | None = None  # a few training feature rows: the registered model's input example

    @property
    def bundle(self) -> ModelBundle:
        return self.result.bundle


def _unlabelled_churn_hint(dataset: Dataset, t: pd.Timestamp, config: ChurnConfig) -> str:
    """Why no snapshot holds a churner when the data has some: their end dates lie too close to or after ``t``
    (an imported one-day export records its churners after its reference date)."""
    ends = dataset.subscriptions["end_date"].dropna()
    if ends.empty:
        return "; no subscription in the data has an end date, so there is no churn to learn from"
    last = ends.max()
    if last <= t - pd.Timedelta(days=config.labels.horizon_days + config.labels.grace_days):
        return ""
    ready = (last + pd.Timedelta(days=config.labels.horizon_days + config.labels.grace_days)).date()
    return (f"; the data's end dates run to {last.date()}, and a churn is a label only once its horizon "
            f"({config.labels.horizon_days} days) and grace ({config.labels.grace_days} days) have passed: "
            f"train with --as-of {ready} or later to learn from all of them")


def train(
    dataset: Dataset,
    as_of: str | pd.Timestamp,
    config: ChurnConfig,
    *,
    oracle: pd.DataFrame | None = None,
    source: str = "the dataset",
    progress: bool = False,
) -> Training:
    """Train on everything knowable at ``as_of``: snapshots, out-of-time split, calibration, evaluation, and the
    win-back return model into the same bundle. ``source`` names the data in messages.

    Raises :class:`~churnml.errors.InputError` when the history is too short or one-sided to learn from.
    """
    t = as_timestamp(as_of)
    known = dataset.known_at(t)
    snapshots = training_snapshots(known, t, config, progress=progress)
    if snapshots.empty:
        raise InputError([
            f"{source}: no snapshot before {t.date()} has a fully known label (needs snapshot + "
            f"{config.labels.horizon_days} + {config.labels.grace_days} days <= as-of); use a later --as-of"
        ])
    families = {name: spec.family for name, spec in _registry(known, config).items()}
    # Attributes of customers first known after T are not data known at T: they must not change the bundle.
    seen = known.customers["customer_id"].isin(known.subscriptions["customer_id"])
    fingerprint = (known if seen.all() else replace(known, customers=known.customers[seen])).fingerprint()
    try:
        with _status(f"Training on {len(snapshots):,} snapshot rows…", progress):
            result = train_model(snapshots, config, families, as_of=t, oracle=oracle, data_fingerprint=fingerprint)
    except ValueError as exc:  # too little or one-sided history at this as-of: the data, not a bug
        raise InputError([f"{source}: cannot train at {t.date()}: {exc}{_unlabelled_churn_hint(dataset, t, config)}"]) from None
    training = Training(result, families, len(snapshots), int(snapshots["snapshot_date"].nunique()), fingerprint)
    training.example = snapshots[[f.name for f in result.bundle.features]].head(5).reset_index(drop=True)
    try:
        training.winback = train_winback(known, t, result.bundle, config, progress=progress)
    except ValueError as exc:
        result.bundle.meta["winback"] = {"not_trained": str(exc)}
        training.winback_skipped = str(exc)
    else:
        attach_winback(result.bundle, training.winback)
    return training


# ------------------------------------------------------------------------------------------------------ score


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
            "active_customers": len(s),
            "flagged": len(flagged),
            "by_tier": {k: int(v) for k, v in s["risk_tier"].value_counts().sort_index().items()},
            "by_stage": {k: int(v) for k, v in s["lifecycle_stage"].value_counts().sort_index().items()},
            "flagged_by_cause": {k: int(v) for k, v in flagged["primary_cause"].value_counts().sort_index().items()},
            "flagged_by_action": {k: int(v) for k, v in flagged["recommended_action"].value_counts().sort_index().items()},
            "referral_candidates": int(s["referral_candidate"].sum()),
        }


def _probabilities(known: Dataset, active: pd.Index, t: pd.Timestamp, bundle: ModelBundle, config: ChurnConfig,
                   context: PopulationContext, progress: bool) -> tuple[np.ndarray, np.ndarray, dict]:
    """Pass 1, every active customer: calibrated probability, latest survey score and the model-fit counts."""
    probs, surveys = [], []
    fit: dict[str, dict[str, list[int]]] = {}
    for _, part in _chunks(known, active, config.scoring.chunk_customers, progress, "scoring"):
        features = _features.build_features(part, t, config, context)
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
    return p, survey, fit


def score(
    dataset: Dataset, as_of: str | pd.Timestamp, bundle: ModelBundle, config: ChurnConfig, *, progress: bool = False
) -> ScoreResult:
    """The nightly job: score every customer active at ``as_of``; explain and prescribe for the flagged ones.

    Two passes over customer chunks keep memory bounded by the chunk size: every active customer gets features
    and a calibrated probability; after ranking and flagging the population, only the flagged get features again
    (the builders are partition-safe), TreeSHAP contributions, cause, reasons and action.
    """
    t = as_timestamp(as_of)
    log = StageLog()
    with log.stage("point_in_time"):
        known = dataset.known_at(t)
        context = population_context(known, t, config)
        active = active_customers(known.subscriptions, t)
        stage = lifecycle_stage(known.subscriptions, t, config.labels).reindex(active)

    with log.stage("features_and_scores"):
        p, survey, fit = _probabilities(known, active, t, bundle, config, context, progress)

    with log.stage("rank_and_flag"):
        rank = rank_by_risk(p)
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
        for col in _FAMILY_SHARES:
            scores[col] = np.nan
        scores["referral_candidate"] = referral_candidates(flagged, tier, survey, config)

    explain_seconds = 0.0
    with log.stage("explain_flagged"):
        registry = _registry(known, config)
        pos = pd.Series(np.arange(len(active)), index=active)
        for _, part in _chunks(known, active[flagged], config.scoring.chunk_customers, progress, "explaining"):
            features = _features.build_features(part, t, config, context)
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
            for col in ("primary_cause", "cause_share", *_FAMILY_SHARES):
                scores.loc[rows, col] = causes[col].to_numpy()
            for k, texts in enumerate(reasons, start=1):
                scores.loc[rows, f"reason_{k}"] = texts
            scores.loc[rows, "recommended_action"] = actions

    scores["model_version"] = bundle.version
    scores = scores.sort_values("risk_rank", kind="stable").reset_index(drop=True)
    return ScoreResult(scores[OUTPUTS["scores"].columns], log, explain_seconds, fit)


# ---------------------------------------------------------------------------------------------------- explain


# Probability, tier, stage, cause, action and every contribution of chosen active customers, equal to what the
# nightly job computed for them.
explain = explain_customers


# ---------------------------------------------------------------------------------------------------- winback


@dataclass
class WinbackResult:
    table: pd.DataFrame
    counts: dict[str, Any]


def winback(
    dataset: Dataset,
    as_of: str | pd.Timestamp,
    bundle: ModelBundle,
    config: ChurnConfig,
    *,
    model: WinbackModel | None = None,
    progress: bool = False,
) -> WinbackResult:
    """The win-back list (contract section 4) as a frame, sorted by expected value (ties by customer id).

    ``model`` is the bundle's return model (:func:`churnml.modeling.winback.winback_model`) unless given.
    """
    t = as_timestamp(as_of)
    model = model or winback_model(bundle)
    known = dataset.known_at(t)
    w = config.winback
    who = churned_in_window(known.subscriptions, t, config)
    table = who.assign(as_of_date=str(t.date()))
    n = len(who)
    for col in ("cause_at_churn", "reason_1", "reason_2", "reason_3"):
        table[col] = ""
    table["cause_share"] = np.nan
    if n:
        features = features_at_churn(known, who, config, progress=progress)
        features.index = pd.Index(who["customer_id"].to_numpy(), name="customer_id")
        registry = _registry(known, config)
        why = attribute(features, bundle, registry, config)
        reasons = render_reasons(why.reasons, features[bundle.feature_names], registry)
        table["cause_at_churn"] = why.causes["primary_cause"].to_numpy()
        table["cause_share"] = why.causes["cause_share"].to_numpy()
        for k, texts in enumerate(reasons, start=1):
            table[f"reason_{k}"] = texts
        p = model.returns.predict(return_features(known, who, bundle, config, progress=progress))
        price = features["monthly_price"].to_numpy(dtype=float) if "monthly_price" in features else np.full(n, np.nan)
    else:
        p = price = np.zeros(0)
    months = model.expected_months
    margin = np.nan_to_num(price, nan=0.0) * w.margin_share
    cost = w.cost_multiple * w.acquisition_cost
    value = p * months * margin - cost
    table["return_probability"] = p
    table["expected_months"] = months
    table["expected_value"] = value
    table["monthly_margin"] = margin
    table["cost"] = cost
    action, reason = winback_actions(table["cause_at_churn"].to_numpy(dtype=object), value, w)
    table["recommended_action"] = action
    table["action_reason"] = reason
    table["model_version"] = bundle.version
    order = np.lexsort((table["customer_id"].to_numpy(dtype=str), -np.round(value, 2)))
    table = table.iloc[order].reset_index(drop=True)[OUTPUTS["winback"].columns]
    acting = table["recommended_action"] != WinbackAction.NONE.value
    counts = {
        "listed": int(n),
        "by_cause": {k: int(v) for k, v in table["cause_at_churn"].value_counts().sort_index().items()},
        "by_action": {k: int(v) for k, v in table["recommended_action"].value_counts().sort_index().items()},
        "passing_gate": int(acting.sum()),
        "expected_value_of_actions": round(float(table.loc[acting, "expected_value"].sum()), 2),
        "expected_months": months,
    }
    return WinbackResult(table, counts)


# ----------------------------------------------------------------------------------------------------- report


# Everything the analysts' report shows for a scores frame and its run manifest.
report_inputs = gather_report_inputs
