"""Churn labels and the training table of stacked, fully labelled snapshots.

A label at T says whether an active customer's next churn date falls in (T, T + H]. It is fully known only once
T + H + G has passed (a return within the grace period could still cancel the churn), so training at ``as_of``
uses snapshots with T + H + G <= ``as_of`` and only data knowable at ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, LabelConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features import PopulationContext, build_features, population_context
from churnml.lifecycle import active_customers, churn_events, subscriptions_as_of

ContextFn = Callable[[Dataset, pd.Timestamp, ChurnConfig], PopulationContext]


def build_labels(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, labels_cfg: LabelConfig) -> pd.Series:
    """1 if the customer's next churn date is in (T, T + H], else 0, for every customer active at T.

    Reads the whole ``subscriptions`` given (labels look ahead); the caller decides what may be known.
    """
    t = as_timestamp(as_of)
    customers = active_customers(subscriptions, t)
    churns = churn_events(subscriptions, labels_cfg.grace_days)
    upcoming = churns[churns["churn_date"] > t].drop_duplicates("customer_id", keep="first")  # sorted: the next one
    soon = upcoming.loc[upcoming["churn_date"] <= t + pd.Timedelta(days=labels_cfg.horizon_days), "customer_id"]
    return pd.Series(customers.isin(soon).astype(np.int64), index=customers, name="label")


def snapshot_candidates(first_start: pd.Timestamp | None, as_of: str | pd.Timestamp, config: ChurnConfig) -> pd.DatetimeIndex:
    """Dates following ``config.snapshots.frequency`` from the first start date whose labels are fully known at
    ``as_of`` (T + H + G <= ``as_of``), oldest first."""
    t = as_timestamp(as_of)
    empty = pd.DatetimeIndex([], dtype="datetime64[ns]", name="snapshot_date")
    if first_start is None or pd.isna(first_start):
        return empty
    last = t - pd.Timedelta(days=config.labels.horizon_days + config.labels.grace_days)
    first = pd.Timestamp(first_start).normalize()
    if last < first:
        return empty
    return pd.date_range(first, last, freq=config.snapshots.frequency, name="snapshot_date").as_unit("ns")


def active_on(subscriptions: pd.DataFrame, dates: pd.DatetimeIndex) -> np.ndarray:
    """Whether any period covers each date: one vectorised check over periods per date (a handful of dates)."""
    start = subscriptions["start_date"].to_numpy(dtype="datetime64[ns]")
    end = subscriptions["end_date"].to_numpy(dtype="datetime64[ns]")
    open_ended = np.isnat(end)
    days = dates.as_unit("ns").to_numpy()
    return np.array([bool(((start <= day) & (open_ended | (end > day))).any()) for day in days], dtype=bool)


def pick_snapshot_dates(candidates: pd.DatetimeIndex, active: np.ndarray, config: ChurnConfig) -> pd.DatetimeIndex:
    """The latest ``max_snapshots`` candidates with at least one active customer, oldest first."""
    kept = candidates[np.asarray(active, dtype=bool)][-config.snapshots.max_snapshots :]
    return pd.DatetimeIndex(kept, name="snapshot_date").as_unit("ns")


def snapshot_dates(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, config: ChurnConfig) -> pd.DatetimeIndex:
    """Snapshot dates whose labels are fully known at ``as_of`` (T + H + G <= ``as_of``), oldest first.

    Dates follow ``config.snapshots.frequency`` from the first known start date; the latest ``max_snapshots`` of
    them with at least one active customer are kept.
    """
    subs = subscriptions_as_of(subscriptions, as_of)
    candidates = snapshot_candidates(subs["start_date"].min() if len(subs) else None, as_of, config)
    return pick_snapshot_dates(candidates, active_on(subs, candidates), config)


def snapshot_frames(
    known: Dataset, dates: pd.DatetimeIndex, config: ChurnConfig, contexts: Mapping[pd.Timestamp, PopulationContext], progress: bool = False
) -> list[pd.DataFrame]:
    """One training frame per snapshot date (features, ``lifecycle_stage``, ``label``) of the customers of
    ``known`` active then; ``contexts`` holds the whole population's context at each date."""
    frames = []
    for d in _track(dates, progress):
        features = build_features(known, d, config, contexts[d])
        labels = build_labels(known.subscriptions, d, config.labels)
        frame = features.reset_index()
        frame.insert(0, "snapshot_date", pd.Series(d, index=frame.index, dtype="datetime64[ns]"))
        frame["lifecycle_stage"] = _stage_from_flags(features).to_numpy()
        frame["label"] = labels.to_numpy()
        frames.append(frame)
    return frames


def stack_snapshots(frames: list[pd.DataFrame], known: Dataset, as_of: pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    """Snapshot frames (one per date, oldest first) as one table with the union of each category's levels."""
    if not frames:
        empty = build_features(known.for_customers([]), as_of, config).reset_index()
        empty.insert(0, "snapshot_date", pd.Series(dtype="datetime64[ns]"))
        empty["lifecycle_stage"] = pd.Series(dtype="str")
        empty["label"] = pd.Series(dtype="int64")
        return empty
    return pd.concat(_unify_categories(frames), ignore_index=True)


def training_snapshots(
    dataset: Dataset,
    as_of: str | pd.Timestamp,
    config: ChurnConfig,
    context_fn: ContextFn = population_context,
    progress: bool = False,
) -> pd.DataFrame:
    """The training table at ``as_of``: one row per snapshot date and customer active then.

    Columns: ``snapshot_date``, ``customer_id``, every feature, ``lifecycle_stage``, ``label``; sorted by snapshot
    then customer. Everything, labels included, comes from ``dataset.known_at(as_of)``; rows dated at or after
    ``as_of`` change nothing. ``context_fn`` computes each snapshot's :class:`PopulationContext`; category lists
    are unified across snapshots.
    """
    t = as_timestamp(as_of)
    known = dataset.known_at(t)
    dates = snapshot_dates(known.subscriptions, t, config)
    contexts = {d: context_fn(known, d, config) for d in dates}
    return stack_snapshots(snapshot_frames(known, dates, config, contexts, progress), known, t, config)


def _stage_from_flags(features: pd.DataFrame) -> pd.Series:
    """The lifecycle stage, read back from the ``is_won_back``/``is_new`` features (same definition)."""
    stage = np.where(features["is_won_back"] == 1, "won_back", np.where(features["is_new"] == 1, "new", "established"))
    return pd.Series(stage, index=features.index, name="lifecycle_stage", dtype="str")


def _unify_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Give every categorical column the sorted union of its categories, so that stacking keeps the dtype."""
    columns = [c for c in frames[0].columns if isinstance(frames[0][c].dtype, pd.CategoricalDtype)]
    out = frames
    for col in columns:
        union = sorted(set().union(*(f[col].cat.categories for f in frames)))
        out = [f.assign(**{col: f[col].cat.set_categories(union)}) for f in out]
    return out


def _track(dates: pd.DatetimeIndex, progress: bool):
    if not progress:
        return dates
    from rich.progress import track

    return track(dates, description="training snapshots", total=len(dates))
