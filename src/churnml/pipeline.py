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
:func:`backtest`, :func:`outcomes`  kept runs and what then happened -> realised performance, what the remedies did
=================  ==================================================================================

Data is a :class:`~churnml.dataset.Dataset` in memory or a :class:`~churnml.io.PartitionedData` handle on a
partitioned folder. Stages that touch every customer work part by part (customer chunks of ``scoring.chunk_customers``
in memory; buckets, each read and validated by the task that works on it, on disk) on an
:mod:`~churnml.engine`: in this process or on Dask workers. The population-wide context is added up from every
part first and sent to all; what comes back is a few numbers per customer, gathered in part order, so the output
is the same byte for byte wherever the parts ran.
"""

from __future__ import annotations

import hashlib
import resource
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from churnml import features as _features
from churnml.config import ChurnConfig, Family
from churnml.dataset import Dataset, as_timestamp, customer_bucket, positions_in
from churnml.decisions import (
    control_group,
    flag,
    rank_by_risk,
    recommend_actions,
    referral_candidates,
    risk_tiers,
    select_by,
    winback_actions,
)
from churnml.engine import Engine, EngineError, LocalEngine
from churnml.errors import InputError
from churnml.features import CONTEXT_TABLES, ContextPart, PopulationContext, context_part, feature_label, feature_registry, merge_context
from churnml.io import PartitionedData
from churnml.labels import active_on, pick_snapshot_dates, snapshot_candidates, snapshot_frames, stack_snapshots
from churnml.lifecycle import lifecycle_stage
from churnml.monitoring import Outcomes, bin_counts
from churnml.monitoring.changes import FAMILY_NAMES
from churnml.remedies import Action, WinbackAction
from churnml.schemas import OUTPUTS, TABLES, empty_frame, event_tables
from churnml.validation import RawTable, ValidationResult, merge_results, validate_dataset

if TYPE_CHECKING:  # the model stack (LightGBM, scikit-learn, matplotlib) loads in the stages that use it, so
    # validating or building features starts in a fraction of a second
    from churnml.explain import Explanations
    from churnml.modeling.bundle import ModelBundle
    from churnml.modeling.train import TrainingResult
    from churnml.modeling.winback import WinbackModel

__all__ = [
    "Data",
    "KeptRun",
    "ScoreResult",
    "StageLog",
    "Training",
    "WinbackResult",
    "backtest",
    "build_features",
    "change_since",
    "customers_of",
    "explain",
    "outcomes",
    "report_inputs",
    "score",
    "score_and_keep",
    "train",
    "validate",
    "winback",
]

_SURVEY_SCORE = "survey_last_score"
_FAMILY_SHARES = ("price_share", "service_share", "other_share")
_FAMILY_PARTS = ("price_part", "service_part", "other_part")  # the families' summed contributions (log-odds)
_ACTIONS = tuple(str(a) for a in Action)  # the scores file's remedy codes
_PROBABILITY = "churn_probability"
_RECENT_DAYS = 30
_FEED_RUNS = 3  # runs whose recent rows per customer make a feed's baseline (their median)


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


Data = Dataset | PartitionedData


class _InMemory:
    """A dataset in memory cut into chunks of customers (row positions only, no copies until a chunk is loaded).

    Chunk ``k`` holds the customers at positions ``k * size`` to ``(k + 1) * size`` of the sorted ids. Each row's
    customer position comes from validation's codes when the dataset has them, else from hashing the ids once (int32
    per row). A table whose rows come grouped in customer order (as many exports are) is cut into slices, which
    copy nothing; any other is taken row by row for each chunk."""

    def __init__(self, dataset: Dataset, as_of: pd.Timestamp, size: int):
        self.dataset = dataset
        self.as_of = as_of
        self.size = size
        self.ids = dataset.customer_ids
        self.n = max(1, -(-len(self.ids) // size))
        codes = dataset.customer_codes
        # The position of each distinct id validation coded (one more slot: -1 for a code of no id), and the coded
        # tables; a table without codes (absent from the folder, or a dataset built in code) is placed by its ids.
        self._rank = np.append(positions_in(codes[0], self.ids), -1).astype(np.int32) if codes is not None else None
        self._coded = dict(codes[1]) if codes is not None else {}
        self._placed = {
            name: positions_in(frame["customer_id"], self.ids).astype(np.int32)
            for name, frame in dataset.items() if name not in self._coded
        }
        # Where each chunk's rows start and end, for the tables whose positions never decrease (-1s come first).
        self._bounds: dict[str, np.ndarray] = {}
        for name, _ in dataset.items():
            pos = self._positions(name)
            if len(pos) and bool((pos[1:] >= pos[:-1]).all()):
                self._bounds[name] = np.searchsorted(pos, np.arange(self.n + 1, dtype=np.int64) * size)

    @property
    def keys(self) -> list[int]:
        return list(range(self.n))

    def _positions(self, name: str, rows: slice = slice(None)) -> np.ndarray:
        """Each row's (or these rows') customer position in the sorted ids (-1: none)."""
        if name in self._coded and self._rank is not None:
            return self._rank[self._coded[name][rows]]
        return self._placed[name][rows]

    def load(self, k: int, point_in_time: bool = True, customers: pd.Index | None = None,
             tables: tuple[str, ...] | None = None) -> Dataset:
        """Chunk ``k`` as known at T (or with every row, for messages about what lies after T), or only the rows
        of ``customers`` in it; with ``tables``, the other tables come empty (a pass that reads only those). The
        chunk carries its rows' customer codes (positions among its own customers), so its builders look ids up
        instead of hashing them."""
        wanted = None
        if customers is not None:
            wanted = np.zeros(len(self.ids) + 1, dtype=bool)  # the last slot answers for rows of no known customer
            at = positions_in(pd.Index(customers), self.ids)
            wanted[at[at >= 0]] = True
        first = k * self.size
        frames, codes = {}, {}
        for name, frame in self.dataset.items():
            if tables is not None and name not in tables:
                frames[name], codes[name] = frame.iloc[:0], np.zeros(0, dtype=np.int32)
                continue
            if name in self._bounds:
                start, stop = self._bounds[name][k : k + 2]
                part, pos = (frame.iloc[start:stop] if stop - start < len(frame) else frame), self._positions(name, slice(start, stop))
                if wanted is not None:  # only those customers' rows are copied, not the chunk's
                    rows = np.flatnonzero(wanted[pos])
                    part, pos = part.iloc[rows], pos[rows]
            else:
                pos = self._positions(name)
                mine = (pos >= first) & (pos < first + self.size)
                if wanted is not None:
                    mine &= wanted[pos]
                part, pos = (frame, pos) if mine.all() else (frame.iloc[np.flatnonzero(mine)], pos[mine])  # in file order
            frames[name], codes[name] = part, pos - np.int32(first)
        chunk = Dataset(frames, (self.ids[first : first + self.size], codes))
        return chunk.known_at(self.as_of) if point_in_time else chunk


@dataclass(frozen=True)
class _OnDisk:
    """A partitioned dataset, one bucket at a time: each task reads and validates its bucket, then applies T."""

    handle: PartitionedData
    as_of: pd.Timestamp

    @property
    def keys(self) -> list[int]:
        return list(self.handle.buckets)

    def load(self, k: int, point_in_time: bool = True, customers: pd.Index | None = None,
             tables: tuple[str, ...] | None = None) -> Dataset:
        """Bucket ``k`` as known at T (or with every row, for messages about what lies after T), or only the rows
        of ``customers`` in it (only those are read on and validated). ``tables`` is a hint: every table is read
        (the cross-table rules need them)."""
        ids = None if customers is None else [str(c) for c in customers]
        dataset = validate_dataset(self.handle.read_bucket(k, ids), part=True).accepted
        if customers is not None:
            dataset = dataset.for_customers(customers)
        return dataset.known_at(self.as_of) if point_in_time else dataset


_Source = _InMemory | _OnDisk


def _source(data: Data, t: pd.Timestamp, config: ChurnConfig, engine: Engine) -> _Source:
    if isinstance(data, PartitionedData):
        return _OnDisk(data, t)
    if engine.name != "local":
        raise EngineError(f"--engine {engine.name} reads a partitioned dataset, bucket by bucket on the workers; "
                          "write one with churnml partition --data DIR --out DIR --buckets N and pass that as --data")
    return _InMemory(data, t, config.scoring.chunk_customers)


def _context_task(k: int, source: _Source, dates: list[pd.Timestamp], config: ChurnConfig) -> list[ContextPart]:
    known = source.load(k, tables=CONTEXT_TABLES)
    return [context_part(known, d, config) for d in dates]


def _contexts(source: _Source, engine: Engine, dates: list[pd.Timestamp], config: ChurnConfig) -> dict[pd.Timestamp, PopulationContext]:
    """The population context at each date, added up from every part in one pass over them."""
    per_part = engine.map(_context_task, source.keys, source, list(dates), config, label="population context")
    try:
        return {d: merge_context([parts[j] for parts in per_part]) for j, d in enumerate(dates)}
    except ValueError as exc:  # buckets that read an attribute differently: a hand-made partitioning
        where = source.handle.directory if isinstance(source, _OnDisk) else "the dataset"
        raise InputError([f"{where}: {exc}; rewrite the dataset with churnml partition from its validated tables"]) from None


@contextmanager
def _status(text: str, progress: bool) -> Iterator[None]:
    """A spinner on stderr while a step without a progress bar runs (only with ``progress``)."""
    if not progress:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield


def _registry(context: PopulationContext, config: ChurnConfig):
    """Every feature's declaration, the static attributes typed as every part reads them."""
    return feature_registry(config, dict(context.attribute_kinds))


# --------------------------------------------------------------------------------------------------- validate


def _validate_task(k: int, handle: PartitionedData, as_of: pd.Timestamp | None, newest_at: pd.Timestamp | None):
    result = validate_dataset(handle.read_bucket(k), as_of=as_of, part=True)
    newest = result.accepted.newest_date(newest_at) if newest_at is not None else (None, None)
    return replace(result, dataset=None), newest


def validate(
    raw: dict[str, RawTable] | PartitionedData,
    as_of: str | pd.Timestamp | None = None,
    *,
    engine: Engine | None = None,
    newest_at: str | pd.Timestamp | None = None,
) -> ValidationResult:
    """Check every table as read (:func:`churnml.io.read_raw_tables`) and the rules across tables; rejected rows
    keep their source line and reason, and accepted + rejected = read for every table.

    A partitioned dataset is checked bucket by bucket on ``engine`` and its rows stay on disk: the result's
    ``dataset`` is then None and ``newest`` the latest date on or before ``newest_at`` (:meth:`Dataset.newest_date`).
    """
    t = None if as_of is None else as_timestamp(as_of)
    if not isinstance(raw, PartitionedData):
        result = validate_dataset(raw, as_of=t)
        return replace(result, newest=result.accepted.newest_date(newest_at)) if newest_at is not None else result
    if raw.rows["subscriptions"] == 0:
        raise InputError([f"{raw.source('subscriptions')}: has no rows; without subscription periods there are no customers: export the periods too"])
    engine = engine or LocalEngine()
    at = None if newest_at is None else as_timestamp(newest_at)
    parts = engine.map(_validate_task, list(raw.buckets), raw, t, at, label="validating")
    result = merge_results([r for r, _ in parts], {name: raw.source(name) for name in raw.tables}, None)
    dated = [n for _, n in parts if n[0] is not None]
    order = list(raw.tables)  # a tie goes to the first table, as in one pass over the whole dataset
    newest = min(dated, key=lambda n: (-n[0].value, order.index(n[1]))) if dated else (None, None)
    return replace(result, newest=newest)


# --------------------------------------------------------------------------------------------------- features


def _features_task(k: int, source: _Source, t: pd.Timestamp, config: ChurnConfig, context: PopulationContext) -> pd.DataFrame:
    return _features.build_features(source.load(k), t, config, context)


def _stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of disjoint customers (identical columns and categories), as one frame sorted by customer id."""
    frame = pd.concat(frames)
    return frame if frame.index.is_monotonic_increasing else frame.sort_index(kind="stable")


def build_features(
    data: Data, as_of: str | pd.Timestamp, config: ChurnConfig, *, engine: Engine | None = None
) -> pd.DataFrame:
    """The point-in-time feature vector of every customer active at ``as_of``, built part by part."""
    t = as_timestamp(as_of)
    engine = engine or LocalEngine()
    source = _source(data, t, config, engine)
    context = _contexts(source, engine, [t], config)[t]
    return _stacked(engine.map(_features_task, source.keys, source, t, config, context, label="features"))


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
    uplift_skipped: str | None = None  # why no uplift model was learned (no or too few recorded actions)
    example: pd.DataFrame | None = None  # a few training feature rows: the registered model's input example
    labels: dict[str, str] = field(default_factory=dict)  # each feature's plain name, for plots

    @property
    def bundle(self) -> ModelBundle:
        return self.result.bundle


def _last_end_task(k: int, source: _Source) -> pd.Timestamp | None:
    ends = source.load(k, point_in_time=False).subscriptions["end_date"].dropna()
    return None if ends.empty else ends.max()


def _unlabelled_churn_hint(source: _Source, engine: Engine, t: pd.Timestamp, config: ChurnConfig) -> str:
    """Why no snapshot holds a churner when the data has some: their end dates lie too close to or after ``t``
    (an imported one-day export records its churners after its reference date)."""
    ends = [e for e in engine.map(_last_end_task, source.keys, source) if e is not None]
    if not ends:
        return "; no subscription in the data has an end date, so there is no churn to learn from"
    last = max(ends)
    if last <= t - pd.Timedelta(days=config.labels.horizon_days + config.labels.grace_days):
        return ""
    ready = (last + pd.Timedelta(days=config.labels.horizon_days + config.labels.grace_days)).date()
    return (f"; the data's end dates run to {last.date()}, and a churn is a label only once its horizon "
            f"({config.labels.horizon_days} days) and grace ({config.labels.grace_days} days) have passed: "
            f"train with --as-of {ready} or later to learn from all of them")


def _first_start_task(k: int, source: _Source) -> pd.Timestamp | None:
    starts = source.load(k).subscriptions["start_date"]
    return starts.min() if len(starts) else None


def _active_task(k: int, source: _Source, dates: pd.DatetimeIndex) -> np.ndarray:
    return active_on(source.load(k).subscriptions, dates)


def _snapshot_task(k: int, source: _Source, dates: pd.DatetimeIndex, config: ChurnConfig,
                   contexts: dict[pd.Timestamp, PopulationContext]) -> tuple[list[pd.DataFrame], dict[str, Any]]:
    """A part's training rows at every snapshot date, and the fingerprint of what it knows at T."""
    known = source.load(k)
    seen = known.customers["customer_id"].isin(known.subscriptions["customer_id"])
    # Attributes of customers first known after T are not data known at T: they must not change the bundle.
    fingerprint = (known if seen.all() else known.replace(customers=known.customers[seen])).fingerprint()
    return snapshot_frames(known, dates, config, contexts), fingerprint


def _return_rows_task(k: int, source: _Source, t: pd.Timestamp, config: ChurnConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    from churnml.modeling.winback import return_training_rows, won_back_stays

    subs = source.load(k).subscriptions
    return return_training_rows(subs, t, config, latest=False), won_back_stays(subs, t, config.labels.grace_days)


def _return_features_task(item: tuple[int, pd.DataFrame], source: _Source, bundle: ModelBundle, config: ChurnConfig,
                          contexts: dict[pd.Timestamp, PopulationContext]) -> pd.DataFrame:
    from churnml.modeling.winback import return_features

    k, rows = item
    return return_features(source.load(k, customers=pd.Index(rows["customer_id"].unique())), rows, bundle, config, contexts=contexts)


def _fingerprint(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts' fingerprints as one: rows added up, the date range, one hash over the parts' hashes in order."""
    digest = hashlib.sha256("".join(p["sha256"] for p in parts).encode())
    firsts = [p["first_date"] for p in parts if p["first_date"]]
    lasts = [p["last_date"] for p in parts if p["last_date"]]
    return {
        "rows": {name: sum(p["rows"][name] for p in parts) for name in parts[0]["rows"]},
        "first_date": min(firsts) if firsts else None,
        "last_date": max(lasts) if lasts else None,
        "sha256": digest.hexdigest(),
        "parts": len(parts),
    }


def _snapshots(source: _Source, engine: Engine, t: pd.Timestamp, config: ChurnConfig):
    """The training table at T over every part (:func:`churnml.labels.training_snapshots`, part by part), with the
    parts' fingerprint and the context of the last snapshot date."""
    firsts = [f for f in engine.map(_first_start_task, source.keys, source, label="first periods") if f is not None]
    candidates = snapshot_candidates(min(firsts) if firsts else None, t, config)
    active = np.zeros(len(candidates), dtype=bool)
    for flags in engine.map(_active_task, source.keys, source, candidates, label="snapshot dates"):
        active |= flags
    dates = pick_snapshot_dates(candidates, active, config)
    contexts = _contexts(source, engine, list(dates), config) if len(dates) else {}
    parts = engine.map(_snapshot_task, source.keys, source, dates, config, contexts, label="training snapshots")
    columns = parts[0][0][0].columns if len(dates) else None
    frames = [_stacked([mine[j].set_index("customer_id") for mine, _ in parts]).reset_index()[columns] for j in range(len(dates))]
    snapshots = stack_snapshots(frames, source.load(source.keys[0]) if not frames else Dataset.from_frames({"subscriptions": empty_frame("subscriptions")}), t, config)
    return snapshots, _fingerprint([f for _, f in parts]), (contexts[dates[-1]] if len(dates) else None)


def _train_winback(source: _Source, engine: Engine, t: pd.Timestamp, bundle: ModelBundle, config: ChurnConfig) -> WinbackModel:
    """:func:`churnml.modeling.winback.train_winback`, part by part; ``ValueError`` when history is too short."""
    from churnml.modeling.winback import check_return_rows, fit_winback, latest_return_rows, month_before

    found = engine.map(_return_rows_task, source.keys, source, t, config, label="earlier churners")
    tagged = [rows.assign(_part=j) for j, (rows, _) in enumerate(found)]
    rows = latest_return_rows(pd.concat(tagged, ignore_index=True), config)
    check_return_rows(rows, config)
    days = sorted(set(month_before(rows["churn_date"])))
    contexts = _contexts(source, engine, [pd.Timestamp(d) for d in days], config)
    items = [(source.keys[j], part.drop(columns="_part")) for j, part in rows.groupby("_part", sort=True)]
    X = pd.concat(engine.map(_return_features_task, items, source, bundle, config, contexts, label="return model features")).sort_index()
    stays = pd.concat([s for _, s in found], ignore_index=True)
    return fit_winback(rows.drop(columns="_part"), X, stays, bundle, config)


def _actions_task(k: int, source: _Source) -> pd.DataFrame:
    return source.load(k).retention_actions


def _learn_uplift(training: Training, snapshots: pd.DataFrame, source: _Source, engine: Engine, t: pd.Timestamp,
                  config: ChurnConfig, registry: Mapping[str, Any]) -> None:
    """Learn whom each recorded action saves into the bundle, or say in it why not."""
    from churnml.explain.causes import family_headroom
    from churnml.modeling.uplift import attach_uplift, learn_uplift

    bundle = training.result.bundle
    actions = pd.concat(engine.map(_actions_task, source.keys, source, label="actions"), ignore_index=True)
    if actions.empty:
        why = "no retention_actions recorded"
    else:
        def headroom(X: pd.DataFrame, log_odds: np.ndarray) -> np.ndarray:
            return family_headroom(bundle, X, snapshots, registry, log_odds)

        try:
            model, costs = learn_uplift(snapshots, actions, bundle, config.monitoring.treatment_window_days,
                                        config.monitoring.treatment_washout_days, config.uplift.min_treated,
                                        seed=config.model.seed, num_threads=config.model.num_threads,
                                        headroom=headroom if config.uplift.learner == "cause" else None)
        except ValueError as exc:
            why = str(exc)
        else:
            attach_uplift(bundle, model, costs)
            training.result.metrics["uplift"] = model.metrics()  # logged with the run (uplift_share_<action>, ...)
            return
    bundle.meta["uplift"] = {"not_trained": why}
    training.uplift_skipped = why


def train(
    data: Data,
    as_of: str | pd.Timestamp,
    config: ChurnConfig,
    *,
    oracle: pd.DataFrame | None = None,
    source: str = "the dataset",
    engine: Engine | None = None,
    progress: bool = False,
) -> Training:
    """Train on everything knowable at ``as_of``: snapshots, out-of-time split, calibration, evaluation, and the
    win-back return model into the same bundle. ``source`` names the data in messages.

    The snapshot rows are built part by part on ``engine`` and gathered here, where LightGBM trains on them (the
    training table must fit this process's memory; the parts need not).

    Raises :class:`~churnml.errors.InputError` when the history is too short or one-sided to learn from.
    """
    from churnml.modeling.train import train_model
    from churnml.modeling.winback import attach_winback

    t = as_timestamp(as_of)
    engine = engine or LocalEngine(progress)
    parts = _source(data, t, config, engine)
    snapshots, fingerprint, context = _snapshots(parts, engine, t, config)
    if snapshots.empty:
        raise InputError([
            f"{source}: no snapshot before {t.date()} has a fully known label (needs snapshot + "
            f"{config.labels.horizon_days} + {config.labels.grace_days} days <= as-of); use a later --as-of"
        ])
    assert context is not None  # there are snapshots, so a last snapshot date
    registry = _registry(context, config)
    families = {name: spec.family for name, spec in registry.items()}
    try:
        with _status(f"Training on {len(snapshots):,} snapshot rows…", progress):
            result = train_model(snapshots, config, families, as_of=t, oracle=oracle, data_fingerprint=fingerprint)
    except ValueError as exc:  # too little or one-sided history at this as-of: the data, not a bug
        raise InputError([f"{source}: cannot train at {t.date()}: {exc}{_unlabelled_churn_hint(parts, engine, t, config)}"]) from None
    training = Training(result, families, len(snapshots), int(snapshots["snapshot_date"].nunique()), fingerprint)
    training.example = snapshots[[f.name for f in result.bundle.features]].head(5).reset_index(drop=True)
    training.labels = {name: feature_label(spec, name) for name, spec in registry.items()}
    if config.uplift.learn:
        _learn_uplift(training, snapshots, parts, engine, t, config, registry)
    try:
        training.winback = _train_winback(parts, engine, t, result.bundle, config)
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
    monitoring: dict[str, Any] = field(default_factory=dict)  # drift, expected performance, feeds, flag moves
    history: pd.DataFrame | None = None  # what the next run needs of every active customer
    flagged_by_uplift: bool = False  # flagging.strategy uplift or value (else expected_uplift is only shown)

    def fit_shares(self) -> dict[str, dict[str, float]]:
        """``fit`` as shares of the present values, per check and feature."""
        return {check: {name: (n / m if m else 0.0) for name, (n, m) in per.items()} for check, per in self.fit.items()}

    def record(self, as_of: str | pd.Timestamp, model_version: str, config: ChurnConfig) -> dict[str, Any]:
        """The run's record as later runs read it (``run.json`` of its history, :class:`KeptRun`): date, model,
        horizon and grace, counts, and the monitoring."""
        return {"as_of": str(as_timestamp(as_of).date()), "model_version": model_version, "horizon_days": config.labels.horizon_days,
                "grace_days": config.labels.grace_days, "counts": self.counts(), **self.monitoring}

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
            "control_group": int(s["control_group"].sum()) if "control_group" in s else 0,
            # flagged by uplift or value: what the flagged are expected to be saved, summed (empty by risk)
            **({"expected_saved": round(float(flagged["expected_uplift"].sum()), 2)} if self.flagged_by_uplift else {}),
        }


def _add_fit(total: dict[str, dict[str, list[int]]], part: dict[str, dict[str, tuple[int, int] | list[int]]]) -> None:
    for check, per in part.items():
        totals = total.setdefault(check, {})
        for name, (n, m) in per.items():
            pair = totals.setdefault(name, [0, 0])
            pair[0] += n
            pair[1] += m


class Previous(Protocol):
    """The previous run a score run compares with (:class:`churnml.io.PastRun`): its record and readers."""

    @property
    def run(self) -> dict: ...

    def customers(self) -> pd.DataFrame: ...

    def features(self, ids: Sequence[str]) -> pd.DataFrame: ...


def _recent_rows(known: Dataset, t: pd.Timestamp, days: int = _RECENT_DAYS) -> dict[str, int]:
    """Rows of each log dated in the ``days`` before T (usage: of the last completed month): what a feed delivered
    lately, to compare with the previous run's."""
    out = {}
    for name in event_tables():
        when = known.table(name)[TABLES[name].time_column]
        since = (t.replace(day=1) - pd.DateOffset(months=1)) if name == "usage" else t - pd.Timedelta(days=days)
        out[name] = int((when >= since).sum())
    return out


def _probability_task(k: int, source: _Source, t: pd.Timestamp, bundle: ModelBundle, config: ChurnConfig, context: PopulationContext,
                      sink: Callable[[int, pd.DataFrame], None] | None = None, lift: Any = None):
    """Pass 1, every active customer of a part: calibrated probability and log-odds, latest survey score, lifecycle
    stage, the model-fit counts, the drift counts and the logs' recent rows. A few numbers per customer go back;
    the feature vectors go to ``sink`` (the run's history), if given. With ``lift`` (the bundle's uplift model and
    the actions' costs), each customer's best action, its uplift and its value too."""
    known = source.load(k)
    features = _features.build_features(known, t, config, context)
    X = bundle.prepare(features)
    fit = bundle.fit_counts(features, X)
    raw = bundle.predict_raw(X)
    p = bundle.calibrator.transform(raw)
    frame = pd.DataFrame(
        {
            "p": p,
            "log_odds": np.log(raw) - np.log1p(-raw),
            "survey": features[_SURVEY_SCORE].to_numpy(dtype=float),
            "stage": lifecycle_stage(known.subscriptions, t, config.labels).reindex(features.index).to_numpy(),
        },
        index=features.index,
    )
    if lift is not None:
        from churnml.explain.causes import family_headroom

        model, costs = lift
        log_odds = frame["log_odds"].to_numpy()
        headroom = family_headroom(bundle, X, features, _registry(context, config), log_odds) if model.needs_headroom else None
        action, uplift = model.best(X, log_odds, headroom)
        price = features["monthly_price"].to_numpy(dtype=float) if "monthly_price" in features else np.zeros(len(frame))
        frame["uplift_action"] = action
        frame["uplift"] = uplift
        cost = pd.Series(action, dtype=object).map(costs).fillna(0.0).to_numpy(dtype=float)
        frame["value"] = uplift * np.nan_to_num(price) * config.uplift.margin_share * config.uplift.expected_months - cost
    reference = bundle.meta.get("reference")
    monitor = {"bins": bin_counts(X, reference, p) if reference else {}, "recent": _recent_rows(known, t)}
    if sink is not None:
        sink(k, features)
    return frame, fit, monitor


def _change(features: pd.DataFrame, contributions: np.ndarray, log_odds: np.ndarray, before: pd.DataFrame, same_model: bool,
            bundle: ModelBundle, registry: Mapping[str, Any]) -> pd.DataFrame:
    """Why the risk of these customers moved since the previous run (``before``: the previous run's feature vectors
    and log-odds of those it scored; ``same_model``: whether it used this model): the family that moved it most,
    a reason, and the parts (log-odds) that add up to the change.

    The parts are exact Shapley values of the three families between the previous vector and today's, under
    today's model (:func:`~churnml.explain.causes.change_values`); a new model adds a model term, today's model on
    the previous vector against what the previous model said. ``log_odds``: today's, ``contributions``: TreeSHAP."""
    from churnml.explain.causes import change_values, family_parts
    from churnml.monitoring import change_reasons, largest_change

    ids = features.index
    had = before.reindex(ids)
    out = pd.DataFrame({"change_cause": "", "change_reason": ""}, index=ids)
    for f in (*_FAMILY_PARTS, "model_part"):
        out[f] = np.nan
    if "log_odds" not in had or any(n not in had.columns for n in bundle.feature_names):
        return out  # the previous run scored other features (a model of another feature set): nothing to compare
    known = had["log_odds"].notna().to_numpy()
    if not known.any():
        return out
    rows = np.flatnonzero(known)
    names = bundle.feature_names
    previous_x, today_x = had.iloc[rows][names], features.iloc[rows][names]
    family_of = {n: registry[n].family for n in names if n in registry}
    said = had.iloc[rows]["log_odds"].to_numpy(dtype=float)  # what the previous run's model said of its vector
    value = change_values(lambda Z: bundle.predict_codes(Z, raw_score=True), bundle.prepare(today_x), bundle.prepare(previous_x),
                          family_of, log_odds[rows], base=said if same_model else None, codes=True)
    parts = family_parts(value)
    model_part = np.zeros(len(rows)) if same_model else value[frozenset()] - said
    cause = largest_change(parts, model_part)
    direction = np.sign(parts.sum(axis=1) + model_part)
    reasons = change_reasons(cause, direction, contributions[rows], previous_x, today_x, registry)
    out.iloc[rows, out.columns.get_loc("change_cause")] = cause
    out.iloc[rows, out.columns.get_loc("change_reason")] = reasons
    for j, f in enumerate(_FAMILY_PARTS):
        out.iloc[rows, out.columns.get_loc(f)] = parts[:, j]
    out.iloc[rows, out.columns.get_loc("model_part")] = model_part
    return out


def _previous_vectors(previous: Previous, table: pd.DataFrame, ids: Sequence[str]) -> pd.DataFrame:
    """The feature vectors the previous run scored for ``ids``, with its log-odds (``table``: its customers)."""
    return previous.features(list(ids)).join(table[["log_odds"]], how="left")


def change_since(previous: Previous, explained: Explanations, bundle: ModelBundle, registry: Mapping[str, Any]) -> pd.DataFrame:
    """Why the risk of explained customers moved since ``previous``, as the nightly job reports it for the flagged:
    previous probability, the change, the leading family and reason, and the parts in log-odds that add up to it."""
    features, contributions = explained.features, explained.contribution_matrix
    assert features is not None and contributions is not None
    table = previous.customers().set_index("customer_id")
    before = _previous_vectors(previous, table, features.index)
    same_model = previous.run.get("model_version") == bundle.version
    log_odds = bundle.predict_log_odds(bundle.prepare(features))
    out = _change(features, contributions, log_odds, before, same_model, bundle, registry)
    out.insert(0, "previous_as_of", previous.run.get("as_of"))
    out.insert(1, "previous_probability", table["churn_probability"].reindex(features.index).to_numpy(dtype=float))
    out.insert(2, "risk_change", explained.summary["churn_probability"].reindex(features.index).to_numpy(dtype=float) - out["previous_probability"])
    return out


def _explain_task(item: tuple[int, pd.DataFrame, pd.DataFrame | None], source: _Source, t: pd.Timestamp, bundle: ModelBundle,
                  config: ChurnConfig, context: PopulationContext, same_model: bool = True) -> tuple[pd.DataFrame, float]:
    """Pass 2, the flagged customers of a part (``item``: the part, their probability and stage, and what the
    previous run kept of them): features again, TreeSHAP contributions, cause, reasons and action, the families'
    contributions and, with a previous run, why their risk moved."""
    from churnml.explain import attribute, render_reasons
    from churnml.monitoring import family_sums

    k, flagged, before = item
    features = _features.build_features(source.load(k, customers=flagged.index), t, config, context)
    features = features.reindex(flagged.index)
    started = time.perf_counter()
    registry = _registry(context, config)
    why = attribute(features, bundle, registry, config, flagged["p"].to_numpy())
    seconds = time.perf_counter() - started
    causes = why.causes
    out = pd.DataFrame({col: causes[col].to_numpy() for col in ("primary_cause", "cause_share", *_FAMILY_SHARES)}, index=features.index)
    for j, texts in enumerate(render_reasons(why.reasons, features[bundle.feature_names], registry), start=1):
        out[f"reason_{j}"] = texts
    price = features["monthly_price"].to_numpy(dtype=float) if "monthly_price" in features else np.zeros(len(out))
    out["recommended_action"] = recommend_actions(
        causes, flagged["stage"].to_numpy(), flagged["p"].to_numpy(), price, config.playbook, config.cause
    )
    if "uplift_action" in flagged and config.flagging.strategy != "risk":  # flagged by uplift or value: the action that saves them most
        out["recommended_action"] = flagged["uplift_action"].to_numpy()
    families = [registry[n].family.value if n in registry else "other" for n in bundle.feature_names]
    now_parts = family_sums(why.contributions, families)
    for j, f in enumerate(_FAMILY_PARTS):
        out[f] = now_parts[:, j]
    if before is not None:
        change = _change(features, why.contributions, flagged["log_odds"].to_numpy(), before, same_model, bundle, registry)
        for col in change.columns:
            out[f"change:{col}"] = change[col].to_numpy()
    return out, seconds


def _monitoring(first: pd.DataFrame, flagged: np.ndarray, tier: np.ndarray, parts: list[dict], bundle: ModelBundle,
                config: ChurnConfig, context: PopulationContext, previous: Previous | None, before: pd.DataFrame | None,
                then: pd.DataFrame | None, same_model: bool) -> dict[str, Any]:
    """The run's drift table, expected performance, feed volumes against the previous run and flag moves
    (``before``: the previous run's customers, ``then`` its rows of tonight's; ``same_model``: whether it used this
    model, so the same bins)."""
    from churnml.monitoring import drift_table, expected_performance, volume_changes

    reference = bundle.meta.get("reference")
    counts: dict[str, np.ndarray] = {}
    recent: dict[str, int] = {}
    for part in parts:
        for name, c in part["bins"].items():
            counts[name] = counts[name] + c if name in counts else c
        for name, n in part["recent"].items():
            recent[name] = recent.get(name, 0) + n
    active = max(1, len(first))
    per_customer = {name: n / active for name, n in recent.items()}
    out: dict[str, Any] = {
        "expected": expected_performance(first["p"].to_numpy(), flagged),
        "recent_rows": recent,
        "recent_rows_per_customer": per_customer,
        "bin_counts": {name: c.tolist() for name, c in counts.items()},
    }
    if reference:
        families = {name: spec.family.value for name, spec in _registry(context, config).items()}
        table = drift_table(reference, counts, families, config.monitoring.psi_watch, config.monitoring.psi_drift,
                            previous.run.get("bin_counts") if same_model and previous is not None else None,
                            config.monitoring.move_factor)
        out["drift"] = table.to_dict(orient="records")
        out["drifted_features"] = [f for f, s in zip(table["feature"], table["status"], strict=True) if s == "drifted" and f != _PROBABILITY]
        moved = table[table["moved"] & (table["feature"] != _PROBABILITY)]
        out["moved_since_previous"] = moved["feature"].tolist()
        out["prediction_drifted"] = bool(((table["feature"] == _PROBABILITY) & (table["status"] == "drifted")).any())
    else:
        out["drift"] = None
        out["drift_note"] = "the model bundle has no training reference (trained before drift monitoring): retrain to measure drift"
    if previous is not None:
        out["previous_as_of"] = previous.run.get("as_of")
        # Against the median of the last runs' rates, so that one busy month (a price rise, an incident wave) does
        # not make the ordinary month after it look like a broken feed.
        earlier = previous.run.get("recent_rows_recent_runs") or [previous.run.get("recent_rows_per_customer", {})]  # ends with its own
        out["recent_rows_recent_runs"] = [*earlier, per_customer][-_FEED_RUNS:]
        names = set().union(*earlier)
        baseline = {name: float(np.median([r.get(name, 0.0) for r in earlier])) for name in names}
        lowest = {name: float(min(r.get(name, 0.0) for r in earlier)) for name in names}
        out["feeds"] = volume_changes(baseline, per_customer, config.monitoring.feed_max_drop, config.monitoring.feed_max_rise, lowest)
    else:
        out["feeds"] = []
        out["recent_rows_recent_runs"] = [per_customer]
    if before is not None and then is not None:
        was = then["flagged"].fillna(False).to_numpy(dtype=bool)
        tier_then = then["risk_tier"].astype(object)
        out["transitions"] = {
            "newly_flagged": int((flagged & ~was).sum()),
            "no_longer_flagged": int((~flagged & was).sum()) + int(before["flagged"].sum() - was.sum()),
            "still_flagged": int((flagged & was).sum()),
            "tier_moves": {f"{a}->{b}": int(c) for (a, b), c in pd.crosstab(tier_then.fillna("new"), pd.Series(tier, index=first.index)).stack().items()
                           if a != b and c},
        }
    return out


def score(
    data: Data,
    as_of: str | pd.Timestamp,
    bundle: ModelBundle,
    config: ChurnConfig,
    *,
    engine: Engine | None = None,
    progress: bool = False,
    sink: Callable[[int, pd.DataFrame], None] | None = None,
    previous: Previous | None = None,
) -> ScoreResult:
    """The nightly job: score every customer active at ``as_of``; explain and prescribe for the flagged ones.

    Two passes over the parts keep memory bounded by one part: every active customer gets features and a
    calibrated probability; after ranking and flagging the population on the gathered probabilities, only the
    flagged get features again (the builders are partition-safe), TreeSHAP contributions, cause, reasons and action.

    ``sink`` receives each part's feature vectors (the run's history); with the ``previous`` run, the scores gain
    each customer's previous probability and change, and the flagged why their risk moved. The result's
    ``monitoring`` holds drift, expected performance and feed volumes, and ``history`` what the next run needs.
    """
    t = as_timestamp(as_of)
    engine = engine or LocalEngine(progress)
    log = StageLog()
    with log.stage("point_in_time"):
        source = _source(data, t, config, engine)
        context = _contexts(source, engine, [t], config)[t]

    lift = None
    by_uplift = config.flagging.strategy != "risk"
    if by_uplift or (config.uplift.shadow and "actions" in (bundle.meta.get("uplift") or {})):
        from churnml.errors import ModelError
        from churnml.modeling.uplift import uplift_model

        try:
            lift = uplift_model(bundle)
        except ModelError:
            if by_uplift:
                raise  # flagging needs it; a shadow only shows it, and a risk run never fails for it
    with log.stage("features_and_scores"):
        passes = engine.map(_probability_task, source.keys, source, t, bundle, config, context, sink, lift, label="scoring")
        fit: dict[str, dict[str, list[int]]] = {}
        for _, part_fit, _ in passes:
            _add_fit(fit, part_fit)
        monitors = [monitor for _, _, monitor in passes]
        first = _stacked([frame.assign(part=j) for j, (frame, _, _) in enumerate(passes)])
        keys = [source.keys[j] for j in range(len(passes))]
        del passes  # the driver keeps one frame of a few numbers per customer, not each part's too
        p = first["p"].to_numpy()

    with log.stage("rank_and_flag"):
        rank = rank_by_risk(p)
        flagged = flag(rank, p, config)
        uplift = np.full(len(p), np.nan)
        if lift is not None:
            uplift = first["uplift"].to_numpy()
        if by_uplift:  # as many as by risk, chosen by what the best action saves (or is worth)
            flagged = select_by(flagged, first["uplift" if config.flagging.strategy == "uplift" else "value"].to_numpy())
        tier = risk_tiers(p, config.flagging.tiers.high, config.flagging.tiers.medium)
        # The frame is built in rank order with the file's columns, so nothing copies it whole again before writing
        # (a sort and a column selection each did: at 10M customers the driver's peak). Text columns are taken as
        # Arrow arrays: a NumPy copy of them would hold one Python string per customer (over 1 GB at 7M).
        order = np.empty(len(rank), dtype=np.int64)
        order[rank - 1] = np.arange(len(rank))
        n = len(order)
        before = previous.customers().set_index("customer_id") if previous is not None else None
        then = before.reindex(first.index) if before is not None else None  # one lookup: each customer's row last run
        hold = config.flagging.control_hold_days if config.flagging.control_hold_days is not None else config.labels.horizon_days
        was_held = (then["held_until"].fillna(-1).to_numpy(dtype=np.int64)
                    if then is not None and "held_until" in then else None)
        held, held_until = control_group(first.index, t, flagged, config.flagging.control_fraction, config.flagging.control_key,
                                         was_held, hold)
        prev_p = then["churn_probability"].to_numpy(dtype=float) if then is not None else np.full(n, np.nan)
        columns: dict[str, Any] = {
            "customer_id": pd.array(first.index, dtype="str").take(order),
            "as_of_date": str(t.date()),
            "churn_probability": p[order],
            "risk_rank": rank[order],
            "risk_tier": pd.array(tier, dtype="str").take(order),
            "flagged": flagged[order],
            "lifecycle_stage": pd.array(first["stage"], dtype="str").take(order),
            "primary_cause": "",
            "cause_share": np.full(n, np.nan),
            "reason_1": "",
            "reason_2": "",
            "reason_3": "",
            "recommended_action": "none",
            "model_version": bundle.version,
            **{col: np.full(n, np.nan) for col in _FAMILY_SHARES},
            "referral_candidate": referral_candidates(flagged, tier, first["survey"].to_numpy(), config)[order],
            "previous_probability": prev_p[order],
            "risk_change": (p - prev_p)[order],
            "change_cause": "",
            "change_reason": "",
            "control_group": held[order],
            "expected_uplift": uplift[order],
        }
        scores = pd.DataFrame({col: columns[col] for col in OUTPUTS["scores"].columns}, index=pd.RangeIndex(n))
        del columns
        same_model = previous is not None and previous.run.get("model_version") == bundle.version
        monitoring = _monitoring(first, flagged, tier, monitors, bundle, config, context, previous, before, then, same_model)
        del then
        # Texts as categories: a byte per customer, not a Python string (the driver holds this at 10M customers too).
        history = pd.DataFrame({"customer_id": pd.array(first.index, dtype="str"), "churn_probability": p,
                                "log_odds": first["log_odds"].to_numpy(), "flagged": flagged,
                                "risk_tier": pd.Categorical(tier, categories=["low", "medium", "high"]),
                                "primary_cause": pd.Categorical(np.full(n, ""), categories=["", *FAMILY_NAMES]),
                                **{f: np.full(n, np.nan) for f in _FAMILY_PARTS},
                                # what `outcomes` needs to compare the treated with the control group later
                                "lifecycle_stage": pd.Categorical(first["stage"].to_numpy()),
                                "control_group": held,
                                "held_until": held_until,  # days since the epoch a control customer stays held out
                                "recommended_action": pd.Categorical(np.full(n, "none"), categories=_ACTIONS),
                                # how `outcomes` measures the uplift ranking, flagged by it or not (uplift.shadow)
                                **({"expected_uplift": uplift} if lift is not None else {})})
        del tier

    with log.stage("explain_flagged"):
        chosen = first[flagged]
        past = _previous_vectors(previous, before, chosen.index) if previous is not None and before is not None and len(chosen) else None
        items = [(keys[j], rows.drop(columns="part"), None if past is None else past.reindex(past.index.intersection(rows.index)))
                 for j, rows in chosen.groupby("part", sort=True)]
        del chosen, first, past
        explained = engine.map(_explain_task, items, source, t, bundle, config, context, same_model, label="explaining")
        del items
        explain_seconds = float(sum(seconds for _, seconds in explained))
        if explained:
            why = _stacked([frame for frame, _ in explained])
            rows = rank[np.flatnonzero(flagged)] - 1  # the flagged customers' rows in rank order
            for col in why.columns:
                if col in scores.columns:
                    scores.loc[rows, col] = why[col].to_numpy()
            at = np.flatnonzero(flagged)  # the flagged customers' rows in customer order, as why is
            history.loc[at, "primary_cause"] = why["primary_cause"].to_numpy()
            history.loc[at, "recommended_action"] = why["recommended_action"].to_numpy()
            for f in _FAMILY_PARTS:
                history.loc[at, f] = why[f].to_numpy()
            if "change:change_cause" in why.columns:
                scores.loc[rows, "change_cause"] = why["change:change_cause"].to_numpy()
                scores.loc[rows, "change_reason"] = why["change:change_reason"].to_numpy()
                monitoring["flagged_change_causes"] = {k: int(v) for k, v in why["change:change_cause"].value_counts().sort_index().items() if k}
                for f in (*_FAMILY_PARTS, "model_part"):  # the change in log-odds since the previous run, by family
                    history[f"change_{f}"] = np.nan
                    history.loc[at, f"change_{f}"] = why[f"change:{f}"].to_numpy()

    return ScoreResult(scores, log, explain_seconds, fit, monitoring, history, flagged_by_uplift=by_uplift)


@dataclass(frozen=True)
class KeptRun:
    """A score run held in memory as the next run reads it (:class:`Previous`), as :class:`churnml.io.PastRun`
    reads one from disk: its record (date, model, horizon, grace, monitoring), its customers table and the feature
    vectors it scored. For notebooks, tests and benchmarks that score night after night without files."""

    run: dict
    history: pd.DataFrame
    vectors: pd.DataFrame

    def customers(self) -> pd.DataFrame:
        return self.history

    def features(self, ids: Sequence[str]) -> pd.DataFrame:
        return self.vectors.loc[self.vectors.index.intersection(pd.Index(ids))]


def score_and_keep(data: Data, as_of: str | pd.Timestamp, bundle: ModelBundle, config: ChurnConfig,
                   previous: Previous | None = None) -> tuple[ScoreResult, KeptRun]:
    """:func:`score` in this process, and the run as the next one reads it (:class:`KeptRun`)."""
    parts: list[pd.DataFrame] = []
    result = score(data, as_of, bundle, config, sink=lambda _k, features: parts.append(features), previous=previous)
    assert result.history is not None  # score always keeps one
    return result, KeptRun(result.record(as_of, bundle.version, config), result.history, pd.concat(parts) if parts else pd.DataFrame())


# --------------------------------------------------------------------------------------------------- backtest


def backtest(subscriptions: pd.DataFrame, runs: list[tuple[dict, pd.DataFrame]], newest: pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    """How past runs did, one row per run date (:func:`churnml.modeling.backtest.realised_performance`): each run
    whose horizon and grace have passed by ``newest`` joined with what then happened, beside what it expected."""
    from churnml.modeling.backtest import realised_performance

    return realised_performance(subscriptions, runs, newest, config)


def outcomes(subscriptions: pd.DataFrame, actions: pd.DataFrame, runs: list[tuple[dict, pd.DataFrame]], as_of: pd.Timestamp,
             config: ChurnConfig) -> Outcomes:
    """Churn of the treated against the control group of every run whose horizon and grace have passed by
    ``as_of``, from the runs' histories and the ``retention_actions`` the CRM recorded (both known at ``as_of``):
    :class:`churnml.monitoring.Outcomes`."""
    from churnml.monitoring import outcomes_of

    return outcomes_of(runs, subscriptions, actions, as_of, config)


# ---------------------------------------------------------------------------------------------------- explain


def customers_of(data: Data, customer_ids: list[str] | pd.Index) -> Dataset:
    """Every row of these customers (not only what is known at some date); on a partitioned dataset only their
    buckets are read and validated."""
    ids = pd.Index(customer_ids).unique()
    if not isinstance(data, PartitionedData):
        return data.for_customers(ids)
    buckets = set(customer_bucket(pd.Series(ids, dtype="str"), data.bucket_count).tolist()) & set(data.buckets)
    parts = [validate_dataset(data.read_bucket(k, [str(i) for i in ids]), part=True).accepted.for_customers(ids) for k in sorted(buckets)]
    if not parts:
        return Dataset.from_frames({"subscriptions": empty_frame("subscriptions")})
    return Dataset.from_frames({name: pd.concat([part.table(name) for part in parts], ignore_index=True) for name, _ in parts[0].items()})


def explain(
    data: Data, as_of: str | pd.Timestamp, bundle: ModelBundle, config: ChurnConfig, customer_ids: list[str] | pd.Index,
    *, engine: Engine | None = None,
) -> Explanations:
    """Probability, tier, stage, cause, action and every contribution of chosen active customers, equal to what the
    nightly job computed for them. On a partitioned dataset the context pass reads every bucket, then only the
    customers' buckets are read again."""
    from churnml.explain import explain_customers

    if not isinstance(data, PartitionedData):
        return explain_customers(data, as_of, bundle, config, customer_ids)
    t = as_timestamp(as_of)
    context = _contexts(_OnDisk(data, t), engine or LocalEngine(), [t], config)[t]
    return explain_customers(customers_of(data, customer_ids), t, bundle, config, customer_ids, context=context)


# ---------------------------------------------------------------------------------------------------- winback


@dataclass
class WinbackResult:
    table: pd.DataFrame
    counts: dict[str, Any]


def _churned_task(k: int, source: _Source, t: pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    from churnml.modeling.winback import churned_in_window

    return churned_in_window(source.load(k).subscriptions, t, config)


def _winback_task(item: tuple[int, pd.DataFrame], source: _Source, bundle: ModelBundle, model: WinbackModel, config: ChurnConfig,
                  contexts: dict[pd.Timestamp, PopulationContext]) -> pd.DataFrame:
    """The listed churners of a part: cause at churn, reasons, return chance and monthly price."""
    from churnml.explain import attribute, render_reasons
    from churnml.modeling.winback import features_at_churn, return_features

    k, who = item
    known = source.load(k, customers=pd.Index(who["customer_id"].unique()))
    features = features_at_churn(known, who, config, contexts=contexts)
    features.index = pd.Index(who["customer_id"].to_numpy(), name="customer_id")
    registry = _registry(next(iter(contexts.values())), config)
    why = attribute(features, bundle, registry, config)
    out = pd.DataFrame({"cause_at_churn": why.causes["primary_cause"].to_numpy(), "cause_share": why.causes["cause_share"].to_numpy()},
                       index=features.index)
    for j, texts in enumerate(render_reasons(why.reasons, features[bundle.feature_names], registry), start=1):
        out[f"reason_{j}"] = texts
    out["return_probability"] = model.returns.predict(return_features(known, who, bundle, config, contexts=contexts))
    out["monthly_price"] = features["monthly_price"].to_numpy(dtype=float) if "monthly_price" in features else np.nan
    return out


def winback(
    data: Data,
    as_of: str | pd.Timestamp,
    bundle: ModelBundle,
    config: ChurnConfig,
    *,
    model: WinbackModel | None = None,
    engine: Engine | None = None,
    progress: bool = False,
) -> WinbackResult:
    """The win-back list (contract section 4) as a frame, sorted by expected value (ties by customer id).

    ``model`` is the bundle's return model (:func:`churnml.modeling.winback.winback_model`) unless given. Three
    passes over the parts: who churned in the window, the population context at their churn nights and months, then
    their features, causes and return chances.
    """
    from churnml.modeling.winback import churn_nights, month_before, winback_model

    t = as_timestamp(as_of)
    model = model or winback_model(bundle)
    engine = engine or LocalEngine(progress)
    source = _source(data, t, config, engine)
    w = config.winback
    found = engine.map(_churned_task, source.keys, source, t, config, label="churned customers")
    listed = [(k, who) for k, who in zip(source.keys, found, strict=True) if len(who)]
    who = pd.concat([rows for _, rows in listed], ignore_index=True) if listed else found[0].iloc[:0]
    who = who.sort_values("customer_id", kind="stable").reset_index(drop=True)
    table = who.assign(as_of_date=str(t.date()))
    n = len(who)
    for col in ("cause_at_churn", "reason_1", "reason_2", "reason_3"):
        table[col] = ""
    table["cause_share"] = np.nan
    if n:
        days = sorted(set(churn_nights(who)) | set(month_before(who["churn_date"])))
        contexts = _contexts(source, engine, [pd.Timestamp(d) for d in days], config)
        parts = engine.map(_winback_task, listed, source, bundle, model, config, contexts, label="win-back")
        why = _stacked(parts).reindex(pd.Index(who["customer_id"].to_numpy(), name="customer_id"))
        for col in ("cause_at_churn", "cause_share", "reason_1", "reason_2", "reason_3"):
            table[col] = why[col].to_numpy()
        p = why["return_probability"].to_numpy(dtype=float)
        price = why["monthly_price"].to_numpy(dtype=float)
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


def report_inputs(scores: pd.DataFrame, manifest: Mapping[str, Any], dataset: Dataset, bundle: ModelBundle,
                  config: ChurnConfig, **options: Any):
    """Everything the analysts' report shows for a scores frame and its run manifest
    (:func:`churnml.report.gather.gather_report_inputs`, whose keyword options it passes on)."""
    from churnml.report.gather import gather_report_inputs

    return gather_report_inputs(scores, manifest, dataset, bundle, config, **options)
