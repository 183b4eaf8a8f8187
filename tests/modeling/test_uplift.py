import numpy as np
import pandas as pd
import pytest

from churnml.modeling.uplift import UpliftModel, treatment_of


def test_the_treatment_of_a_snapshot_is_the_first_action_in_its_window_and_a_recent_remedy_leaves_it_out():
    snaps = pd.DataFrame({"snapshot_date": pd.to_datetime(["2025-01-01"] * 4 + ["2025-02-01"]),
                          "customer_id": ["a", "b", "c", "d", "a"]})
    actions = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "d"],
        "timestamp": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-01-31", "2024-12-20", "2024-12-31T23:59:00"], format="ISO8601"),
        "action": ["senior_manager_call", "retention_offer", "retention_offer", "retention_offer", "retention_offer"],
    })
    action, keep = treatment_of(snaps, actions, window_days=30, washout_days=90)
    # a: the first of two in the window; b: 30 days after is outside; c, d: treated before, so not left alone;
    # a a month later: its remedies of January are in the washout.
    assert action.tolist() == ["senior_manager_call", "", "", "", ""]
    assert keep.tolist() == [True, True, False, False, False]


def test_an_empty_action_table_treats_nobody():
    snaps = pd.DataFrame({"snapshot_date": pd.to_datetime(["2025-01-01"]), "customer_id": ["a"]})
    action, keep = treatment_of(snaps, pd.DataFrame(columns=["customer_id", "timestamp", "action"]), 30, 90)
    assert action.tolist() == [""] and keep.tolist() == [True]


def _world(n=40_000, seed=0):
    """Churn rises with x; the offer cuts it by half where the price pain p is high, not at all where it is low;
    the call does nothing. Treatment is random."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": rng.normal(size=n), "p": rng.random(n)})
    base = 1 / (1 + np.exp(-(-2.0 + X["x"])))
    action = rng.choice(["", "retention_offer", "senior_manager_call"], n, p=[0.6, 0.2, 0.2])
    effect = np.where((action == "retention_offer") & (X["p"] > 0.5), 0.5, 0.0)
    y = rng.random(n) < base * (1 - effect)
    return X, action, y.astype(int), base


@pytest.mark.slow
def test_uplift_finds_whom_the_offer_helps_and_that_the_call_helps_nobody():
    X, action, y, base = _world()
    model = UpliftModel(n_estimators=100, num_threads=1).fit(X, action, y)
    assert model.actions_ == ["retention_offer", "senior_manager_call"]
    u = model.predict(X)
    helped = X["p"] > 0.5
    assert u.loc[helped, "retention_offer"].mean() > 0.05
    assert abs(u.loc[~helped, "retention_offer"].mean()) < 0.02 and abs(u["senior_manager_call"].mean()) < 0.02
    # the quarter ranked first by the offer's uplift holds most of what the offer truly saves
    truth = np.where(helped, 0.5 * base, 0.0)
    top = (u["retention_offer"].rank(ascending=False) <= len(X) // 4).to_numpy()
    assert truth[top].sum() / truth.sum() > 0.6
    best, lift = model.best(X)
    assert (best[helped.to_numpy()] == "retention_offer").mean() > 0.9 and np.allclose(lift, u.max(axis=1))


def test_the_uplift_model_travels_as_text_and_predicts_the_same():
    X, action, y, _ = _world(n=6_000, seed=1)
    model = UpliftModel(n_estimators=20, shift_estimators=10, num_threads=1).fit(X, action, y)
    meta, texts = model.to_files()
    assert sorted(texts) == ["uplift_control.txt", "uplift_retention_offer.txt", "uplift_senior_manager_call.txt"]
    again = UpliftModel.from_files(meta, texts)
    pd.testing.assert_frame_equal(again.predict(X), model.predict(X))
    assert again.get_params() == model.get_params()


def test_too_few_treated_rows_is_a_clear_error():
    X, action, y, _ = _world(n=2_000)
    with pytest.raises(ValueError, match="too few treated"):
        UpliftModel(min_treated=5_000).fit(X, action, y)


def test_from_the_churn_models_log_odds_both_arms_learn_only_their_shift():
    X, action, y, base = _world(n=20_000, seed=2)
    start = np.log(base / (1 - base)).to_numpy()
    model = UpliftModel(num_threads=1).fit(X, action, y, base=start)
    u = model.predict(X, base=start)
    helped = (X["p"] > 0.5).to_numpy()
    assert u.loc[helped, "retention_offer"].mean() > 0.05 > abs(u.loc[~helped, "retention_offer"].mean())
    with pytest.raises(ValueError, match="log-odds"):
        model.predict(X)
    again = UpliftModel.from_files(*model.to_files())
    pd.testing.assert_frame_equal(again.predict(X, base=start), u)


def test_win_back_remedies_are_not_learned_as_retention_actions():
    from types import SimpleNamespace

    from churnml.modeling.uplift import learn_uplift

    X, action, y, _ = _world(n=4_000, seed=3)
    day = pd.Timestamp("2025-01-01")
    snaps = X.assign(customer_id=[f"c{i}" for i in range(len(X))], snapshot_date=day, label=y)
    treated = np.flatnonzero(action != "")
    actions = pd.DataFrame({"customer_id": snaps["customer_id"].to_numpy()[treated], "timestamp": day + pd.Timedelta(days=3),
                            "action": np.where(action[treated] == "retention_offer", "retention_offer", "winback_offer"),
                            "cost": 10.0})
    bundle = SimpleNamespace(feature_names=["x", "p"], prepare=lambda frame: frame, predict_log_odds=lambda frame: np.zeros(len(frame)))
    model, costs = learn_uplift(snaps, actions, bundle, 30, 90, min_treated=200, num_threads=1)
    assert model.actions_ == ["retention_offer"] and costs == {"retention_offer": 10.0}


# ------------------------------------------------------------------------------------------ the cause learner

FAMILIES = {"retention_offer": "price", "senior_manager_call": "service", "onboarding_care": "other"}


def _cause_world(n=60_000, seed=0, theta=0.6, bias=0.3):
    """Churn log-odds ``base``; an offer takes ``theta`` of the price headroom off, on customers the CRM chose among
    the riskier than their features say (``bias``); a call does nothing; onboarding care shifts everyone by 0.2."""
    rng = np.random.default_rng(seed)
    base = rng.normal(-2.0, 1.0, n)
    headroom = rng.uniform(0.0, 1.5, (n, 2))
    action = rng.choice(["", "retention_offer", "senior_manager_call", "onboarding_care"], n, p=[0.55, 0.15, 0.15, 0.15])
    z = base.copy()
    offer, call, care = (action == "retention_offer"), (action == "senior_manager_call"), (action == "onboarding_care")
    z[offer] += bias - theta * headroom[offer, 0]
    z[call] += bias
    z[care] -= 0.2
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return headroom, action, y, base


def test_the_cause_learner_recovers_each_actions_share_of_its_familys_headroom():
    from churnml.modeling.uplift import CauseUpliftModel

    headroom, action, y, base = _cause_world()
    model = CauseUpliftModel().fit(headroom, action, y, base, FAMILIES)
    assert model.actions_ == ["onboarding_care", "retention_offer", "senior_manager_call"]
    assert abs(model.theta_["retention_offer"] - 0.6) < 3 * model.theta_se_["retention_offer"] < 0.3
    assert abs(model.bias_["retention_offer"] - 0.3) < 0.15  # whom the CRM chose is not taken for the effect
    assert model.theta_["senior_manager_call"] < 2 * model.theta_se_["senior_manager_call"]  # a call that does nothing
    assert abs(model.theta_["onboarding_care"] - 0.2) < 0.1 and model.bias_["onboarding_care"] == 0.0
    u = model.predict(None, base, headroom)
    # the offer's uplift grows with the price headroom; the call's is about nothing
    high = headroom[:, 0] > 1.0
    assert u.loc[high, "retention_offer"].mean() > 2 * u.loc[~high, "retention_offer"].mean() > 0
    assert u["senior_manager_call"].mean() < 0.25 * u["retention_offer"].mean()
    best, lift = model.best(None, base, headroom)
    assert (best[high] == "retention_offer").all() and np.allclose(lift, u.max(axis=1))


def test_an_action_the_rows_show_to_harm_gets_no_uplift():
    from churnml.modeling.uplift import CauseUpliftModel

    headroom, action, y, base = _cause_world(theta=-0.5, seed=1)
    model = CauseUpliftModel().fit(headroom, action, y, base, FAMILIES)
    assert model.theta_["retention_offer"] == 0.0
    assert (model.predict(None, base, headroom)["retention_offer"] == 0).all()


def test_the_cause_learner_travels_in_the_bundle_metadata_and_refuses_bad_numbers():
    from churnml.modeling.uplift import CauseUpliftModel

    headroom, action, y, base = _cause_world(n=8_000, seed=2)
    model = CauseUpliftModel().fit(headroom, action, y, base, FAMILIES)
    meta, texts = model.to_files()
    assert texts == {} and meta["learner"] == "cause"
    again = CauseUpliftModel.from_files(meta, texts)
    pd.testing.assert_frame_equal(again.predict(None, base, headroom), model.predict(None, base, headroom))
    with pytest.raises(ValueError, match="headroom"):
        model.predict(None, base)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="retention_offer"):
            CauseUpliftModel.from_files({**meta, "theta": {**meta["theta"], "retention_offer": bad}}, {})


def test_the_cause_learner_needs_enough_treated_and_untreated_rows():
    from churnml.modeling.uplift import CauseUpliftModel

    headroom, action, y, base = _cause_world(n=2_000)
    with pytest.raises(ValueError, match="too few treated"):
        CauseUpliftModel(min_treated=5_000).fit(headroom, action, y, base, FAMILIES)


def test_two_remedies_that_work_alike_are_pooled_and_two_that_differ_are_not():
    """Empirical Bayes: the shares' spread within their noise is pooled (the remedy a customer gets no longer turns
    on chance); a spread far beyond the noise is kept."""
    from churnml.modeling.uplift import CauseUpliftModel

    rng = np.random.default_rng(5)
    n = 20_000
    base, headroom = rng.normal(-2.0, 1.0, n), rng.uniform(0.0, 1.5, (n, 2))
    action = rng.choice(["", "retention_offer", "senior_manager_call"], n, p=[0.6, 0.2, 0.2])

    def fitted(theta_offer: float, theta_call: float) -> CauseUpliftModel:
        z = base - np.where(action == "retention_offer", theta_offer * headroom[:, 0], 0.0) \
                 - np.where(action == "senior_manager_call", theta_call * headroom[:, 1], 0.0)
        y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
        return CauseUpliftModel().fit(headroom, action, y, base, FAMILIES)

    alike = fitted(0.4, 0.4)
    raw = alike.raw_theta_
    assert abs(alike.theta_["retention_offer"] - alike.theta_["senior_manager_call"]) <= abs(raw["retention_offer"] - raw["senior_manager_call"])
    assert abs(alike.theta_["retention_offer"] - alike.theta_["senior_manager_call"]) < 0.05
    apart = fitted(0.9, 0.0)
    assert apart.theta_["retention_offer"] > 0.6 and apart.theta_["senior_manager_call"] < 0.2
    again = CauseUpliftModel.from_files(*apart.to_files())
    assert again.raw_theta_ == apart.raw_theta_ and again.theta_ == apart.theta_
