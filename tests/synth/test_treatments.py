"""The simulated CRM of the treatment world: control group, compliance, remedies that work when they match."""

import pandas as pd
import pytest

from churnml.remedies import held_out
from churnml.synth import generate, world_config
from churnml.synth.config import SimulationConfig

N = 6000


@pytest.fixture(scope="module")
def world():
    return generate(N, seed=3, months=18, config=world_config("treatments"))


def test_without_the_crm_the_world_is_exactly_the_default_one():
    plain = generate(800, seed=4, months=6)
    off = generate(800, seed=4, months=6, config=SimulationConfig(treatments={"enabled": False}))
    assert off.treatments is None and plain.treatments is None
    for name, frame in plain.tables.items():
        pd.testing.assert_frame_equal(frame, off.tables[name], obj=name)


def test_the_control_group_is_the_nightly_jobs_and_never_treated(world):
    t = world.treatments
    assert t["flagged"].all() and len(t) > 0
    for day, rows in t.groupby("as_of_date"):
        drawn = held_out(pd.Index(rows["customer_id"]), day, 0.05, "churnml-control")  # the hash flagging.control_group uses
        assert rows.loc[drawn, "control_group"].all()  # drawn tonight: control (others may still be held from before)
    assert not t.loc[t["control_group"], "treated"].any()
    assert 0.05 <= t["control_group"].mean() < 0.15
    actions = world.tables["retention_actions"]
    assert len(actions) == int(t["treated"].sum())
    held = set(zip(t.loc[t["control_group"], "customer_id"], t.loc[t["control_group"], "as_of_date"]))
    month = actions["timestamp"].dt.to_period("M").dt.start_time
    assert not any((c, d) in held for c, d in zip(actions["customer_id"], month))  # no action reaches a control customer


def test_matched_remedies_help_mismatched_barely_and_some_backfire(world):
    t = world.treatments[world.treatments["treated"]]
    matched, mismatched = t[t["matched"] & ~t["backfire"]], t[~t["matched"] & ~t["backfire"]]
    assert matched["effect_60d"].mean() > 4 * mismatched["effect_60d"].mean() > 0
    assert (t.loc[~t["backfire"], "effect_60d"] >= 0).all()  # a remedy alone never raises the risk
    assert (t.loc[t["backfire"], "effect_60d"] < 0).any()  # being contacted made some worse off than untouched
    assert t.loc[t["action"] == "retention_offer", "remedy_family"].eq("price").all()
    assert 0.0 < t["backfire"].mean() < 0.1
    # outcomes: treated customers leave less often within 60 days than the control group
    churn = world.truth.groupby("customer_id")["churn_date"].min()
    rows = world.treatments.assign(churn=world.treatments["customer_id"].map(churn))
    left = rows["churn"].notna() & (rows["churn"] >= rows["as_of_date"]) & (rows["churn"] < rows["as_of_date"] + pd.Timedelta(days=60))
    rate = rows.assign(left=left).groupby(["control_group", "treated"])["left"].mean()
    assert rate[(False, True)] < rate[(True, False)]


def test_contact_backfires_on_a_plan_that_does_not_fit_and_nowhere_else():
    """The contact_backfires world: a contacted customer on a misfitting plan is worse off by the world's share of
    all their hazard (no remedy's cut), whatever remedy they got; the others as in the treatment world; the oracle
    says each month who a contact would backfire on."""
    cfg = world_config("contact_backfires")
    data = generate(4000, seed=5, months=12, config=cfg)
    t = data.treatments[data.treatments["treated"]]
    oracle = data.oracle.set_index(["customer_id", "as_of_date"])["contact_backfires"]
    misfit = oracle.reindex(pd.MultiIndex.from_frame(t[["customer_id", "as_of_date"]])).to_numpy()
    assert 0.1 < misfit.mean() < 0.6 and 0.1 < data.oracle["contact_backfires"].mean() < misfit.mean()
    assert t["backfire"].to_numpy()[misfit].all()
    up = 1 + cfg.treatments.misfit_backfire_effect
    hit = t[misfit & (t["hazard_untreated"] * up < cfg.max_hazard)]
    assert len(hit) > 0 and (hit["hazard_if_treated"] / hit["hazard_untreated"]).round(9).eq(round(up, 9)).all()
    assert (t.loc[misfit, "effect_60d"] <= 0).all() and (t.loc[misfit, "effect_60d"] < 0).mean() > 0.9 and (t.loc[~misfit & ~t["backfire"], "effect_60d"] >= 0).all()
    plain = generate(4000, seed=5, months=12, config=world_config("treatments"))
    assert not plain.oracle["contact_backfires"].any() and "contact_backfires" not in generate(300, seed=1, months=3).oracle
