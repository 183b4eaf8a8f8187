"""Complaints: counts by category, severity and recency. Billing complaints are a price signal, the rest service."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features._common import events_before, frame_of, window_name
from churnml.features.spec import (
    COUNT,
    NONE_IS_HEALTHY,
    Builder,
    FeatureSpec,
    recent,
)
from churnml.schemas import COMPLAINT_CATEGORIES

PRICE_CATEGORY = "billing"


def complaint_features(
    complaints: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, cfg: FeatureConfig,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Complaints before ``as_of``: per category over the longest window, severity sums and days since the last.

    Severity and recency are split into billing and non-billing so that each feature has a single cause family.
    """
    t = as_timestamp(as_of)
    ev = events_before(complaints, "timestamp", customers, t, positions=positions)
    longest = max(cfg.windows_days)
    in_longest = ev.within(longest)
    category = complaints["category"]
    billing = (category == PRICE_CATEGORY).to_numpy(dtype=bool, na_value=False)[ev.pos]
    severity = ev.column(complaints, "severity")

    cols: dict[str, np.ndarray] = {}
    for cat in COMPLAINT_CATEGORIES:
        is_cat = (category == cat).to_numpy(dtype=bool, na_value=False)[ev.pos]
        cols[window_name(f"complaints_{cat}", longest)] = ev.count(in_longest & is_cat)
    cols[window_name("complaints_billing_severity", longest)] = ev.total(severity, in_longest & billing)
    cols[window_name("complaints_nonbilling_severity", longest)] = ev.total(severity, in_longest & ~billing)
    cols["complaints_billing_days_since_last"] = ev.days_since_last(billing)
    cols["complaints_nonbilling_days_since_last"] = ev.days_since_last(~billing)
    return frame_of(customers, cols)


# ---------------------------------------------------------------------------------------------- declarations


def complaint_specs(config: ChurnConfig) -> list[FeatureSpec]:
    src = "complaints"
    longest = max(config.features.windows_days)
    last = f"in the last {longest} days"
    span = f"last {longest} days"
    specs = [
        FeatureSpec(
            window_name(f"complaints_{cat}", longest),
            Family.PRICE if cat == PRICE_CATEGORY else Family.SERVICE,
            f"{{value}} {cat} complaint{{s}} {last}",
            src,
            COUNT,
            **NONE_IS_HEALTHY,
        )
        for cat in COMPLAINT_CATEGORIES
    ]
    specs += [
        FeatureSpec(
            window_name("complaints_billing_severity", longest),
            Family.PRICE,
            f"billing complaints of total severity {{value}} {last}",
            src,
            zero=f"no billing complaint {last}",
            label=f"total severity of billing complaints ({span})",
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("complaints_nonbilling_severity", longest),
            Family.SERVICE,
            f"service complaints of total severity {{value}} {last}",
            src,
            zero=f"no service complaint {last}",
            label=f"total severity of service complaints ({span})",
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "complaints_billing_days_since_last",
            Family.PRICE,
            "last billing complaint {value:.0f} days ago",
            src,
            missing="no billing complaint on record",
            label="days since the last billing complaint",
            **recent(longest),
        ),
        FeatureSpec(
            "complaints_nonbilling_days_since_last",
            Family.SERVICE,
            "last service complaint {value:.0f} days ago",
            src,
            missing="no service complaint on record",
            label="days since the last service complaint",
            **recent(longest),
        ),
    ]
    return specs


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return complaint_features(data.complaints, customers, t, config.features, data.positions("complaints", customers))


BUILDER = Builder("complaints", 60, _build, complaint_specs)
