"""Every remedy the retention team can be told to apply, declared once: its code, how people name it, what the
team does, why it is chosen, and, for a remedy beyond the built-in playbook, the rule that chooses it.

The built-in remedies are chosen by the playbook (:class:`churnml.config.PlaybookConfig` maps each situation,
such as price risk led by a plan mismatch, to one of them; :func:`churnml.decisions.recommend_actions`). A remedy
declared with a ``rule`` is chosen wherever its rule holds, ahead of the playbook (declaration order among rules),
and still passes the value rule. Adding one is its :class:`Remedy` here (and an :class:`Action` member, where the
playbook configuration may choose it too), and a test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd


class Action(StrEnum):
    """Remedy codes the scores file may carry (contract section 2)."""

    RETENTION_OFFER = "retention_offer"
    PLAN_REVIEW = "plan_review"
    SENIOR_MANAGER_CALL = "senior_manager_call"
    ONBOARDING_CARE = "onboarding_care"
    DEDICATED_CONTACT = "dedicated_contact"
    INCIDENT_UPDATE = "incident_update"
    NONE = "none"


class WinbackAction(StrEnum):
    """Remedy codes of the win-back file (contract section 4)."""

    OFFER = "winback_offer"
    SERVICE_CALL = "winback_service_call"
    NONE = "none"


@dataclass(frozen=True)
class Situation:
    """What the playbook knows of each flagged customer, one array entry per customer."""

    cause: np.ndarray  # primary cause: price, service or other
    cause_share: np.ndarray  # the share of the price, service and other split the cause carries
    stage: np.ndarray  # lifecycle stage: new, established or won_back
    incident_led: np.ndarray  # service risk carried mostly by a shared incident
    plan_mismatch_led: np.ndarray  # price risk carried mostly by a plan that does not fit the usage
    probability: np.ndarray
    monthly_price: np.ndarray


@dataclass(frozen=True)
class Remedy:
    action: str
    label: str  # the report's name for it
    meaning: str  # what the team does
    why: str  # why it was chosen, in the explanation of one customer
    rule: Callable[[Situation], np.ndarray] | None = None  # where it is chosen ahead of the playbook
    family: str = "other"  # the cause family it addresses: a remedy matches a customer whose primary cause this is


REMEDIES: tuple[Remedy, ...] = (
    Remedy(Action.RETENTION_OFFER, "Retention offer", "a targeted retention or loyalty offer (price is the main cause)",
           "price is the main cause: a targeted retention or loyalty offer", family="price"),
    Remedy(Action.PLAN_REVIEW, "Plan review", "move the customer to a plan that fits their usage (paying for unused allowance or overage)",
           "price risk comes mostly from a plan that does not fit their usage: move them to a plan that fits", family="price"),
    Remedy(Action.SENIOR_MANAGER_CALL, "Senior manager call", "an outbound call or personal letter from a senior manager about the specific problem",
           "service is the main cause: an outbound call from a senior manager about the specific problem", family="service"),
    Remedy(Action.ONBOARDING_CARE, "Onboarding care", "welcome and clear contact details for a fragile new customer, not discounts",
           "a new customer is fragile: onboarding care and clear contacts, not discounts"),
    Remedy(Action.DEDICATED_CONTACT, "Dedicated contact", "a named contact person for a won-back customer, who is especially sensitive",
           "a won-back customer is especially sensitive: assign a dedicated contact person"),
    Remedy(Action.INCIDENT_UPDATE, "Incident update", "proactive status updates about the shared incident, not individual offers",
           "service risk comes mostly from a shared incident: proactive status updates, not individual offers", family="service"),
    Remedy(WinbackAction.OFFER, "Win-back offer", "a renewed offer to a customer who left over price, a month or two after they left",
           "they left over price and a return is worth more than it costs: a renewed offer", family="price"),
    Remedy(WinbackAction.SERVICE_CALL, "Win-back service call", "a senior manager's call or letter that addresses the service problem they left over",
           "they left over service and a return is worth more than it costs: a call about the problem", family="service"),
    Remedy(Action.NONE, "No action", "no action is recommended",
           "no action: expected value of acting is below its cost, or the customer is not flagged"),
)


# The cause family each action addresses: a price remedy matches a price cause, a service remedy a service cause.
REMEDY_FAMILY = {str(r.action): r.family for r in REMEDIES if r.action != Action.NONE}


def remedy(action: str) -> Remedy | None:
    """The declaration of an action code, or None for a code nothing declares."""
    for r in REMEDIES:
        if r.action == action:
            return r
    return None


def held_out(customer_ids: Sequence[str] | pd.Index, as_of: str | pd.Timestamp, fraction: float, key: str) -> np.ndarray:
    """Whether each customer falls in the run's control group: the keyed hash of (customer id, run date) read as a
    uniform number in [0, 1), below ``fraction``. No random state: the same customer and date always give the same
    answer, whoever asks (the nightly job, or a CRM simulating it), and another ``key`` draws another group. The
    hash is pandas' keyed SipHash of the UTF-8 text; its 53 top bits make the number."""
    ids = pd.Series(pd.Index(customer_ids), dtype="str")
    if fraction <= 0 or len(ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    text = (ids + "|" + str(pd.Timestamp(as_of).date())).to_numpy(dtype=object)
    hashed = pd.util.hash_array(text, hash_key=hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], categorize=False)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53) < fraction
