import numpy as np
import pytest

from churnml.config import WinbackConfig, parse_config
from churnml.decisions import rank_by_risk, referral_candidates, winback_actions


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
