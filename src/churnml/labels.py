"""Churn labels and the training table of stacked, fully labelled snapshots.

A label at T says whether an active customer's next churn date falls in (T, T + H]. It is fully known only once
T + H + G has passed (a return within the grace period could still cancel the churn), so training at ``as_of``
uses snapshots with T + H + G <= ``as_of`` and only data knowable at ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable

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


def snapshot_dates(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, config: ChurnConfig) -> pd.DatetimeIndex:
    """Snapshot dates whose labels are fully known at ``as_of`` (T + H + G <= ``as_of``), oldest first.

    Dates follow ``config.snapshots.frequency`` from the first known start date; the latest ``max_snapshots`` of
    them with at least one active customer are kept.
    """
    t = as_timestamp(as_of)
    subs = subscriptions_as_of(subscriptions, t)
    empty = pd.DatetimeIndex([], dtype="datetime64[ns]", name="snapshot_date")
    if len(subs) == 0:
        return empty
    last = t - pd.Timedelta(days=config.labels.horizon_days + config.labels.grace_days)
    first = subs["start_date"].min().normalize()
    if last < first:
        return empty
    candidates = pd.date_range(first, last, freq=config.snapshots.frequency)
    start = subs["start_date"].to_numpy(dtype="datetime64[ns]")
    end = subs["end_date"].to_numpy(dtype="datetime64[ns]")
    open_ended = np.isnat(end)
    kept: list[pd.Timestamp] = []
    # Newest first, stopping at max_snapshots: a loop over a handful of dates, each check vectorised over periods.
    for d in reversed(candidates):
        day = np.datetime64(d.as_unit("ns").value, "ns")
        if ((start <= day) & (open_ended | (end > day))).any():
            kept.append(d)
            if len(kept) == config.snapshots.max_snapshots:
                break
    return pd.DatetimeIndex(sorted(kept), name="snapshot_date").as_unit("ns")


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
    ``as_of`` change nothing. ``context_fn`` computes each snapshot's :class:`PopulationContext` (swap it for a
    distributed version); category lists are unified across snapshots.
    """
    t = as_timestamp(as_of)
    known = dataset.known_at(t)
    dates = snapshot_dates(known.subscriptions, t, config)
    frames = []
    for d in _track(dates, progress):
        features = build_features(known, d, config, context_fn(known, d, config))
        labels = build_labels(known.subscriptions, d, config.labels)
        frame = features.reset_index()
        frame.insert(0, "snapshot_date", pd.Series(d, index=frame.index, dtype="datetime64[ns]"))
        frame["lifecycle_stage"] = _stage_from_flags(features).to_numpy()
        frame["label"] = labels.to_numpy()
        frames.append(frame)
    if not frames:
        empty = build_features(known.for_customers([]), t, config).reset_index()
        empty.insert(0, "snapshot_date", pd.Series(dtype="datetime64[ns]"))
        empty["lifecycle_stage"] = pd.Series(dtype="str")
        empty["label"] = pd.Series(dtype="int64")
        return empty
    return pd.concat(_unify_categories(frames), ignore_index=True)


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
