"""Training on synthetic snapshot frames with a known signal: split, determinism, calibration, baselines."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from churnml.config import ChurnConfig, Family, parse_config
from churnml.modeling.train import ChurnClassifier, split_snapshots, train_model


def _snapshots(n_customers=1500, n_dates=8, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for date in pd.date_range("2025-01-01", periods=n_dates, freq="MS"):
        waits = rng.exponential(10, n_customers)
        rise = rng.binomial(1, 0.2, n_customers) * rng.uniform(0, 20, n_customers)
        plan = rng.choice(["basic", "plus", "max"], n_customers)
        logit = -3.5 + 0.08 * waits + 0.1 * rise + (plan == "max") * 0.5
        y = (rng.uniform(size=n_customers) < 1 / (1 + np.exp(-logit))).astype(int)
        frames.append(
            pd.DataFrame(
                {
                    "snapshot_date": date,
                    "customer_id": [f"{c:05d}" for c in range(n_customers)],
                    "mean_wait": waits,
                    "price_rise_pct": rise,
                    "noise": rng.normal(size=n_customers),
                    "plan": pd.Categorical(plan, categories=["basic", "max", "plus"]),
                    "lifecycle_stage": rng.choice(["new", "established"], n_customers),
                    "label": y,
                    "true_p": 1 / (1 + np.exp(-logit)),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _without_truth(snaps):
    return snaps.drop(columns="true_p")


FAMILIES = {"mean_wait": Family.SERVICE, "price_rise_pct": Family.PRICE, "plan": Family.PRICE, "noise": Family.OTHER}
FAST = parse_config({"model": {"max_rounds": 200, "early_stopping_rounds": 20, "num_threads": 1}})


def test_out_of_time_split_never_trains_on_or_after_validation():
    snaps = _without_truth(_snapshots(200, 8))
    split = split_snapshots(snaps, ChurnConfig().model, horizon_days=60)
    assert split.strategy == "out_of_time"
    d = snaps["snapshot_date"]
    assert d[split.train].max() < d[split.tune].min() <= d[split.tune].max() < d[split.valid].min()
    assert not (split.train & split.valid).any() and not (split.tune & split.valid).any()


def test_label_windows_of_train_tune_and_validation_never_overlap():
    snaps = _without_truth(_snapshots(200, 8))
    horizon = pd.Timedelta(days=60)
    split = split_snapshots(snaps, ChurnConfig().model, horizon_days=60)
    d = snaps["snapshot_date"]
    assert d[split.train].max() + horizon <= d[split.tune].min()
    assert d[split.tune].max() + horizon <= d[split.valid].min()
    # 2025-01..08: validate Aug, tune Jun, train up to Apr (Apr 1 + 60 days = May 31)
    assert sorted(d[split.train].dt.month.unique()) == [1, 2, 3, 4]


def test_few_dates_tune_on_a_customer_sample_of_purged_earlier_snapshots():
    snaps = _without_truth(_snapshots(400, 4))
    split = split_snapshots(snaps, ChurnConfig().model, horizon_days=60)
    assert split.strategy == "out_of_time_customer_tune"
    d = snaps["snapshot_date"]
    assert (d[split.train | split.tune] + pd.Timedelta(days=60)).max() <= d[split.valid].min()
    assert not set(snaps.customer_id[split.train]) & set(snaps.customer_id[split.tune])


def test_single_snapshot_falls_back_to_stratified_customer_holdout():
    snaps = _without_truth(_snapshots(2000, 1))
    split = split_snapshots(snaps, ChurnConfig().model)
    assert split.strategy == "stratified_holdout"
    assert abs(split.valid.mean() - 0.25) < 0.01
    assert not set(snaps.customer_id[split.valid]) & set(snaps.customer_id[~split.valid])
    assert not (split.train & split.tune).any()
    rate = snaps["label"].mean()
    assert abs(snaps.loc[split.valid, "label"].mean() - rate) < 0.01


@pytest.mark.slow
def test_training_is_deterministic():
    snaps = _without_truth(_snapshots())
    a = train_model(snaps, FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"))
    b = train_model(snaps, FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"))
    assert a.bundle.to_files()[0] == b.bundle.to_files()[0]


@pytest.mark.slow
def test_model_learns_signal_and_beats_the_rule():
    snaps = _snapshots()
    result = train_model(_without_truth(snaps), FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"))
    m = result.metrics
    last = snaps["snapshot_date"] == snaps["snapshot_date"].max()
    best_possible = roc_auc_score(snaps.loc[last, "label"], snaps.loc[last, "true_p"])
    assert m["model"]["roc_auc"] > 0.95 * best_possible
    assert m["model"]["roc_auc"] > m["rule"]["roc_auc"]
    assert m["rule"]["feature"] == "mean_wait"
    assert set(m["by_stage"]) == {"new", "established"}
    infos = {f.name: f for f in result.bundle.features}
    assert infos["plan"].dtype == "category" and infos["plan"].categories == ("basic", "max", "plus")
    assert infos["mean_wait"].family is Family.SERVICE
    assert result.bundle.meta["split"]["validation_snapshots"] == ["2025-08-01"]
    assert result.bundle.meta["split"]["tune_snapshots"] == ["2025-06-01"]


@pytest.mark.slow
def test_oracle_figures_are_reported_when_given():
    snaps = _without_truth(_snapshots())
    oracle = snaps[["customer_id", "snapshot_date"]].rename(columns={"snapshot_date": "as_of_date"})
    oracle["oracle_probability"] = snaps["label"] * 0.5 + 0.25  # a perfect oracle
    result = train_model(snaps, FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"), oracle=oracle)
    assert result.metrics["oracle"]["roc_auc"] == 1.0
    assert 0 < result.metrics["model_oracle_auc_ratio"] < 1


def test_single_class_training_is_refused():
    snaps = _without_truth(_snapshots(300, 4)).assign(label=0)
    with pytest.raises(ValueError, match="single class"):
        train_model(snaps, FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"))


@pytest.mark.slow
def test_balanced_class_weight_reweights_without_new_rows():
    snaps = _without_truth(_snapshots(500, 4))
    cfg = parse_config({"model": {"class_weight": "balanced", "max_rounds": 20}})
    clf = ChurnClassifier(cfg.model)
    X = snaps[["mean_wait", "price_rise_pct"]]
    clf.fit(X, snaps["label"].to_numpy(), X, snaps["label"].to_numpy())
    y = snaps["label"].to_numpy()
    assert np.isclose(clf.params_["scale_pos_weight"], (len(y) - y.sum()) / y.sum())
    assert clf.booster_.num_feature() == 2


def test_min_gain_is_a_share_of_the_no_skill_log_loss():
    clf = ChurnClassifier(parse_config({"model": {"early_stopping_min_gain": 0.001}}).model)
    y = np.array([1] * 5 + [0] * 95)  # base rate 5%: no-skill log loss 0.19852
    assert np.isclose(clf._min_delta(y), 0.001 * -(0.05 * np.log(0.05) + 0.95 * np.log(0.95)))
    assert ChurnClassifier(parse_config({"model": {"early_stopping_min_gain": 0}}).model)._min_delta(y) == 0


@pytest.mark.parametrize("gain, fewer", [(0.0, False), (0.01, True)])
def test_min_gain_stops_once_rounds_gain_little(gain, fewer):
    """Rounds that lower the tuning log loss by less than the share no longer keep training going."""
    snaps = _without_truth(_snapshots(1500, 4))
    X, y = snaps[["mean_wait", "price_rise_pct", "noise"]], snaps["label"].to_numpy()
    tune = snaps["snapshot_date"] == snaps["snapshot_date"].max()
    fitted = {}
    for g in (0.0, gain):
        cfg = parse_config({"model": {"early_stopping_min_gain": g, "early_stopping_rounds": 20, "learning_rate": 0.1}})
        fitted[g] = ChurnClassifier(cfg.model).fit(X[~tune], y[~tune], X[tune], y[tune]).best_iteration_
    assert (fitted[gain] < fitted[0.0]) is fewer


def test_the_bundle_keeps_the_leavers_against_stayers_profile():
    """What the report shows of leavers and stayers is measured once, on the latest training snapshots."""
    snaps = _without_truth(_snapshots(n_customers=600, n_dates=8))
    result = train_model(snaps, FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"))
    profile = result.bundle.meta["profile"]
    latest = snaps[snaps["snapshot_date"] >= sorted(snaps["snapshot_date"].unique())[-6]]
    assert profile["info"]["rows"] == len(latest) and profile["info"]["leavers"] == int(latest["label"].sum())
    wait = next(r for r in profile["features"] if r["feature"] == "mean_wait")
    y = latest["label"] == 1
    assert wait["leavers"] == pytest.approx(latest.loc[y, "mean_wait"].mean())
    assert wait["stayers"] == pytest.approx(latest.loc[~y, "mean_wait"].mean())
    assert wait["effect"] > 0 and wait["family"] == "service"  # longer waits among leavers: the planted signal
    effects = [abs(r["effect"]) for r in profile["features"]]
    assert effects == sorted(effects, reverse=True)
    plans = [r for r in profile["rates"] if r["dimension"] == "plan"]
    assert sum(r["rows"] for r in plans) == len(latest) and {r["segment"] for r in plans} == {"basic", "max", "plus"}
