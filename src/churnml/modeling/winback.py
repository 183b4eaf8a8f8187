"""Win-back learning: will a churned customer come back, and how long does a won-back customer stay.

The list itself (why they left, the value gate, the action) is :func:`churnml.pipeline.winback`. Its parts, all
point in time:

* **Why they left**: the churn model's attribution (:func:`churnml.explain.causes.attribute`) on the features the
  customer had the night before their churn date, so the cause reads as it did on the night job's last list.
* **Will they come back**: a return model (:class:`ReturnModel`, LightGBM + calibration) learned from customers who
  churned earlier, at the same distance from their churn date as the listed ones, labelled by whether a new period
  started within ``winback.return_window_days`` of the churn. Trained out of time by snapshot date.
* **How long a won-back customer stays**: the Kaplan-Meier curve of earlier won-back runs (runs that followed a
  churn; open runs are censored at T), summarised as its restricted mean up to ``winback.horizon_months``.

Expected value = return probability x expected months x monthly margin - cost; :func:`churnml.decisions.winback_actions`
applies the gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family
from churnml.dataset import Dataset, as_timestamp
from churnml.features import PopulationContext, build_features, population_context
from churnml.lifecycle import churn_history, service_runs, subscriptions_as_of
from churnml.modeling.bundle import FeatureInfo, ModelBundle
from churnml.modeling.calibration import Calibrator
from churnml.modeling.evaluate import classification_metrics

# Inputs of the return model besides the churn model's features at churn.
RETURN_EXTRA_FEATURES = (
    "days_since_churn", "earlier_churns", "churn_probability_before_churn", "days_from_features_to_churn", "run_months_at_churn",
)
_DAYS_PER_MONTH = 30.4375


# ---------------------------------------------------------------------------------------------------- who


def churned_in_window(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, config: ChurnConfig) -> pd.DataFrame:
    """Customers whose churn date lies ``winback.min_days``..``max_days`` before T and who have not come back by T.

    Columns ``customer_id``, ``churn_date``, ``days_since_churn``, ``earlier_churns``, sorted by customer id. Reads the
    subscriptions as known at T: a period starting after T does not exist yet, one starting on T is a return.
    """
    t = as_timestamp(as_of)
    history = churn_history(subscriptions_as_of(subscriptions, t), config.labels.grace_days)
    days = (t - history["churn_date"]).dt.days.to_numpy()
    w = config.winback
    keep = (days >= w.min_days) & (days <= w.max_days) & history["next_start"].isna().to_numpy()
    out = history.loc[keep, ["customer_id", "churn_date", "run_start", "earlier_churns"]].assign(days_since_churn=days[keep])
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def return_training_rows(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, config: ChurnConfig, *, latest: bool = True) -> pd.DataFrame:
    """Earlier churners seen as the list would have seen them, with whether they came back.

    For each month start ``t`` before T, the customers who churned ``min_days``..``max_days`` before ``t`` and had not
    returned by ``t``; ``label`` 1 if their next run started within ``return_window_days`` of the churn date. Only
    churns whose return window closed before T are used, so every label is known at T. Without ``latest``, rows of
    every date are kept (one part's rows, before :func:`latest_return_rows` picks the dates over all parts).
    """
    t = as_timestamp(as_of)
    w = config.winback
    history = churn_history(subscriptions_as_of(subscriptions, t), config.labels.grace_days)
    window_end = history["churn_date"] + pd.Timedelta(days=w.return_window_days)
    history = history[(window_end < t).to_numpy()].reset_index(drop=True)
    if history.empty:
        return pd.DataFrame(columns=["snapshot_date", "customer_id", "churn_date", "run_start", "earlier_churns", "days_since_churn", "label"])
    earliest = history["churn_date"] + pd.Timedelta(days=w.min_days)
    first_t = earliest.dt.to_period("M").dt.start_time
    first_t = first_t.where(first_t >= earliest, first_t + pd.offsets.MonthBegin(1))
    parts = []
    for k in range(int(np.ceil((w.max_days - w.min_days + 1) / 28.0)) + 1):  # a few month starts fit in the window
        snap = first_t + pd.offsets.MonthBegin(k) if k else first_t
        days = (snap - history["churn_date"]).dt.days
        nxt = history["next_start"]
        keep = ((days <= w.max_days) & (nxt.isna() | (nxt > snap))).to_numpy()
        if keep.any():
            parts.append(history[keep].assign(snapshot_date=snap[keep], days_since_churn=days[keep].to_numpy()))
    rows = pd.concat(parts, ignore_index=True) if parts else history.iloc[:0].assign(snapshot_date=[], days_since_churn=[])
    back = rows["next_start"].notna() & (rows["next_start"] <= rows["churn_date"] + pd.Timedelta(days=w.return_window_days))
    rows = rows.assign(label=back.astype(int).to_numpy())
    cols = ["snapshot_date", "customer_id", "churn_date", "run_start", "earlier_churns", "days_since_churn", "label"]
    return latest_return_rows(rows[cols], config) if latest else rows[cols].reset_index(drop=True)


def latest_return_rows(rows: pd.DataFrame, config: ChurnConfig) -> pd.DataFrame:
    """Rows of the latest ``winback.max_snapshots`` dates, sorted by date then customer: applied to the rows of
    every part together, the training rows of the whole population."""
    dates = np.sort(rows["snapshot_date"].unique())
    rows = rows[rows["snapshot_date"] >= dates[-min(config.winback.max_snapshots, len(dates))]] if len(dates) else rows
    return rows.sort_values(["snapshot_date", "customer_id"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------------- why


def features_at_dates(
    dataset: Dataset, rows: pd.DataFrame, config: ChurnConfig, *, progress: bool = False, label: str = "features",
    contexts: Mapping[pd.Timestamp, PopulationContext] | None = None,
) -> pd.DataFrame:
    """The churn model's features of each (``customer_id``, ``feature_date``) row, one population context per date
    (from ``contexts`` when ``dataset`` is one part of the population, else computed from it).

    One row per row of ``rows``, in that order; a customer not active on their date gets missing values.
    """
    pairs = rows[["customer_id", "feature_date"]].drop_duplicates()
    mine = dataset.for_customers(pd.Index(pairs["customer_id"].unique()))
    frames = []
    groups = pairs.groupby("feature_date", sort=True)["customer_id"]
    if progress:
        from rich.progress import track

        groups = track(groups, description=label, total=pairs["feature_date"].nunique(), transient=True)
    for day, ids in groups:
        day = pd.Timestamp(day)
        context = contexts[day] if contexts is not None else population_context(dataset, day, config)
        features = build_features(mine.for_customers(pd.Index(ids.to_numpy())), day, config, context)
        features = features.reindex(pd.Index(np.sort(ids.to_numpy()), name="customer_id"))
        frames.append(features.assign(feature_date=day).reset_index())
    if not frames:
        return pd.DataFrame(index=rows.index)
    keyed = rows[["customer_id", "feature_date"]].merge(_concat_features(frames), on=["customer_id", "feature_date"], how="left")
    return keyed.drop(columns=["customer_id", "feature_date"]).set_axis(rows.index)


def churn_nights(churns: pd.DataFrame) -> pd.Series:
    """The night before each churn date: the features the nightly job saw on its last list with the customer."""
    return churns["churn_date"] - pd.Timedelta(days=1)


def features_at_churn(
    dataset: Dataset, churns: pd.DataFrame, config: ChurnConfig, *, progress: bool = False,
    contexts: Mapping[pd.Timestamp, PopulationContext] | None = None,
) -> pd.DataFrame:
    """Features as of the night before each churn date (:func:`churn_nights`)."""
    nights = churns[["customer_id"]].assign(feature_date=churn_nights(churns))
    return features_at_dates(dataset, nights, config, progress=progress, label="features at churn", contexts=contexts)


def month_before(churn_date: pd.Series) -> pd.Series:
    """The first of the month of the night before the churn: the return model's feature date."""
    return (churn_date - pd.Timedelta(days=1)).dt.to_period("M").dt.start_time


def _concat_features(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate feature frames whose categorical columns may list different levels (one context per date)."""
    categorical = {c for f in frames for c in f.columns if isinstance(f[c].dtype, pd.CategoricalDtype)}
    if categorical:
        levels = {c: sorted({str(v) for f in frames if c in f for v in f[c].cat.categories}) for c in categorical}
        frames = [f.assign(**{c: pd.Categorical(f[c].astype("str").where(f[c].notna()), categories=levels[c]) for c in categorical if c in f}) for f in frames]
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------- how long


def won_back_stays(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, grace_days: int) -> pd.DataFrame:
    """Every run of service that followed a churn, as known at T: ``months`` it lasted and whether it ``ended``
    (an open run is censored at T)."""
    t = as_timestamp(as_of)
    runs = service_runs(subscriptions_as_of(subscriptions, t), grace_days)
    returns = runs[(runs["earlier_runs"] > 0).to_numpy()]  # a run after an earlier one of the same customer
    days = (returns["run_end"].fillna(t) - returns["run_start"]).dt.days.to_numpy()
    return pd.DataFrame({"months": np.maximum(days, 0) / _DAYS_PER_MONTH, "ended": returns["run_end"].notna().to_numpy()})


def kaplan_meier(months: np.ndarray, ended: np.ndarray) -> pd.DataFrame:
    """Kaplan-Meier survival of stays: columns ``months`` (event times, 0 first) and ``survival``.

    Written out rather than taken from lifelines, whose releases pin pandas below 3.
    """
    months, ended = np.asarray(months, dtype=float), np.asarray(ended, dtype=bool)
    times, inverse = np.unique(months, return_inverse=True)
    events = np.bincount(inverse, weights=ended.astype(float), minlength=len(times))
    leaving = np.bincount(inverse, minlength=len(times)).astype(float)
    at_risk = len(months) - np.concatenate([[0.0], np.cumsum(leaving)[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - events / at_risk, 1.0)
    survival = np.cumprod(factor)
    keep = events > 0
    return pd.DataFrame({"months": np.concatenate([[0.0], times[keep]]), "survival": np.concatenate([[1.0], survival[keep]])})


def restricted_mean(curve: pd.DataFrame, horizon: float) -> float:
    """Area under a step survival curve from 0 to ``horizon``: the expected months stayed, counted up to it."""
    t = np.minimum(curve["months"].to_numpy(dtype=float), horizon)
    s = curve["survival"].to_numpy(dtype=float)
    edges = np.append(t, horizon)
    return float(np.sum(s * np.diff(edges)))


# ---------------------------------------------------------------------------------------------------- the model


class ReturnModel:
    """The return model: LightGBM plus calibration on earlier churners (scikit-learn conventions).

    ``fit`` learns ``bundle_`` (a :class:`ModelBundle` of its own: native text model, calibrator, feature list) and
    ``metrics_`` (out-of-time validation against a logistic baseline).
    """

    def __init__(self, config: ChurnConfig):
        self.config = config

    def fit(self, rows: pd.DataFrame, X: pd.DataFrame, families: dict[str, Family], version: str) -> ReturnModel:
        from churnml.modeling.baselines import LogisticBaseline
        from churnml.modeling.train import ChurnClassifier, _feature_infos, numeric_ranges

        y = rows["label"].to_numpy(dtype=int)
        dates = np.sort(rows["snapshot_date"].unique())
        d = rows["snapshot_date"].to_numpy()
        if len(dates) >= 4:
            # Out of time: the latest quarter of the dates validates, the quarter before tunes and calibrates.
            n_valid = max(1, len(dates) // 4)
            n_tune = max(1, min(len(dates) // 4, len(dates) - n_valid - 1))
            valid = d >= dates[-n_valid]
            tune = (d >= dates[-n_valid - n_tune]) & ~valid
            strategy = (f"train to {pd.Timestamp(dates[-n_valid - n_tune - 1]).date()}, tune from "
                        f"{pd.Timestamp(dates[-n_valid - n_tune]).date()}, validate from {pd.Timestamp(dates[-n_valid]).date()}")
        else:
            rng = np.random.default_rng(self.config.model.seed)
            draw = rng.random(len(rows))
            valid, tune = draw < 0.25, (draw >= 0.25) & (draw < 0.45)
            strategy = "fewer than four snapshot dates: a random quarter of rows validates, a fifth tunes"
        train = ~valid & ~tune
        for name, mask in (("training", train), ("tuning", tune), ("validation", valid)):
            if mask.sum() == 0 or y[mask].min() == y[mask].max():
                raise ValueError(f"the {name} rows of the return model hold a single class or none")
        # Earlier churners are far fewer than snapshot rows: leaves as large as the churn model's would stop the
        # trees from splitting at all on a small portfolio.
        leaf = min(self.config.model.min_child_samples, max(10, int(train.sum()) // 100))
        # Stopped by patience alone: on a return table of a few thousand rows the minimum-gain rule stopped too soon
        # (top-tenth capture 2.07 -> 1.95 on the default world).
        settings = {"min_child_samples": leaf, "early_stopping_min_gain": 0.0}
        model = ChurnClassifier(self.config.model.model_copy(update=settings)).fit(X[train], y[train], X[tune], y[tune])
        p_va = model.predict_proba(X[valid])
        baseline = LogisticBaseline(seed=self.config.model.seed).fit(X[train], y[train])
        cal = Calibrator(self.config.model.calibration).fit(baseline.score(X[tune]), y[tune])
        self.metrics_ = {
            "model": classification_metrics(y[valid], p_va),
            "logistic": classification_metrics(y[valid], cal.transform(baseline.score(X[valid]))),
            "split": strategy,
            "rows": {"train": int(train.sum()), "tune": int(tune.sum()), "validation": int(valid.sum())},
        }
        meta = {"version": f"{version}-return", "best_iteration": model.best_iteration_, "numeric_ranges": numeric_ranges(X)}
        self.bundle_ = ModelBundle(model.booster_, model.calibrator_, _feature_infos(X, families), meta)
        return self


def return_features(
    dataset: Dataset, rows: pd.DataFrame, churn_bundle: ModelBundle, config: ChurnConfig, *, progress: bool = False,
    contexts: Mapping[pd.Timestamp, PopulationContext] | None = None,
) -> pd.DataFrame:
    """The return model's inputs for rows of churns (``customer_id``, ``churn_date``, ``run_start``,
    ``earlier_churns``, ``days_since_churn``): the churn model's features on the first of the month before the churn
    (shared dates keep training fast; the same dates are used when listing), the churn probability they gave, the
    days from that date to the churn, the run's length, how long ago the churn was and how many came before it."""
    dated = rows[["customer_id"]].assign(feature_date=month_before(rows["churn_date"]))
    features = features_at_dates(dataset, dated, config, progress=progress, label="return model features", contexts=contexts)
    X = churn_bundle.prepare(features)
    extra = pd.DataFrame(
        {
            "days_since_churn": rows["days_since_churn"].to_numpy(dtype=float),
            "earlier_churns": rows["earlier_churns"].to_numpy(dtype=float),
            "churn_probability_before_churn": churn_bundle.predict(features),
            "days_from_features_to_churn": (rows["churn_date"] - dated["feature_date"]).dt.days.to_numpy(dtype=float),
            "run_months_at_churn": ((rows["churn_date"] - rows["run_start"]).dt.days / _DAYS_PER_MONTH).to_numpy(dtype=float),
        },
        index=X.index,
    )
    return pd.concat([X, extra], axis=1)


@dataclass
class WinbackModel:
    """What ``churnml winback`` needs beside the churn model: the return model and the stays curve."""

    returns: ModelBundle
    stays: pd.DataFrame  # Kaplan-Meier curve: months, survival
    meta: dict[str, Any] = field(default_factory=dict)  # expected_months, evaluation, training window

    @property
    def expected_months(self) -> float:
        return float(self.meta["expected_months"])


def train_winback(
    dataset: Dataset, as_of: str | pd.Timestamp, churn_bundle: ModelBundle, config: ChurnConfig, *, progress: bool = False
) -> WinbackModel:
    """Learn the return model and the stays curve from everything known at T; ``ValueError`` when history is too short."""
    t = as_timestamp(as_of)
    known = dataset.known_at(t)
    rows = return_training_rows(known.subscriptions, t, config)
    check_return_rows(rows, config)
    X = return_features(known, rows, churn_bundle, config, progress=progress)
    return fit_winback(rows, X, won_back_stays(known.subscriptions, t, config.labels.grace_days), churn_bundle, config)


def check_return_rows(rows: pd.DataFrame, config: ChurnConfig) -> None:
    """``ValueError`` when too few earlier churners have a known return outcome to learn from."""
    if len(rows) < config.winback.min_training_rows:
        raise ValueError(
            f"{len(rows)} earlier churners have a known return outcome (winback.min_training_rows is "
            f"{config.winback.min_training_rows}); the data needs churns at least {config.winback.return_window_days} days before T"
        )


def fit_winback(rows: pd.DataFrame, X: pd.DataFrame, stays: pd.DataFrame, churn_bundle: ModelBundle, config: ChurnConfig) -> WinbackModel:
    """The return model on ``rows`` and their features ``X``, and the stays curve of won-back runs ``stays``."""
    families = {f.name: f.family for f in churn_bundle.features} | {n: Family.OTHER for n in RETURN_EXTRA_FEATURES}
    model = ReturnModel(config).fit(rows, X, families, churn_bundle.version)
    curve = kaplan_meier(stays["months"].to_numpy(), stays["ended"].to_numpy())
    months = restricted_mean(curve, config.winback.horizon_months) if len(stays) else config.winback.horizon_months
    meta = {
        "expected_months": round(months, 4),
        "stays": {"runs": len(stays), "ended": int(stays["ended"].sum()), "method": "Kaplan-Meier, restricted mean"},
        "return_model": model.metrics_,
        "training_rows": len(rows),
        "return_rate": float(rows["label"].mean()),
        "return_window_days": config.winback.return_window_days,
        "window_days": [config.winback.min_days, config.winback.max_days],
    }
    return WinbackModel(model.bundle_, curve, meta)


# ---------------------------------------------------------------------------------------------------- in the bundle

RETURN_MODEL_FILE = "return_model.txt"


def attach_winback(bundle: ModelBundle, model: WinbackModel) -> None:
    """Keep the win-back model in the churn model's bundle: the return model as a native text file beside
    ``model.txt``, everything else in ``bundle.json`` (so both are verified and signed with the bundle)."""
    booster = model.returns.booster
    bundle.attachments[RETURN_MODEL_FILE] = booster.model_to_string(num_iteration=booster.best_iteration or None)
    bundle.meta["winback"] = {
        **model.meta,
        "stays_curve": {
            "months": [round(float(v), 4) for v in model.stays["months"]],
            "survival": [round(float(v), 6) for v in model.stays["survival"]],
        },
        "return_model_spec": {
            "features": [f.to_dict() for f in model.returns.features],
            "calibrator": model.returns.calibrator.to_dict(),
            "meta": model.returns.meta,
        },
    }


def winback_model(bundle: ModelBundle, source: str = "bundle") -> WinbackModel:
    """The win-back model kept in ``bundle``; :class:`~churnml.errors.ModelError` when it has none or it is unusable."""
    import lightgbm as lgb

    from churnml.errors import ModelError

    info = bundle.meta.get("winback") or {}
    if not isinstance(info, dict):
        raise ModelError(f"{source}: bundle.json of model {bundle.version} has a malformed winback entry ({type(info).__name__}, not an object); retrain or restore the bundle")
    if "return_model_spec" not in info or RETURN_MODEL_FILE not in bundle.attachments:
        why = info.get("not_trained", "it was trained before win-back existed")
        raise ModelError(f"{source}: model {bundle.version} has no return model ({why}); retrain with churnml train on data with longer history")
    try:
        spec = info["return_model_spec"]
        booster = lgb.Booster(model_str=bundle.attachments[RETURN_MODEL_FILE])
        features = [FeatureInfo.from_dict(d) for d in spec["features"]]
        if booster.feature_name() != [f.name for f in features]:
            raise ValueError("return_model.txt and bundle.json list different features")
        returns = ModelBundle(booster, Calibrator.from_dict(spec["calibrator"]), features, dict(spec["meta"]))
        returns._self_check()
        stays = pd.DataFrame({"months": info["stays_curve"]["months"], "survival": info["stays_curve"]["survival"]}, dtype=float)
        months = float(info["expected_months"])
        if not np.isfinite(months) or months <= 0:
            raise ValueError(f"expected_months {months} is not a positive number")
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, lgb.basic.LightGBMError) as exc:
        raise ModelError(f"{source}: the return model in bundle {bundle.version} is unusable ({type(exc).__name__}: {str(exc)[:200]}); retrain") from None
    return WinbackModel(returns, stays, info)


# ---------------------------------------------------------------------------------------------------- against truth


def winback_truth_metrics(table: pd.DataFrame, truth: pd.DataFrame, return_window_days: int) -> dict[str, Any]:
    """How a win-back list compares with the generator's truth (``truth.csv``): one function for tests, benchmarks
    and the README.

    Return model: ROC-AUC of ``return_probability`` and of the simulator's ``return_propensity`` against the
    realised return (a new period within the window). Cause: accuracy and recall per cause of ``cause_at_churn``
    against the planted cause. Value: the realised return value (returned x monthly margin) that the top tenth of
    the list by expected value captures, as a multiple of an average tenth's.
    """
    from sklearn.metrics import roc_auc_score

    keyed = table.merge(
        truth[["customer_id", "churn_date", "cause", "return_propensity", "return_date"]],
        on=["customer_id", "churn_date"], how="left",
    )
    have = keyed["cause"].notna().to_numpy()
    k = keyed[have].reset_index(drop=True)
    back = (k["return_date"].notna() & (k["return_date"] <= k["churn_date"] + pd.Timedelta(days=return_window_days))).to_numpy()
    out: dict[str, Any] = {"listed": len(table), "matched": int(have.sum()), "returned": float(back.mean()) if len(k) else float("nan")}
    two_classes = len(k) > 1 and 0 < back.sum() < len(back)
    out["return_auc"] = float(roc_auc_score(back, k["return_probability"])) if two_classes else float("nan")
    out["oracle_return_auc"] = float(roc_auc_score(back, k["return_propensity"])) if two_classes else float("nan")
    out["return_auc_ratio"] = out["return_auc"] / out["oracle_return_auc"] if two_classes else float("nan")
    out["mean_return_probability"] = float(k["return_probability"].mean()) if len(k) else float("nan")
    hit = (k["cause_at_churn"] == k["cause"]).to_numpy()
    out["cause_accuracy"] = float(hit.mean()) if len(k) else float("nan")
    for cause in ("price", "service", "other"):
        mine = (k["cause"] == cause).to_numpy()
        out[f"{cause}_recall"] = float(hit[mine].mean()) if mine.any() else float("nan")
        out[f"{cause}_leavers"] = int(mine.sum())
    value = back * k["monthly_margin"].to_numpy(dtype=float)
    n_top = max(1, len(k) // 10)
    top = np.argsort(-k["expected_value"].to_numpy(dtype=float), kind="stable")[:n_top]
    out["top_tenth_capture"] = float(value[top].sum() / (value.sum() * n_top / len(k))) if value.sum() > 0 else float("nan")
    return out
