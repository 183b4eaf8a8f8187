"""Usage against allowance: plan mismatch (over or well under the allowance, price) and engagement (other)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features._common import Events, frame_of, positions_in, ratio
from churnml.features.spec import (
    AWAY,
    COUNT,
    FLAG,
    LOWER,
    NONE_IS_HEALTHY,
    PLAN_MISMATCH,
    Builder,
    FeatureSpec,
)

# A month using less than this share of its allowance counts as paying for what the customer does not use.
UNDER_USE_SHARE = 0.5


def _month_number(values: np.ndarray | np.datetime64) -> np.ndarray:
    return values.astype("datetime64[M]").astype(np.int64)


def completed_usage(
    usage: pd.DataFrame, customers: pd.Index, as_of: pd.Timestamp, months: int, positions: np.ndarray | None = None
) -> Events:
    """Usage rows of the last ``months`` months that ended on or before ``as_of``.

    ``age`` is in months: 1 for the last completed month. A month is over on the first day of the next month, so
    at ``as_of`` = 1 March the February row counts and the March row does not.
    """
    n = len(customers)
    if len(usage) == 0 or n == 0:
        empty = np.empty(0, dtype=np.int64)
        return Events(empty, np.empty(0), empty, n)
    current = _month_number(np.datetime64(as_of.as_unit("ns").value, "ns"))
    age = current - _month_number(usage["month"].to_numpy(dtype="datetime64[ns]"))
    pos = np.flatnonzero((age >= 1) & (age <= months))
    codes = positions[pos] if positions is not None else positions_in(usage["customer_id"].iloc[pos], customers)
    mine = codes >= 0
    pos, codes = pos[mine], codes[mine]
    return Events(codes, age[pos].astype(np.float64), pos, n)


def usage_features(
    usage: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, cfg: FeatureConfig,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Utilisation (used / allowance) over the last ``usage_months`` completed months, months over the allowance
    and under half of it, whether the latest month was unlimited, mean monthly volume and its trend.

    Utilisation averages the months that had an allowance (NaN if all were unlimited or there is no usage). The
    trend is the percent change of mean volume against the ``usage_months`` months before (NaN without them).
    """
    t = as_timestamp(as_of)
    k = cfg.usage_months
    ev = completed_usage(usage, customers, t, 2 * k)
    used = ev.column(usage, "used")
    allowance = ev.column(usage, "allowance")
    recent = ev.within(k)
    limited = ~np.isnan(allowance)
    utilisation = np.full(len(used), np.nan)
    np.divide(used, allowance, out=utilisation, where=limited)

    # The unlimited flag follows the latest completed month the customer has a usage row for.
    latest = ev.minimum(ev.age, recent)
    is_latest = recent & (ev.age == latest[ev.codes])
    unlimited = np.where(np.isnan(latest), np.nan, (ev.count(is_latest & ~limited) > 0).astype(np.float64))

    volume = ev.mean(used, recent)
    earlier = ev.mean(used, ~recent)
    return frame_of(
        customers,
        {
            f"usage_utilisation_{k}m": ev.mean(utilisation, recent & limited),
            f"usage_months_over_allowance_{k}m": ev.count(recent & limited & (used > allowance)),
            f"usage_months_under_half_{k}m": ev.count(recent & limited & (used < UNDER_USE_SHARE * allowance)),
            "usage_unlimited": unlimited,
            f"usage_volume_{k}m": volume,
            "usage_trend_pct": ratio(volume - earlier, earlier) * 100.0,
        },
    )


# ---------------------------------------------------------------------------------------------- declarations


def usage_specs(config: ChurnConfig) -> list[FeatureSpec]:
    p, o, src = Family.PRICE, Family.OTHER, "usage"
    k = config.features.usage_months
    months = f"the last {k} months"
    return [
        FeatureSpec(
            f"usage_utilisation_{k}m",
            p,
            f"used {{value:.0%}} of the allowance on average over {months}",
            src,
            group=PLAN_MISMATCH,
            missing="no usage allowance on record",
            reference=0.75,
            hurts=AWAY,
            neutral=(0.5, 1.0),
            label=f"share of the allowance used (last {k} months)",
        ),
        FeatureSpec(
            f"usage_months_over_allowance_{k}m",
            p,
            f"over the allowance in {{value}} of {months}",
            src,
            COUNT,
            PLAN_MISMATCH,
            label=f"months over the allowance (of the last {k})",
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            f"usage_months_under_half_{k}m",
            p,
            f"used under half of the allowance in {{value}} of {months}",
            src,
            COUNT,
            PLAN_MISMATCH,
            label=f"months under half the allowance (of the last {k})",
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "usage_unlimited", o, "unlimited allowance: {value}", src, FLAG, missing="no recent usage on record"
        ),
        FeatureSpec(
            f"usage_volume_{k}m",
            o,
            f"average monthly usage {{value}} over {months}",
            src,
            missing="no recent usage on record",
            label=f"average monthly usage (last {k} months)",
        ),
        FeatureSpec(
            "usage_trend_pct",
            o,
            f"usage {{up_down}} {{abs:.0f}}% over {months} against the {k} before",
            src,
            missing="no earlier usage to compare with",
            zero=f"usage steady over {months}",
            reference=0.0,
            hurts=LOWER,
            label=f"usage change (%, last {k} months against the {k} before)",
        ),
    ]


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return usage_features(data.usage, customers, t, config.features, data.positions("usage", customers))


BUILDER = Builder("usage", 30, _build, usage_specs)
