"""Friction scores: recency-weighted sums of the service failures (service) and price shocks (price) a customer went
through.

Customers forgive an isolated bad experience; a pattern of them, recent and piling up, is what drives them away.
The separate counts per log (support, faults, complaints) and per window say what happened; this score adds them up
the way memory does, so that a model with little data does not have to learn the sum itself. Every failure counts
1 and fades by half every ``FRICTION_HALF_LIFE_DAYS``: a support contact that waited longer than
``long_wait_minutes``, one left unresolved unless it was about the bill (a contact that was both counts 2), a
technical fault, a non-billing complaint. Events in the longest window before ``as_of`` count; older ones have
faded to an eighth or less.

Price pressure is its price twin: every rise counts its size in tenths (a 10% rise counts 1), twice when it came
with less than ``short_notice_days`` of notice or none on record, and every billing complaint counts 1, all fading
the same way. A single score lets a model learn how much price pressure a kind of customer bears with one split on
who they are, where the separate rise features would each need their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features._common import events_before, frame_of
from churnml.features.billing import billing_topic
from churnml.features.complaints import PRICE_CATEGORY
from churnml.features.spec import (
    NONE_IS_HEALTHY,
    Builder,
    FeatureSpec,
)

FRICTION_HALF_LIFE_DAYS = 60.0


def _fade(age_days: np.ndarray) -> np.ndarray:
    """Weight of an event ``age_days`` old: halves every ``FRICTION_HALF_LIFE_DAYS``."""
    return 0.5 ** (age_days / FRICTION_HALF_LIFE_DAYS)


def service_friction_features(
    contacts: pd.DataFrame,
    faults: pd.DataFrame,
    complaints: pd.DataFrame,
    customers: pd.Index,
    as_of: str | pd.Timestamp,
    cfg: FeatureConfig,
    positions: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """``service_friction_score``: the sum of ``0.5 ** (age_days / FRICTION_HALF_LIFE_DAYS)`` over the failures."""
    t = as_timestamp(as_of)
    longest = max(cfg.windows_days)
    score = np.zeros(len(customers))

    where = positions or {}
    ev = events_before(contacts, "timestamp", customers, t, longest, where.get("support_contacts"))
    failures = (ev.column(contacts, "wait_minutes") > cfg.long_wait_minutes).astype(np.float64)
    # An unresolved bill query has features of its own; leaving it out here measured better on price recall.
    failures += ~ev.column(contacts, "resolved", bool) & ~billing_topic(contacts, ev.pos)
    score += ev.total(_fade(ev.age) * failures)
    ev = events_before(faults, "timestamp", customers, t, longest, where.get("tech_faults"))
    score += ev.total(_fade(ev.age))
    ev = events_before(complaints, "timestamp", customers, t, longest, where.get("complaints"))
    service = (complaints["category"] != PRICE_CATEGORY).to_numpy(dtype=bool, na_value=True)[ev.pos]
    score += ev.total(_fade(ev.age), service)
    return frame_of(customers, {"service_friction_score": score})


def price_pressure_features(
    price_changes: pd.DataFrame,
    complaints: pd.DataFrame,
    customers: pd.Index,
    as_of: str | pd.Timestamp,
    cfg: FeatureConfig,
    positions: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """``price_pressure_score``: faded rise sizes (doubled on short or unknown notice) plus faded billing complaints."""
    t = as_timestamp(as_of)
    longest = max(cfg.windows_days)

    where = positions or {}
    ev = events_before(price_changes, "timestamp", customers, t, longest, where.get("price_changes"))
    old = ev.column(price_changes, "old_price")
    new = ev.column(price_changes, "new_price")
    notice = ev.column(price_changes, "notice_days")
    tenths = np.where((new > old) & (old > 0), (new / np.where(old > 0, old, 1.0) - 1.0) * 10.0, 0.0)
    unannounced = ~(notice >= cfg.short_notice_days)  # NaN (unknown) counts as short
    # float even when nobody had a price change (bincount of no weights gives integers)
    score = ev.total(_fade(ev.age) * tenths * (1.0 + unannounced)).astype(np.float64)
    ev = events_before(complaints, "timestamp", customers, t, longest, where.get("complaints"))
    billing = (complaints["category"] == PRICE_CATEGORY).to_numpy(dtype=bool, na_value=False)[ev.pos]
    score += ev.total(_fade(ev.age), billing)
    return frame_of(customers, {"price_pressure_score": score})


# ---------------------------------------------------------------------------------------------- declarations


def friction_specs(config: ChurnConfig) -> list[FeatureSpec]:
    return [
        FeatureSpec(
            "service_friction_score",
            Family.SERVICE,
            "service failures piling up (long waits, unresolved contacts, faults, complaints; recent ones weigh "
            "most): friction score {value:.1f}",
            "support_contacts,tech_faults,complaints",
            zero=f"no service failure in the last {max(config.features.windows_days)} days",
            label="service friction score (long waits, unresolved contacts, faults, complaints)",
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "price_pressure_score",
            Family.PRICE,
            "price shocks piling up (recent rises, larger and short-notice ones weighing most, billing complaints): "
            "pressure score {value:.1f}",
            "price_changes,complaints",
            zero=f"no price rise or billing complaint in the last {max(config.features.windows_days)} days",
            label="price pressure score (recent, large and short-notice rises, billing complaints)",
            **NONE_IS_HEALTHY,
        ),
    ]


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    where = {name: data.positions(name, customers) for name in ("support_contacts", "tech_faults", "complaints", "price_changes")}
    return pd.concat([
        service_friction_features(data.support_contacts, data.tech_faults, data.complaints, customers, t, config.features, where),
        price_pressure_features(data.price_changes, data.complaints, customers, t, config.features, where),
    ], axis=1)


BUILDER = Builder("friction", 90, _build, friction_specs)
