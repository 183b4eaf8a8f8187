"""What the remedies did: treated against control, only for matured runs, control customers never counted as treated."""

import numpy as np
import pandas as pd
import pytest

from churnml.config import ChurnConfig
from churnml.monitoring import matched_remedies, outcome_rows, qini, uplift_table
from churnml.monitoring.outcomes import Z95, on_treated_table, uplift_ranking

T = "2025-03-01"
CFG = ChurnConfig()  # horizon 60, grace 30


def _run(n_treated=40, n_control=20, n_untreated=10):
    """A run's flagged customers: price-caused, offered; those whose number is below a cut left."""
    n = n_treated + n_control + n_untreated
    ids = [f"C{i:03d}" for i in range(n)]
    group = ["treated"] * n_treated + ["control"] * n_control + ["untreated"] * n_untreated
    customers = pd.DataFrame({
        "customer_id": ids, "churn_probability": 0.5, "flagged": True,
        "control_group": [g == "control" for g in group], "recommended_action": "retention_offer",
        "primary_cause": "price", "lifecycle_stage": "established",
    })
    return ids, group, customers


def _subscriptions(ids, leavers):
    end = [pd.Timestamp("2025-04-01") if c in leavers else pd.NaT for c in ids]
    return pd.DataFrame({"customer_id": ids, "start_date": pd.Timestamp("2023-01-01"), "end_date": end, "plan": "basic",
                         "monthly_price": 20.0})


def test_uplift_is_control_churn_minus_treated_churn_with_its_interval():
    ids, group, customers = _run()
    treated = [c for c, g in zip(ids, group) if g == "treated"]
    control = [c for c, g in zip(ids, group) if g == "control"]
    leavers = set(treated[:4]) | set(control[:6])  # 10% of the treated leave, 30% of the control group
    actions = pd.DataFrame({"customer_id": treated + control[:2], "timestamp": pd.Timestamp("2025-03-05"),
                            "action": "retention_offer", "cost": 40.0})  # two control customers got one anyway
    rows = outcome_rows([({"as_of": T}, customers)], _subscriptions(ids, leavers), actions, pd.Timestamp("2025-06-30"), CFG, 30)
    assert rows["group"].value_counts().to_dict() == {"treated": 40, "control": 20, "untreated": 10}
    assert rows.loc[rows["group"] == "control", "control_recorded"].sum() == 2  # still control: by assignment
    cell = uplift_table(rows, ["action", "primary_cause", "lifecycle_stage"]).iloc[0]
    assert (cell["treated"], cell["treated_compared"], cell["control"]) == (40, 40, 20)
    assert cell["uplift"] == pytest.approx(0.3 - 0.1)
    se = np.sqrt(0.3 * 0.7 / 20 + 0.1 * 0.9 / 40)
    assert (cell["uplift_low"], cell["uplift_high"]) == pytest.approx((0.2 - Z95 * se, 0.2 + Z95 * se))
    assert cell["customers_saved"] == pytest.approx(8.0) and cell["cost"] == pytest.approx(40 * 40.0)
    assert cell["cost_per_customer_saved"] == pytest.approx(1600 / 8)
    assert matched_remedies(rows)["remedy"].tolist() == ["matched"]  # an offer for a price cause


@pytest.mark.parametrize(("newest", "matured"), [
    ("2025-05-29", False),  # T + 60 + 30 days is 2025-05-30: the grace has not passed
    ("2025-05-30", True),
])
def test_a_run_counts_only_once_its_horizon_and_grace_have_passed(newest, matured):
    ids, _, customers = _run()
    rows = outcome_rows([({"as_of": T}, customers)], _subscriptions(ids, set()), pd.DataFrame(
        columns=["customer_id", "timestamp", "action", "cost"]), pd.Timestamp(newest), CFG, 30)
    assert (len(rows) > 0) == matured


def test_a_remedy_counts_only_inside_the_window_after_the_run():
    ids, _, customers = _run(n_treated=3, n_control=1, n_untreated=0)
    actions = pd.DataFrame({"customer_id": ids[:3], "action": "retention_offer", "cost": 1.0,
                            "timestamp": pd.to_datetime(["2025-02-28", "2025-03-01", "2025-03-31"])})
    rows = outcome_rows([({"as_of": T}, customers)], _subscriptions(ids, set()), actions, pd.Timestamp("2025-07-01"), CFG, 30)
    assert rows["group"].tolist() == ["untreated", "treated", "untreated", "control"]  # before T, on T, after T + 30


def test_the_treated_are_compared_with_control_customers_as_risky_as_they_were():
    """A CRM that reaches the riskiest flagged customers first: the raw difference would call a working remedy
    useless; within risk strata the uplift is the remedy's."""
    rng = np.random.default_rng(1)
    n = 40_000
    p = rng.choice([0.1, 0.5], n)  # two kinds of flagged customers
    control = rng.random(n) < 0.1
    reached = ~control & (rng.random(n) < np.where(p == 0.5, 0.9, 0.1))  # the CRM reaches mostly the risky ones
    left = rng.random(n) < p * np.where(reached, 0.6, 1.0)  # the remedy removes 40% of the risk
    rows = pd.DataFrame({"group": np.where(control, "control", np.where(reached, "treated", "untreated")), "left": left.astype(float),
                         "churn_probability": p, "action": "senior_manager_call", "primary_cause": "service",
                         "lifecycle_stage": "established", "cost": 0.0})
    cell = uplift_table(rows, ["action", "primary_cause", "lifecycle_stage"]).iloc[0]
    treated = rows[rows["group"] == "treated"]
    truth = (treated["churn_probability"] * 0.4).mean()  # the risk the remedy took from the treated
    raw = rows.loc[control, "left"].mean() - treated["left"].mean()
    assert raw < 0.5 * truth  # the raw comparison: the treated were simply riskier
    assert cell["uplift_low"] <= truth <= cell["uplift_high"] and abs(cell["uplift"] - truth) < 0.02


def test_qini_of_a_perfect_ranking_reaches_the_oracle():
    _, group, _ = _run(n_treated=50, n_control=50, n_untreated=0)
    treated = np.array([g == "treated" for g in group])
    rows = pd.DataFrame({"group": group, "left": np.where(treated, 0.0, 1.0), "churn_probability": np.linspace(1, 0, 100)})
    random_order = rows.assign(churn_probability=np.random.default_rng(0).random(100))
    q = qini(rows)
    assert q["qini"] == pytest.approx(q["qini_oracle"]) and q["qini_normalised"] == pytest.approx(1.0)
    assert q["qini"] > qini(random_order)["qini"]


def test_the_effect_on_the_reached_is_the_intention_to_treat_uplift_over_the_share_reached():
    """Bloom's estimator: 40 control customers, 30% leave; of 80 assigned the CRM reached 40 (10% leave) and not the
    other 40 (30% leave, as untreated). ITT 0.3 - 0.2 = 0.1 over a share of 0.5: 0.2, the reached's true effect,
    whatever made the CRM reach them."""
    ids, group, customers = _run(n_treated=40, n_control=40, n_untreated=40)
    by = {g: [c for c, h in zip(ids, group) if h == g] for g in ("treated", "control", "untreated")}
    leavers = set(by["treated"][:4]) | set(by["control"][:12]) | set(by["untreated"][:12])
    actions = pd.DataFrame({"customer_id": by["treated"], "timestamp": pd.Timestamp("2025-03-05"), "action": "retention_offer", "cost": 40.0})
    rows = outcome_rows([({"as_of": T}, customers)], _subscriptions(ids, leavers), actions, pd.Timestamp("2025-06-30"), CFG, 30)
    cell = on_treated_table(rows, ["action", "primary_cause"]).iloc[0]
    assert (cell["assigned"], cell["control"]) == (80, 40) and cell["reached_share"] == pytest.approx(0.5)
    assert cell["itt_uplift"] == pytest.approx(0.1) and cell["uplift"] == pytest.approx(0.2)
    se_itt = np.sqrt(0.3 * 0.7 / 40 + 0.2 * 0.8 / 80)
    se = np.sqrt(se_itt**2 / 0.25 + 0.1**2 * (0.25 / 80) / 0.5**4)
    assert (cell["uplift_low"], cell["uplift_high"]) == pytest.approx((0.2 - Z95 * se, 0.2 + Z95 * se))


def test_a_customer_held_out_again_is_measured_once():
    """A control customer is held for the horizon, so the next run flags them as control again: within the washout
    they are left out of the later run, or the interval would count the same outcome twice."""
    ids, _, customers = _run(n_treated=10, n_control=10, n_untreated=0)
    later = {**{"as_of": "2025-04-01"}}
    runs = [({"as_of": T}, customers), (later, customers)]
    subs = _subscriptions(ids, set())
    none = pd.DataFrame(columns=["customer_id", "timestamp", "action", "cost"]).astype({"timestamp": "datetime64[ns]"})
    twice = outcome_rows(runs, subs, none, pd.Timestamp("2025-07-30"), CFG, 30, washout_days=0)
    once = outcome_rows(runs, subs, none, pd.Timestamp("2025-07-30"), CFG, 30, washout_days=90)
    assert (twice["group"] == "control").sum() == 20 and (once["group"] == "control").sum() == 10
    assert once.loc[once["group"] == "control", "run"].unique().tolist() == [T]


def test_the_expected_uplift_a_run_carried_is_ranked_against_the_control_group_beside_risk():
    """Half the customers are helped by the remedy (treated stay, control leave), half are lost causes (everyone
    leaves). The run's expected uplift put the helped first, its risk the lost causes: ranking by it gives the larger
    Qini; a run without the column is left out."""
    ids, group, customers = _run(n_treated=40, n_control=40, n_untreated=0)
    helped = np.arange(len(ids)) % 2 == 0
    treated = np.array([g == "treated" for g in group])
    leavers = {c for c, h, t in zip(ids, helped, treated) if not (h and t)}
    customers = customers.assign(expected_uplift=np.where(helped, 0.3, 0.01), churn_probability=np.where(helped, 0.4, 0.9))
    actions = pd.DataFrame({"customer_id": [c for c, t in zip(ids, treated) if t], "timestamp": pd.Timestamp("2025-03-05"),
                            "action": "retention_offer", "cost": 40.0})
    rows = outcome_rows([({"as_of": T}, customers)], _subscriptions(ids, leavers), actions, pd.Timestamp("2025-06-30"), CFG, 30)
    assert rows["expected_uplift"].notna().all()
    ranking = uplift_ranking(rows)
    assert ranking["customers"] == 80 and ranking["qini_uplift"] > ranking["qini_risk"]
    assert ranking["qini_uplift"] == pytest.approx(qini(rows.assign(churn_probability=rows["expected_uplift"]))["qini"])
    older = outcome_rows([({"as_of": T}, customers.drop(columns="expected_uplift"))], _subscriptions(ids, leavers), actions,
                         pd.Timestamp("2025-06-30"), CFG, 30)
    empty = uplift_ranking(older)
    assert older["expected_uplift"].isna().all() and empty["customers"] == 0 and np.isnan(empty["qini_uplift"])
