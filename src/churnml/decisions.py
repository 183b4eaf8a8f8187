"""Decisions: who is flagged, in which risk tier, who is asked for a referral, and what the retention team does.

Everything here turns numbers the model and the attribution produced into choices; nothing explains or predicts.

The remedy playbook: cause and lifecycle stage decide the action. Precedence, first match wins (domain digest: different causes need different treatments):

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

from churnml.config import CauseConfig, ChurnConfig, PlaybookConfig, WinbackConfig
from churnml.dataset import epoch_day
from churnml.remedies import REMEDIES, Situation, WinbackAction, held_out, remedy


def rank_by_risk(p: np.ndarray) -> np.ndarray:
    """1 for the highest probability; equal probabilities keep their input (customer-id) order, so reruns agree."""
    order = np.lexsort((np.arange(len(p)), -np.asarray(p)))
    rank = np.empty(len(p), dtype=np.int64)
    rank[order] = np.arange(1, len(p) + 1)
    return rank


def risk_tiers(p: np.ndarray, high: float, medium: float) -> np.ndarray:
    return np.where(p >= high, "high", np.where(p >= medium, "medium", "low"))


def flag(rank: np.ndarray, p: np.ndarray, config: ChurnConfig) -> np.ndarray:
    """Who is selected for action: the top fraction by rank, or everyone at or above the threshold."""
    f = config.flagging
    if f.top_fraction is not None:
        return rank <= int(np.ceil(f.top_fraction * len(rank)))
    return p >= f.probability_threshold


def select_by(flagged: np.ndarray, score: np.ndarray) -> np.ndarray:
    """As many customers as ``flagged`` holds, chosen by ``score`` instead (highest first; equal scores keep their
    input order), and only where it is positive: a remedy that saves nobody, or costs more than it saves, is not
    worth a place on the list."""
    score = np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf)
    k = int(np.asarray(flagged, dtype=bool).sum())
    out = np.zeros(len(score), dtype=bool)
    out[np.lexsort((np.arange(len(score)), -score))[:k]] = True
    return out & (score > 0)


def control_group(customer_ids: pd.Series | pd.Index, as_of: pd.Timestamp, flagged: np.ndarray, fraction: float, key: str,
                  held_until: np.ndarray | None = None, hold_days: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The flagged customers held out from treatment tonight, and until when each customer stays held out.

    A flagged customer is drawn by :func:`churnml.remedies.held_out` (deterministic per customer and run,
    independent of partitions, engines and row order), or is still held from an earlier run (``held_until``, days
    since the epoch, after ``as_of``): a control customer stays untreated for the ``hold_days`` in which their
    outcome is measured, even when a later run flags them again, so no remedy of a later run blurs the comparison."""
    flagged = np.asarray(flagged, dtype=bool)
    today = epoch_day(as_of)
    until = np.full(len(flagged), -1, np.int64) if held_until is None else np.asarray(held_until, dtype=np.int64).copy()
    still = until > today
    drawn = np.zeros(len(flagged), dtype=bool)
    if fraction > 0 and flagged.any():
        drawn[np.flatnonzero(flagged)] = held_out(pd.Index(customer_ids)[flagged], as_of, fraction, key)
    held = flagged & (drawn | still)
    until = np.where(drawn & flagged & ~still, today + hold_days, np.where(still, until, -1))
    return held, until


def referral_candidates(
    flagged: np.ndarray, tier: np.ndarray, survey_score: np.ndarray, config: ChurnConfig
) -> np.ndarray:
    """Not flagged, in an allowed risk tier, and a latest survey score of at least the configured minimum."""
    r = config.referral
    if not r.enabled:
        return np.zeros(len(flagged), dtype=bool)
    enthusiastic = np.nan_to_num(survey_score, nan=-1.0) >= r.min_survey_score  # no recent survey: not enthusiastic
    return ~flagged & np.isin(tier, r.risk_tiers) & enthusiastic


def recommend_actions(
    causes: pd.DataFrame,
    stage: np.ndarray,
    probability: np.ndarray,
    monthly_price: np.ndarray,
    playbook: PlaybookConfig,
    cause_cfg: CauseConfig,
) -> np.ndarray:
    """One action code per flagged customer; ``causes`` comes from :func:`attribute_causes`. Remedies declared with
    a rule (:mod:`churnml.remedies`) come first, then the playbook's situations in the order above."""
    cause = causes["primary_cause"].to_numpy()
    stage = np.asarray(stage).astype(str)
    situation = Situation(
        cause=cause,
        cause_share=causes["cause_share"].to_numpy(),
        stage=stage,
        incident_led=(cause == "service") & (causes["incident_share"].to_numpy() >= cause_cfg.incident_share),
        plan_mismatch_led=(cause == "price") & (causes["plan_mismatch_share"].to_numpy() >= cause_cfg.plan_mismatch_share),
        probability=np.asarray(probability, dtype=float),
        monthly_price=np.asarray(monthly_price, dtype=float),
    )
    ruled = [(str(r.action), r.rule) for r in REMEDIES if r.rule is not None]
    conditions = [
        *(np.asarray(rule(situation), dtype=bool) for _, rule in ruled),
        situation.incident_led,
        stage == "won_back",
        stage == "new",
        situation.plan_mismatch_led,
        cause == "price",
        cause == "service",
    ]
    choices = [*(code for code, _ in ruled), *(a.value for a in (
        playbook.service_incident, playbook.won_back, playbook.new, playbook.price_plan_mismatch, playbook.price, playbook.service))]
    actions = np.select(conditions, choices, default=playbook.other.value).astype(object)
    rule = playbook.value_rule
    if rule.enabled:
        chosen = pd.Series(actions)
        success = chosen.map({a.value: r for a, r in rule.success_rate.items()}).fillna(1.0).to_numpy(dtype=float)
        cost = chosen.map({a.value: c for a, c in rule.cost.items()}).fillna(0.0).to_numpy(dtype=float)
        value = np.asarray(probability) * np.nan_to_num(np.asarray(monthly_price, dtype=float)) * rule.expected_months * success - cost
        actions = np.where(value < 0, rule.fallback.value, actions)
    return actions


def explain_actions(actions: np.ndarray, causes: pd.DataFrame, stage: np.ndarray) -> np.ndarray:
    """Why each action was chosen, in one sentence (cause, its share, and the lifecycle stage)."""
    chosen = pd.Series(np.asarray(actions, dtype=object))
    why = chosen.map({a: r.why for a in chosen.unique() if (r := remedy(a)) is not None}).fillna("chosen by the playbook configuration")
    share = (causes["cause_share"].to_numpy() * 100).round().astype(int).astype(str)
    context = "cause " + causes["primary_cause"].astype(str).to_numpy() + " (" + share + "% of the cause split), " + np.asarray(stage).astype(str) + " customer"
    return (why.to_numpy().astype(str) + "; " + context).astype(object)


def winback_actions(cause: np.ndarray, value: np.ndarray, w: WinbackConfig) -> tuple[np.ndarray, np.ndarray]:
    """The win-back gate: an action only where the expected value clears ``min_expected_value``; the cause picks
    which. Returns the actions and, for ``none``, why."""
    chosen = np.array([w.price.value, w.service.value, w.other.value], dtype=object)
    idx = np.select([cause == "price", cause == "service"], [0, 1], 2)
    passes = value > w.min_expected_value
    action = np.where(passes, chosen[idx], WinbackAction.NONE.value)
    text = np.char.mod("%.2f", value.astype(float)) if len(value) else np.array([], dtype=str)
    reason = np.where(
        passes,
        np.where(action == WinbackAction.NONE.value, "the playbook gives no action for this cause", ""),
        np.char.add(np.char.add("expected value ", text.astype(str)), f" is not above {w.min_expected_value:.2f}"),
    )
    return action.astype(str), reason.astype(str)
