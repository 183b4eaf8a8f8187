"""Billing queries: support contacts about the bill, a price signal although they come through the support desk.

A customer who keeps asking about the bill watches what they pay: in retention practice "called about the bill"
is among the first signs of a price-driven departure, especially right after a rise. The contact itself (its wait,
whether it was resolved) stays a service fact in :mod:`churnml.features.support`; only the topic is read here.
Contacts without a recorded ``topic`` are not counted (the topic column is optional in the contract).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import FeatureConfig
from churnml.dataset import as_timestamp
from churnml.features._common import events_before, frame_of, window_name

BILLING_TOPIC = "billing"


def billing_contact_features(
    contacts: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, cfg: FeatureConfig
) -> pd.DataFrame:
    """Support contacts whose ``topic`` is billing (case-insensitive), per window before ``as_of``."""
    t = as_timestamp(as_of)
    ev = events_before(contacts, "timestamp", customers, t)
    if "topic" in contacts.columns and len(ev.pos):
        topic = contacts["topic"].astype("str").str.strip().str.lower()
        billing = (topic == BILLING_TOPIC).to_numpy(dtype=bool, na_value=False)[ev.pos]
    else:
        billing = np.zeros(len(ev.pos), dtype=bool)
    cols = {window_name("billing_contacts", w): ev.count(ev.within(w) & billing) for w in cfg.windows_days}
    return frame_of(customers, cols)
