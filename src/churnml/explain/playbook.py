"""The remedy playbook: cause and lifecycle stage decide what the retention team does.

Precedence, first match wins (domain digest: different causes need different treatments):

1. service risk carried mostly by a shared incident -> ``incident_update`` (proactive status updates, not
   individual discounts, whatever the customer's stage);
2. won-back customers -> ``dedicated_contact`` (especially sensitive: a named person);
3. new customers -> ``onboarding_care`` (fragile: welcome and clear contacts, not discounts);
4. price -> ``plan_review`` when plan mismatch (paying for unused allowance, overage) carries most of the
   price risk, else ``retention_offer``;
5. service -> ``senior_manager_call``;
6. other -> ``playbook.other``.

An optional value rule then replaces an action whose expected value is negative:
``p x monthly_price x expected_months x success_rate - cost``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import CauseConfig, PlaybookConfig


def recommend_actions(
    causes: pd.DataFrame,
    stage: np.ndarray,
    probability: np.ndarray,
    monthly_price: np.ndarray,
    playbook: PlaybookConfig,
    cause_cfg: CauseConfig,
) -> np.ndarray:
    """One action code per flagged customer; ``causes`` comes from :func:`attribute_causes`."""
    cause = causes["primary_cause"].to_numpy()
    stage = np.asarray(stage).astype(str)
    conditions = [
        (cause == "service") & (causes["incident_share"].to_numpy() >= cause_cfg.incident_share),
        stage == "won_back",
        stage == "new",
        (cause == "price") & (causes["plan_mismatch_share"].to_numpy() >= cause_cfg.plan_mismatch_share),
        cause == "price",
        cause == "service",
    ]
    choices = [playbook.service_incident, playbook.won_back, playbook.new, playbook.price_plan_mismatch, playbook.price, playbook.service]
    actions = np.select(conditions, [a.value for a in choices], default=playbook.other.value).astype(object)
    rule = playbook.value_rule
    if rule.enabled:
        chosen = pd.Series(actions)
        success = chosen.map({a.value: r for a, r in rule.success_rate.items()}).fillna(1.0).to_numpy(dtype=float)
        cost = chosen.map({a.value: c for a, c in rule.cost.items()}).fillna(0.0).to_numpy(dtype=float)
        value = np.asarray(probability) * np.nan_to_num(np.asarray(monthly_price, dtype=float)) * rule.expected_months * success - cost
        actions = np.where(value < 0, rule.fallback.value, actions)
    return actions


_WHY = {
    "incident_update": "service risk comes mostly from a shared incident: proactive status updates, not individual offers",
    "dedicated_contact": "a won-back customer is especially sensitive: assign a dedicated contact person",
    "onboarding_care": "a new customer is fragile: onboarding care and clear contacts, not discounts",
    "plan_review": "price risk comes mostly from a plan that does not fit their usage: move them to a plan that fits",
    "retention_offer": "price is the main cause: a targeted retention or loyalty offer",
    "senior_manager_call": "service is the main cause: an outbound call from a senior manager about the specific problem",
    "none": "no action: expected value of acting is below its cost, or the customer is not flagged",
}


def explain_actions(actions: np.ndarray, causes: pd.DataFrame, stage: np.ndarray) -> np.ndarray:
    """Why each action was chosen, in one sentence (cause, its share, and the lifecycle stage)."""
    actions = pd.Series(np.asarray(actions, dtype=object))
    why = actions.map(_WHY).fillna("chosen by the playbook configuration")
    share = (causes["cause_share"].to_numpy() * 100).round().astype(int).astype(str)
    context = "cause " + causes["primary_cause"].astype(str).to_numpy() + " (" + share + "% of the risk), " + np.asarray(stage).astype(str) + " customer"
    return (why.to_numpy().astype(str) + "; " + context).astype(object)
