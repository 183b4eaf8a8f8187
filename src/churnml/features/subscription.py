"""Subscription history: tenure, the current run, earlier churns and returns, plan and price."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, LabelConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features.spec import (
    CATEGORY,
    COUNT,
    FLAG,
    Builder,
    FeatureSpec,
)
from churnml.lifecycle import run_summary, subscriptions_as_of


def plan_categories(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp) -> tuple[str, ...]:
    """Every plan known at ``as_of``, sorted: the categories of the ``plan`` feature."""
    plans = subscriptions_as_of(subscriptions, as_of)["plan"].dropna().unique()
    return tuple(sorted(str(p) for p in plans))


def subscription_features(
    subscriptions: pd.DataFrame,
    customers: pd.Index,
    as_of: str | pd.Timestamp,
    labels_cfg: LabelConfig,
    plans: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Tenure, current run length, previous churns, lifecycle flags, plan (category) and plan changes.

    Read from the periods as known at ``as_of`` (contract): a run is periods separated by at most G days, each
    earlier run ended in a churn. ``plans`` fixes the categories of ``plan`` so that every partition and snapshot
    agrees; by default the plans in ``subscriptions``.
    """
    t = as_timestamp(as_of)
    summary = run_summary(subscriptions, customers, t, labels_cfg.grace_days)
    day = pd.Timedelta(days=1)

    def days_since(column: str) -> np.ndarray:
        return ((t - summary[column]) / day).to_numpy(dtype=np.float64, na_value=np.nan)

    run_days = days_since("run_start")
    previous = summary["previous_churns"].to_numpy(dtype=np.float64)
    won_back = previous > 0
    is_new = ~won_back & (run_days < labels_cfg.new_customer_days)
    known = ~np.isnan(previous)
    categories = list(plans) if plans is not None else plan_categories(subscriptions, t)
    out = pd.DataFrame(
        {
            "tenure_days": days_since("first_start"),
            "current_run_days": run_days,
            "previous_churns": previous,
            "is_new": np.where(known, is_new, np.nan),
            "is_won_back": np.where(known, won_back, np.nan),
            "days_since_last_churn": days_since("last_churn"),
            "plan": pd.Categorical(summary["plan"].to_numpy(dtype=object), categories=categories),
            "plan_changes": summary["plan_changes"].to_numpy(dtype=np.float64),
        },
        index=customers.rename("customer_id"),
    )
    return out


# ---------------------------------------------------------------------------------------------- declarations


def subscription_specs(config: ChurnConfig) -> list[FeatureSpec]:
    o, src = Family.OTHER, "subscriptions"
    new_days = config.labels.new_customer_days
    return [
        FeatureSpec("tenure_days", o, "customer for {value} days", src, label="days as a customer"),
        FeatureSpec(
            "current_run_days",
            o,
            "current subscription running for {value} days",
            src,
            label="days in the current subscription",
        ),
        FeatureSpec(
            "previous_churns",
            o,
            "left and came back {value} time{s} before",
            src,
            COUNT,
            zero="never left before",
            label="times left and came back before",
        ),
        FeatureSpec("is_new", o, f"new customer (joined under {new_days} days ago): {{value}}", src, FLAG),
        FeatureSpec("is_won_back", o, "won back after leaving before: {value}", src, FLAG),
        FeatureSpec(
            "days_since_last_churn",
            o,
            "came back after leaving {value} days ago",
            src,
            missing="never left before",
            label="days since coming back after leaving",
        ),
        FeatureSpec("plan", o, "on plan {value}", src, CATEGORY),
        FeatureSpec("plan_changes", o, "changed plan {value} time{s}", src, COUNT, label="plan changes"),
    ]


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return subscription_features(data.subscriptions, customers, t, config.labels, context.plans)


BUILDER = Builder("subscription", 10, _build, subscription_specs)
