"""Out-of-time training of the churn model, with calibration and evaluation against baselines.

Snapshots are split by date, never by random rows: the oldest train the booster, the next one tunes it (early
stopping and calibration, so calibration never sees training predictions), and the latest ones validate.
Data with one snapshot date (an imported snapshot table) falls back to a stratified holdout by customer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from churnml.config import ChurnConfig, Family, ModelConfig
from churnml.modeling.baselines import LogisticBaseline, OneFeatureRule
from churnml.modeling.bundle import FeatureInfo, ModelBundle
from churnml.modeling.calibration import Calibrator, reliability_table
from churnml.modeling.evaluate import classification_metrics, lift_curve, metrics_by_group
from churnml.modeling.profile import leavers_profile
from churnml.monitoring import reference_summary, usual_moves

META_COLUMNS = ("snapshot_date", "customer_id", "lifecycle_stage", "label")
TUNE_SHARE = 0.2  # share of customers held out for tuning when dates are too few to tune out of time


def feature_columns(snapshots: pd.DataFrame) -> list[str]:
    return [c for c in snapshots.columns if c not in META_COLUMNS]


@dataclass
class Split:
    """Which snapshot rows train, tune (early stopping + calibration) and validate."""

    strategy: str  # "out_of_time", "out_of_time_customer_tune" or "stratified_holdout"
    train: np.ndarray
    tune: np.ndarray
    valid: np.ndarray
    description: str

    def dates(self, snapshots: pd.DataFrame, mask: np.ndarray) -> list[str]:
        return sorted({str(d.date()) for d in snapshots.loc[mask, "snapshot_date"].unique()})


def _customer_sample(customers: pd.Series, share: float, seed: int, stratify: pd.Series | None = None) -> np.ndarray:
    """Rows whose customer falls in a reproducible ``share`` of customers (stratified by label when given)."""
    unique = np.asarray(customers.unique(), dtype=object)
    if stratify is not None:
        labels = stratify.groupby(customers.to_numpy()).max().reindex(unique).to_numpy()
        _, held = train_test_split(unique, test_size=share, random_state=seed, stratify=labels)
    else:
        _, held = train_test_split(unique, test_size=share, random_state=seed)
    return customers.isin(held).to_numpy()


def split_snapshots(snapshots: pd.DataFrame, config: ModelConfig, validation_snapshots: int = 1, horizon_days: int = 60) -> Split:
    """Purged out-of-time split when dates allow; a stratified holdout by customer when there is one date.

    A snapshot's label looks ``horizon_days`` ahead, so consecutive monthly snapshots share outcomes: a customer
    leaving in September is a churner at both Aug 1 and Sep 1. Every training snapshot's label window therefore
    closes by the tuning snapshot, and the tuning snapshot's by the first validation snapshot; otherwise early
    stopping and calibration would reward memorising customers instead of learning churn.
    """
    dates = np.sort(snapshots["snapshot_date"].unique())
    d = snapshots["snapshot_date"].to_numpy()
    horizon = np.timedelta64(horizon_days, "D")
    if len(dates) >= 2:
        first_valid = dates[-min(validation_snapshots, len(dates) - 1)]
        valid = d >= first_valid
        tune_candidates = dates[dates + horizon <= first_valid]
        if len(tune_candidates):
            tune_date = tune_candidates[-1]
            train = d + horizon <= tune_date
            if train.any():
                n_train = len(np.unique(d[train]))
                return Split(
                    "out_of_time",
                    train,
                    d == tune_date,
                    valid,
                    f"train on {n_train} snapshots to {pd.Timestamp(d[train].max()).date()}, tune on "
                    f"{pd.Timestamp(tune_date).date()}, validate from {pd.Timestamp(first_valid).date()}; label windows never overlap",
                )
            earlier = d + horizon <= first_valid
            tune = earlier & _customer_sample(snapshots["customer_id"], TUNE_SHARE, config.seed)
            return Split(
                "out_of_time_customer_tune",
                earlier & ~tune,
                tune,
                valid,
                f"validate from {pd.Timestamp(first_valid).date()}; too few earlier dates to tune out of time, so 20% of customers of the earlier snapshots tune",
            )
    valid = _customer_sample(snapshots["customer_id"], config.holdout_fraction, config.seed, snapshots["label"])
    rest = snapshots.loc[~valid]
    tune = np.zeros(len(snapshots), dtype=bool)
    tune[np.flatnonzero(~valid)[_customer_sample(rest["customer_id"], TUNE_SHARE, config.seed + 1, rest["label"])]] = True
    return Split(
        "stratified_holdout",
        ~valid & ~tune,
        tune,
        valid,
        f"one snapshot date: stratified holdout of {config.holdout_fraction:.0%} of customers validates, 20% of the rest tunes",
    )


class ChurnClassifier:
    """LightGBM on native categoricals with early stopping, followed by a probability calibrator.

    Hyperparameters come from :class:`ModelConfig`; ``fit`` learns ``booster_`` on the training rows, stops
    early on the tuning rows, and fits ``calibrator_`` on the tuning rows' predictions.
    """

    def __init__(self, config: ModelConfig = ModelConfig()):  # noqa: B008 - frozen, so one shared default is safe
        self.config = config

    def _params(self, y: np.ndarray) -> dict[str, Any]:
        c = self.config
        params = {
            "objective": "binary",
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "min_child_samples": c.min_child_samples,
            "feature_fraction": c.feature_fraction,
            "bagging_fraction": c.bagging_fraction,
            "bagging_freq": c.bagging_freq,
            "lambda_l2": c.lambda_l2,
            "seed": c.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": c.num_threads,
            "verbosity": -1,
        }
        if c.class_weight == "balanced" and y.sum():
            # Reweighting, not oversampling: every row stays a real row of its own snapshot.
            params["scale_pos_weight"] = float((len(y) - y.sum()) / y.sum())
        return params

    def fit(self, X: pd.DataFrame, y: np.ndarray, X_tune: pd.DataFrame, y_tune: np.ndarray) -> ChurnClassifier:
        y, y_tune = np.asarray(y, dtype=int), np.asarray(y_tune, dtype=int)
        if y.min() == y.max():
            raise ValueError("the training rows hold a single class (no churner, or no customer who stayed)")
        train_set = lgb.Dataset(X, y, free_raw_data=False)
        tune_set = lgb.Dataset(X_tune, y_tune, reference=train_set)
        self.params_ = self._params(y)
        self.booster_ = lgb.train(
            self.params_,
            train_set,
            num_boost_round=self.config.max_rounds,
            valid_sets=[tune_set],
            valid_names=["tune"],
            callbacks=[lgb.early_stopping(self.config.early_stopping_rounds, verbose=False, min_delta=self._min_delta(y_tune))],
        )
        self.best_iteration_ = int(self.booster_.best_iteration or self.booster_.current_iteration())
        self.calibrator_ = Calibrator(self.config.calibration).fit(self.predict_raw(X_tune), y_tune)
        if self.config.calibration_level == "history":
            history = pd.concat([X, X_tune])
            self.calibrator_.relevel(self.predict_raw(history), np.concatenate([y, y_tune]))
        return self

    def _min_delta(self, y_tune: np.ndarray) -> float:
        """The log-loss gain a round must add to count as progress: ``early_stopping_min_gain`` of the no-skill log
        loss on the tuning rows, so the rule means the same at any base rate."""
        base = float(np.clip(y_tune.mean(), 1e-12, 1 - 1e-12))
        no_skill = -(base * np.log(base) + (1 - base) * np.log(1 - base))
        return self.config.early_stopping_min_gain * no_skill

    def predict_raw(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster_.predict(X, num_iteration=self.best_iteration_))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.calibrator_.transform(self.predict_raw(X))


@dataclass
class TrainingResult:
    bundle: ModelBundle
    split: Split
    metrics: dict[str, Any]
    curves: dict[str, Any] = field(default_factory=dict)  # data behind the evaluation plots
    summary_rows: list[tuple[str, dict[str, float]]] = field(default_factory=list)


def _feature_infos(X: pd.DataFrame, families: Mapping[str, Family]) -> list[FeatureInfo]:
    infos = []
    for c in X.columns:
        if isinstance(X[c].dtype, pd.CategoricalDtype):
            infos.append(FeatureInfo(c, families.get(c, Family.OTHER), "category", tuple(str(v) for v in X[c].cat.categories)))
        else:
            infos.append(FeatureInfo(c, families.get(c, Family.OTHER), "numeric"))
    return infos


def numeric_ranges(X: pd.DataFrame) -> dict[str, list[float]]:
    """Training minimum and maximum of every numeric feature with values: scoring counts what falls outside."""
    out: dict[str, list[float]] = {}
    for c in X.columns:
        if isinstance(X[c].dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(X[c].dtype):
            continue
        v = pd.to_numeric(X[c], errors="coerce")
        if v.notna().any():
            out[c] = [float(v.min()), float(v.max())]
    return out


def typical_values(X: pd.DataFrame) -> dict[str, Any]:
    """Each feature's most common training value (median of numbers, most frequent level): the reference of an
    attribute configured as a price or service matter without a healthy value of its own."""
    out: dict[str, Any] = {}
    for c in X.columns:
        col = X[c]
        if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            counts = col.astype("string").value_counts(sort=True)
            out[c] = str(counts.index[0]) if len(counts) else None
        else:
            median = float(pd.to_numeric(col, errors="coerce").median())
            out[c] = None if np.isnan(median) else median
    return out


def _version(model_text_hash: str, created: datetime) -> str:
    return f"{created:%Y%m%d-%H%M%S}-{model_text_hash[:8]}"


def _reference(X: pd.DataFrame, dates: pd.Series, Xva: pd.DataFrame, p_va: np.ndarray, bins: int) -> dict[str, Any]:
    """The drift reference: the validation snapshots' bins and shares, and each feature's usual move from one
    training month to the next (what a nightly run's move since the previous one is weighed against)."""
    reference = reference_summary(Xva, p_va, bins=bins)
    months = [frame for _, frame in X.groupby(dates.to_numpy(), sort=True)]
    for name, move in usual_moves(months, reference).items():
        reference["features"][name]["usual_move"] = move
    return reference


def train_model(
    snapshots: pd.DataFrame,
    config: ChurnConfig,
    families: Mapping[str, Family],
    *,
    as_of: pd.Timestamp,
    oracle: pd.DataFrame | None = None,
    data_fingerprint: dict[str, Any] | None = None,
    shap_sample: int = 2000,
) -> TrainingResult:
    """Train, calibrate and evaluate on training snapshots; return the bundle and every figure measured."""
    features = feature_columns(snapshots)
    split = split_snapshots(snapshots, config.model, config.snapshots.validation_snapshots, config.labels.horizon_days)
    if not split.train.any():
        raise ValueError("no snapshot is old enough to train on; use an as-of date with more history or more snapshots")
    X, y = snapshots[features], snapshots["label"].to_numpy(dtype=int)
    Xtr, ytr, Xtu, ytu, Xva, yva = X[split.train], y[split.train], X[split.tune], y[split.tune], X[split.valid], y[split.valid]
    if len(Xva) == 0 or len(Xtu) == 0:
        raise ValueError("not enough snapshot rows to train, tune and validate; use an as-of date with more history")

    model = ChurnClassifier(config.model).fit(Xtr, ytr, Xtu, ytu)
    capacity = config.flagging.top_fraction or 0.10
    raw_va = model.predict_raw(Xva)
    p_va = model.calibrator_.transform(raw_va)

    metrics: dict[str, Any] = {
        "model": classification_metrics(yva, p_va, capacity),
        "model_uncalibrated": classification_metrics(yva, raw_va, capacity),
        "by_stage": metrics_by_group(yva, p_va, snapshots.loc[split.valid, "lifecycle_stage"], capacity),
    }
    curves: dict[str, Any] = {"y": yva, "model": p_va, "model_uncalibrated": raw_va}

    for name, baseline in (("logistic", LogisticBaseline(seed=config.model.seed)), ("rule", OneFeatureRule())):
        baseline.fit(Xtr, ytr)
        cal = Calibrator(config.model.calibration).fit(baseline.score(Xtu), ytu)
        pb = cal.transform(baseline.score(Xva))
        metrics[name] = classification_metrics(yva, pb, capacity)
        curves[name] = pb
        if isinstance(baseline, OneFeatureRule):
            metrics["rule"]["feature"] = baseline.feature_

    if oracle is not None and len(oracle):
        keyed = snapshots.loc[split.valid, ["customer_id", "snapshot_date"]].merge(
            oracle.rename(columns={"as_of_date": "snapshot_date"}), on=["customer_id", "snapshot_date"], how="left"
        )
        have = keyed["oracle_probability"].notna().to_numpy()
        if have.any():
            metrics["oracle"] = classification_metrics(yva[have], keyed["oracle_probability"].to_numpy()[have], capacity)
            metrics["oracle"]["coverage"] = float(have.mean())
            metrics["model_on_oracle_rows"] = classification_metrics(yva[have], p_va[have], capacity)
            metrics["model_oracle_auc_ratio"] = metrics["model_on_oracle_rows"]["roc_auc"] / metrics["oracle"]["roc_auc"]
            curves["oracle"] = np.where(have, keyed["oracle_probability"].to_numpy(), np.nan)

    curves["reliability_before"] = reliability_table(yva, raw_va)
    curves["reliability_after"] = reliability_table(yva, p_va)
    curves["lift"] = {k: lift_curve(yva, curves[k]) for k in ("model", "logistic", "rule")}
    curves["importance"] = pd.Series(model.booster_.feature_importance("gain", iteration=model.best_iteration_), index=features).sort_values(ascending=False)
    sample = Xva.sample(min(shap_sample, len(Xva)), random_state=config.model.seed) if len(Xva) else Xva
    curves["shap"] = (np.asarray(model.booster_.predict(sample, pred_contrib=True, num_iteration=model.best_iteration_))[:, :-1], sample)

    created = datetime.now(UTC).replace(microsecond=0)
    model_text = model.booster_.model_to_string(num_iteration=model.best_iteration_)
    meta = {
        "version": _version(hashlib.sha256(model_text.encode()).hexdigest(), created),
        "created": created.isoformat(),
        "as_of": str(pd.Timestamp(as_of).date()),
        "horizon_days": config.labels.horizon_days,
        "grace_days": config.labels.grace_days,
        "best_iteration": model.best_iteration_,
        "lightgbm_version": lgb.__version__,
        "split": {
            "strategy": split.strategy,
            "description": split.description,
            "train_snapshots": split.dates(snapshots, split.train),
            "tune_snapshots": split.dates(snapshots, split.tune),
            "validation_snapshots": split.dates(snapshots, split.valid),
            "rows": {"train": int(split.train.sum()), "tune": int(split.tune.sum()), "validation": int(split.valid.sum())},
        },
        "metrics": {k: metrics[k] for k in ("model", "model_uncalibrated", "logistic", "rule", "oracle", "model_oracle_auc_ratio") if k in metrics},
        "config_hash": config.fingerprint(),
        "config": config.model_dump(mode="json"),
        "data_fingerprint": data_fingerprint or {},
        "typical_values": typical_values(Xtr),
        "numeric_ranges": numeric_ranges(X),
        # What the nightly runs measure drift against: the validation snapshots, the latest labelled population.
        "reference": _reference(X, snapshots["snapshot_date"], Xva, p_va, config.monitoring.drift_bins),
        # What the report's "leavers against stayers" shows, so it never rebuilds training snapshots.
        "profile": leavers_profile(snapshots, {name: family.value for name, family in families.items()}),
    }
    bundle = ModelBundle(model.booster_, model.calibrator_, _feature_infos(X, families), meta)
    summary: list[tuple[str, dict[str, float]]] = [(k, metrics[k]) for k in ("model", "logistic", "rule", "oracle") if k in metrics]
    return TrainingResult(bundle, split, metrics, curves, summary)
