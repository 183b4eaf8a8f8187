import numpy as np
import pandas as pd
import pytest

from churnml.config import WinbackConfig, parse_config
from churnml.decisions import control_group, rank_by_risk, referral_candidates, select_by, winback_actions


def _case():
    flagged = np.array([False, True, False, False, False, False])
    tier = np.array(["low", "low", "medium", "low", "low", "low"])
    survey = np.array([9.0, 10.0, 10.0, np.nan, 8.0, 10.0])
    return flagged, tier, survey


def test_referral_candidates_are_unflagged_low_risk_enthusiasts():
    got = referral_candidates(*_case(), parse_config({}))
    # flagged, medium risk, no recent survey and a score of 8 all rule a customer out
    assert got.tolist() == [True, False, False, False, False, True]


def test_referral_rule_follows_config():
    cfg = parse_config({"referral": {"min_survey_score": 8, "risk_tiers": ["low", "medium"]}})
    assert referral_candidates(*_case(), cfg).tolist() == [True, False, True, False, True, True]
    off = parse_config({"referral": {"enabled": False}})
    assert not referral_candidates(*_case(), off).any()


@pytest.mark.parametrize(
    ("cause", "value", "action"),
    [("price", 10.0, "winback_offer"), ("service", 10.0, "winback_service_call"), ("other", 10.0, "winback_offer"),
     ("price", -5.0, "none"), ("service", 0.0, "none"), ("other", -0.01, "none")],
)
def test_the_value_gate(cause, value, action):
    got, why = winback_actions(np.array([cause], dtype=object), np.array([value]), WinbackConfig())
    assert got.tolist() == [action]
    assert (why[0] == "") == (action != "none")
    if action == "none":
        assert f"{value:.2f}" in why[0]


def test_other_can_be_switched_off():
    got, why = winback_actions(np.array(["other"], dtype=object), np.array([50.0]), WinbackConfig(other="none"))
    assert got.tolist() == ["none"] and "no action" in why[0]


def test_equal_probabilities_keep_their_order_in_the_ranking():
    assert rank_by_risk(np.array([0.2, 0.5, 0.2, 0.9])).tolist() == [3, 2, 4, 1]


def _held(*args, **kwargs):
    return control_group(*args, **kwargs)[0]


def _ids(n: int) -> pd.Index:
    return pd.Index([f"C{i:07d}" for i in range(n)])


@pytest.mark.parametrize("fraction", [0.05, 0.2])
def test_the_control_group_holds_the_configured_share_of_the_flagged(fraction):

    ids = _ids(100_000)
    flagged = np.ones(len(ids), dtype=bool)
    held = _held(ids, pd.Timestamp("2026-01-01"), flagged, fraction, "k")
    assert abs(held.mean() - fraction) <= 0.01  # +-1 point on 100k
    flagged[::2] = False  # only the flagged are ever held out
    held = _held(ids, pd.Timestamp("2026-01-01"), flagged, fraction, "k")
    assert not held[~flagged].any() and abs(held[flagged].mean() - fraction) <= 0.01


def test_the_control_group_is_a_keyed_draw_per_customer_and_run():

    ids = _ids(20_000)
    flagged = np.ones(len(ids), dtype=bool)
    t = pd.Timestamp("2026-01-01")
    held = _held(ids, t, flagged, 0.1, "k")
    assert np.array_equal(held, _held(ids, t, flagged, 0.1, "k"))  # no random state: the same again
    order = np.random.default_rng(0).permutation(len(ids))
    assert np.array_equal(_held(ids[order], t, flagged, 0.1, "k"), held[order])  # row order does not matter
    half = _held(ids[:10_000], t, flagged[:10_000], 0.1, "k")
    assert np.array_equal(half, held[:10_000])  # nor which partition a customer is scored in
    next_run = _held(ids, pd.Timestamp("2026-02-01"), flagged, 0.1, "k")
    other_key = _held(ids, t, flagged, 0.1, "another key")
    for other in (next_run, other_key):  # re-drawn: about a tenth of this run's group is held out again
        assert abs((held & other).sum() / held.sum() - 0.1) < 0.03
    assert not _held(ids, t, flagged, 0.0, "k").any()
    assert not _held(ids, t, np.zeros(len(ids), dtype=bool), 0.5, "k").any()


def test_a_control_customer_stays_held_out_while_their_outcome_is_measured():
    ids = _ids(20_000)
    flagged = np.ones(len(ids), dtype=bool)
    jan, feb, apr = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01"), pd.Timestamp("2026-04-01")
    held, until = control_group(ids, jan, flagged, 0.05, "k", None, 60)
    assert (until[held] == (jan + pd.Timedelta(days=60)).value // 86_400_000_000_000).all() and (until[~held] == -1).all()
    again, until_feb = control_group(ids, feb, flagged, 0.05, "k", until, 60)
    assert again[held].all()  # flagged again in February, still control: no remedy may reach them yet
    drawn = _held(ids, feb, flagged, 0.05, "k")
    assert np.array_equal(again, held | drawn)
    assert (until_feb[held & ~drawn] == until[held & ~drawn]).all()  # the January hold keeps its end
    later, _ = control_group(ids, apr, flagged, 0.05, "k", until_feb, 60)
    assert np.array_equal(later, _held(ids, apr, flagged, 0.05, "k") | (until_feb > apr.value // 86_400_000_000_000))
    not_flagged = np.zeros(len(ids), dtype=bool)
    assert not control_group(ids, feb, not_flagged, 0.05, "k", until, 60)[0].any()  # only the flagged are control


@pytest.mark.parametrize(("flagged", "score", "chosen"), [
    ([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]),  # as many as by risk, the highest scores
    ([1, 1, 0, 0], [0.3, 0.3, 0.3, 0.1], [1, 1, 0, 0]),  # equal scores keep their order
    ([1, 1, 1, 0], [0.2, -0.1, 0.0, 0.5], [1, 0, 0, 1]),  # nothing saved or a loss: not flagged, places stay empty
    ([1, 0, 0], [np.nan, 0.1, np.nan], [0, 1, 0]),  # unknown counts as nothing
    ([0, 0], [0.5, 0.6], [0, 0]),  # no capacity, nobody
])
def test_select_by_fills_the_same_capacity_by_another_score(flagged, score, chosen):
    got = select_by(np.array(flagged, dtype=bool), np.array(score, dtype=float))
    assert got.tolist() == [bool(c) for c in chosen]
