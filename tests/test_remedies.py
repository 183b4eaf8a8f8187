"""Every remedy is declared once (code, label, meaning, why, rule); a new one needs its declaration and a test."""

import numpy as np
import pandas as pd
import pytest

from churnml import remedies
from churnml.config import parse_config
from churnml.decisions import explain_actions, recommend_actions
from churnml.remedies import REMEDIES, Action, Remedy, WinbackAction
from churnml.report.labels import action_meaning, action_name

CAUSES = pd.DataFrame({
    "primary_cause": ["price", "price", "service", "other"],
    "cause_share": [0.8, 0.6, 0.7, 0.5],
    "price_share": [0.8, 0.6, 0.2, 0.2],
    "service_share": [0.1, 0.2, 0.7, 0.3],
    "other_share": [0.1, 0.2, 0.1, 0.5],
    "plan_mismatch_share": [0.0, 0.0, 0.0, 0.0],
    "incident_share": [0.0, 0.0, 0.0, 0.0],
})
STAGE = np.array(["established", "established", "established", "new"])


def _actions(cfg):
    return recommend_actions(CAUSES, STAGE, np.full(4, 0.3), np.full(4, 40.0), cfg.playbook, cfg.cause).tolist()


def test_every_code_is_declared_once_with_its_words():
    codes = [str(r.action) for r in REMEDIES]
    assert len(codes) == len(set(codes))
    assert set(codes) == {*map(str, Action), *map(str, WinbackAction)}
    for r in REMEDIES:
        assert r.label and r.meaning and r.why
        assert action_name(r.action) == r.label and action_meaning(r.action) == r.meaning


def test_a_declared_remedy_with_a_rule_is_chosen_ahead_of_the_playbook(monkeypatch):
    cfg = parse_config({})
    assert _actions(cfg) == ["retention_offer", "retention_offer", "senior_manager_call", "onboarding_care"]
    loyal = Remedy("loyalty_call", "Loyalty call", "a call that thanks an established customer before any offer",
                   "price leads but does not dominate: thank them first",
                   rule=lambda s: (s.cause == "price") & (s.cause_share < 0.7) & (s.stage == "established"))
    monkeypatch.setattr(remedies, "REMEDIES", (*REMEDIES, loyal))
    monkeypatch.setattr("churnml.decisions.REMEDIES", (*REMEDIES, loyal))
    got = _actions(cfg)
    assert got == ["retention_offer", "loyalty_call", "senior_manager_call", "onboarding_care"]
    assert action_name("loyalty_call") == "Loyalty call"
    assert explain_actions(np.array(got, dtype=object), CAUSES, STAGE)[1].startswith("price leads but does not dominate")


@pytest.mark.parametrize("code", ["retention_offer", "winback_offer", "none"])
def test_unknown_codes_read_plainly_and_known_ones_by_label(code):
    assert action_name(code) == remedies.remedy(code).label
    assert action_name("some_new_code") == "Some new code" and action_meaning("some_new_code") == ""


def test_the_actions_a_crm_may_record_are_the_playbooks_remedies():
    """retention_actions.action accepts exactly the remedy codes (no "none": a recorded action was done)."""
    from churnml.remedies import REMEDIES
    from churnml.schemas import RETENTION_ACTIONS, TABLES

    assert set(RETENTION_ACTIONS) == {str(r.action) for r in REMEDIES} - {"none"}
    assert TABLES["retention_actions"].column("action").allowed == RETENTION_ACTIONS
