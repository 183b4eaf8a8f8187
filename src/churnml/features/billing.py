"""Billing queries: support contacts about the bill.

A customer who keeps asking about the bill watches what they pay: in retention practice "called about the bill"
is among the first signs of a price-driven departure, especially right after a rise. So how often a customer asks
about the bill counts as price. How the desk handled those questions is service, as it is for every contact (the
contract puts support contacts and waits in the service family): a billing question left unresolved or asked again
within days is a failure of the desk, not of the price. Waits stay with the other contacts in
:mod:`churnml.features.support`. Contacts without a recorded ``topic`` are service contacts (the topic column is
optional).

Measured on the simulated worlds (BENCHMARKS.md, 2026-12-06): counted as price, unresolved and repeated billing
questions named price for customers whose trouble was the desk (service_led seed 1: 88% of the 140 flagged
customers the oracle names service but churnml named price had an unresolved billing question in the last 90 days,
against 22% of all flagged); together with the healed-risk weight, the flagged customers' price and service mix fell
within 10 points of the oracle's in 23 of 24 runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features._common import events_before, frame_of, window_name
from churnml.features.spec import (
    Builder,
    FeatureSpec,
    per_window,
)

BILLING_TOPIC = "billing"


def billing_topic(contacts: pd.DataFrame, pos: np.ndarray) -> np.ndarray:
    """Per event position: the contact's ``topic`` is billing (case-insensitive); False without a topic."""
    if "topic" not in contacts.columns or not len(pos):
        return np.zeros(len(pos), dtype=bool)
    topic = contacts["topic"].astype("str").str.strip().str.lower()
    return (topic == BILLING_TOPIC).to_numpy(dtype=bool, na_value=False)[pos]


def billing_contact_features(
    contacts: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, cfg: FeatureConfig,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Support contacts whose ``topic`` is billing, per window before ``as_of``: all, unresolved, and repeats
    (within ``repeat_contact_days`` of the customer's previous contact of any topic)."""
    from churnml.features.support import repeat_contacts

    t = as_timestamp(as_of)
    ev = events_before(contacts, "timestamp", customers, t, positions=positions)
    billing = billing_topic(contacts, ev.pos)
    unresolved = billing & ~ev.column(contacts, "resolved", bool)
    repeat = billing & repeat_contacts(ev, ev.within(max(cfg.windows_days)), cfg.repeat_contact_days)
    cols = {window_name("billing_contacts", w): ev.count(ev.within(w) & billing) for w in cfg.windows_days}
    cols |= {window_name("billing_unresolved", w): ev.count(ev.within(w) & unresolved) for w in cfg.windows_days}
    cols |= {window_name("billing_repeat_contacts", w): ev.count(ev.within(w) & repeat) for w in cfg.windows_days}
    return frame_of(customers, cols)


# ---------------------------------------------------------------------------------------------- declarations


def billing_specs(config: ChurnConfig) -> list[FeatureSpec]:
    src = "support_contacts"
    return [
        *per_window(config, "billing_contacts", Family.PRICE, "contact{s} about the bill", src),
        *per_window(config, "billing_unresolved", Family.SERVICE, "unresolved contact{s} about the bill", src),
        *per_window(
            config,
            "billing_repeat_contacts",
            Family.SERVICE,
            f"repeat contact{{s}} about the bill within {config.features.repeat_contact_days} days of the previous one",
            src,
        ),
    ]


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return billing_contact_features(data.support_contacts, customers, t, config.features, data.positions("support_contacts", customers))


BUILDER = Builder("billing", 50, _build, billing_specs)
