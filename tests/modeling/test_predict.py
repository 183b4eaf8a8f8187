import numpy as np

from churnml.config import parse_config
from churnml.modeling.predict import referral_candidates


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
