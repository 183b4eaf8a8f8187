"""Point-in-time feature vectors of the customers active at a date, one builder per log family.

Each builder is a pure function of canonical frames and ``as_of`` that applies the point-in-time rule itself.
:func:`build_features` runs them all. Population-wide facts (what new customers pay per plan, how many customers
an incident hit, the category lists) come from a :class:`PopulationContext` computed once on the whole population,
so that any partition of customers gets exactly the rows the whole population would give them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features.billing import billing_contact_features
from churnml.features.complaints import complaint_features
from churnml.features.faults import incident_sizes, tech_fault_features
from churnml.features.friction import price_pressure_features, service_friction_features
from churnml.features.prices import new_customer_prices, price_change_features
from churnml.features.registry import FeatureSpec, feature_registry, render_reason
from churnml.features.static import attribute_categories, static_features
from churnml.features.subscription import plan_categories, subscription_features
from churnml.features.support import support_contact_features
from churnml.features.surveys import survey_features
from churnml.features.usage import usage_features
from churnml.lifecycle import active_customers

__all__ = [
    "FeatureSpec",
    "PopulationContext",
    "build_features",
    "feature_registry",
    "population_context",
    "render_reason",
]


@dataclass(frozen=True)
class PopulationContext:
    """Facts about the whole population at ``as_of`` that single customers' features depend on.

    Small (one row per plan, incident or category), so it is broadcast to every partition.
    """

    as_of: pd.Timestamp
    plan_new_price: pd.Series  # plan -> median monthly_price of periods started recently
    incident_size: pd.Series  # incident_id -> distinct customers with a fault of it before as_of
    plans: tuple[str, ...]  # categories of the `plan` feature
    static_categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # attribute -> categories


def population_context(dataset: Dataset, as_of: str | pd.Timestamp, config: ChurnConfig) -> PopulationContext:
    """Compute the :class:`PopulationContext` of ``dataset`` at ``as_of`` (point in time, like the builders)."""
    t = as_timestamp(as_of)
    return PopulationContext(
        as_of=t,
        plan_new_price=new_customer_prices(dataset.subscriptions, t, config.features.new_price_reference_days),
        incident_size=incident_sizes(dataset.tech_faults, dataset.subscriptions, t),
        plans=plan_categories(dataset.subscriptions, t),
        static_categories=attribute_categories(dataset.customers, config.ignore_static_attributes),
    )


def build_features(
    dataset: Dataset, as_of: str | pd.Timestamp, config: ChurnConfig, context: PopulationContext | None = None
) -> pd.DataFrame:
    """Feature frame of the customers active at ``as_of``: sorted ``customer_id`` index, registry column order.

    Numbers are float64, ``plan`` and text attributes pandas categories. Pass the ``context`` of the whole
    population when ``dataset`` is one partition of it; without one it is computed from ``dataset``.
    """
    t = as_timestamp(as_of)
    if context is None:
        context = population_context(dataset, t, config)
    elif context.as_of != t:
        raise ValueError(f"population context is for {context.as_of.date()}, features are asked for {t.date()}")
    customers = active_customers(dataset.subscriptions, t)
    cfg = config.features
    parts = [
        subscription_features(dataset.subscriptions, customers, t, config.labels, context.plans),
        price_change_features(dataset.price_changes, dataset.subscriptions, customers, t, cfg, context.plan_new_price),
        usage_features(dataset.usage, customers, t, cfg),
        support_contact_features(dataset.support_contacts, customers, t, cfg),
        billing_contact_features(dataset.support_contacts, customers, t, cfg),
        complaint_features(dataset.complaints, customers, t, cfg),
        tech_fault_features(dataset.tech_faults, customers, t, cfg, context.incident_size),
        survey_features(dataset.surveys, customers, t, cfg),
        service_friction_features(
            dataset.support_contacts, dataset.tech_faults, dataset.complaints, customers, t, cfg
        ),
        price_pressure_features(dataset.price_changes, dataset.complaints, customers, t, cfg),
    ]
    reserved = [c for part in parts for c in part.columns]
    parts.append(
        static_features(
            dataset.customers, customers, config.ignore_static_attributes, context.static_categories, reserved=reserved
        )
    )
    return pd.concat(parts, axis=1)
