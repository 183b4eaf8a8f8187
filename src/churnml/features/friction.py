"""Service friction: one recency-weighted score of the service failures a customer went through (service).

Customers forgive an isolated bad experience; a pattern of them, recent and piling up, is what drives them away.
The separate counts per log (support, faults, complaints) and per window say what happened; this score adds them up
the way memory does, so that a model with little data does not have to learn the sum itself. Every failure counts
1 and fades by half every ``FRICTION_HALF_LIFE_DAYS``: a support contact that waited longer than
``long_wait_minutes``, one left unresolved (a contact that was both counts 2), a technical fault, a non-billing
complaint. Events in the longest window before ``as_of`` count; older ones have faded to an eighth or less.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import FeatureConfig
from churnml.dataset import as_timestamp
from churnml.features._common import events_before, frame_of
from churnml.features.complaints import PRICE_CATEGORY

FRICTION_HALF_LIFE_DAYS = 60.0


def service_friction_features(
    contacts: pd.DataFrame,
    faults: pd.DataFrame,
    complaints: pd.DataFrame,
    customers: pd.Index,
    as_of: str | pd.Timestamp,
    cfg: FeatureConfig,
) -> pd.DataFrame:
    """``service_friction_score``: the sum of ``0.5 ** (age_days / FRICTION_HALF_LIFE_DAYS)`` over the failures."""
    t = as_timestamp(as_of)
    longest = max(cfg.windows_days)
    score = np.zeros(len(customers))

    def fade(age: np.ndarray) -> np.ndarray:
        return 0.5 ** (age / FRICTION_HALF_LIFE_DAYS)

    ev = events_before(contacts, "timestamp", customers, t, max_age_days=longest)
    failures = (ev.column(contacts, "wait_minutes") > cfg.long_wait_minutes).astype(np.float64)
    failures += ~ev.column(contacts, "resolved", bool)
    score += ev.total(fade(ev.age) * failures)
    ev = events_before(faults, "timestamp", customers, t, max_age_days=longest)
    score += ev.total(fade(ev.age))
    ev = events_before(complaints, "timestamp", customers, t, max_age_days=longest)
    service = (complaints["category"] != PRICE_CATEGORY).to_numpy(dtype=bool, na_value=True)[ev.pos]
    score += ev.total(fade(ev.age), service)
    return frame_of(customers, {"service_friction_score": score})
