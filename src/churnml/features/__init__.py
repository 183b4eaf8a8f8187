"""Point-in-time feature vectors of the customers active at a date, one builder per log family.

Each builder is a pure function of canonical frames and ``as_of`` that applies the point-in-time rule itself.
:func:`build_features` runs them all. Population-wide facts (what new customers pay per plan, how many customers
an incident hit, the category lists) come from a :class:`PopulationContext` computed once on the whole population,
so that any partition of customers gets exactly the rows the whole population would give them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features.faults import incident_sizes
from churnml.features.prices import median_prices, recent_start_prices
from churnml.features.registry import Builder, FeatureSpec, builders, feature_registry, render_reason
from churnml.features.spec import feature_label
from churnml.features.static import attribute_categories, static_features
from churnml.features.subscription import plan_categories
from churnml.lifecycle import active_customers

__all__ = [
    "CONTEXT_TABLES",
    "Builder",
    "ContextPart",
    "FeatureSpec",
    "PopulationContext",
    "build_features",
    "builders",
    "context_part",
    "feature_label",
    "feature_registry",
    "merge_context",
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
    attribute_kinds: Mapping[str, Any] = field(default_factory=dict)  # customers attribute -> dtype: the registry's static columns


@dataclass(frozen=True)
class ContextPart:
    """What one partition of customers contributes to the :class:`PopulationContext`: counts and value sets that
    add up exactly, since every row of a customer lies in one partition. A few rows per plan, incident or value."""

    as_of: pd.Timestamp
    recent_prices: pd.DataFrame  # plan, monthly_price, periods: periods started recently at that price
    incident_size: pd.Series  # incident_id -> distinct customers of this partition hit before as_of
    plans: frozenset[str]
    static_values: Mapping[str, frozenset[str]] = field(default_factory=dict)  # text attribute -> values seen
    attribute_kinds: Mapping[str, Any] = field(default_factory=dict)  # attribute -> dtype, the same in every part


# The tables :func:`context_part` reads: a context pass loads only these.
CONTEXT_TABLES = ("subscriptions", "customers", "tech_faults")


def context_part(dataset: Dataset, as_of: str | pd.Timestamp, config: ChurnConfig) -> ContextPart:
    """The :class:`ContextPart` of ``dataset`` (all rows of some customers) at ``as_of``, point in time."""
    t = as_timestamp(as_of)
    categories = attribute_categories(dataset.customers, config.ignore_static_attributes)
    return ContextPart(
        as_of=t,
        recent_prices=recent_start_prices(dataset.subscriptions, t, config.features.new_price_reference_days),
        incident_size=incident_sizes(dataset.tech_faults, dataset.subscriptions, t),
        plans=frozenset(plan_categories(dataset.subscriptions, t)),
        static_values={name: frozenset(values) for name, values in categories.items()},
        attribute_kinds={c: d for c, d in dataset.customers.dtypes.items() if c != "customer_id"},
    )


def merge_context(parts: list[ContextPart]) -> PopulationContext:
    """The :class:`PopulationContext` of the customers of all ``parts`` together (one date), exactly as one pass
    over them would compute it. ``ValueError`` when the parts disagree on a date or an attribute's type."""
    if not parts:
        raise ValueError("no partition to take a population context from")
    t = parts[0].as_of
    if any(p.as_of != t for p in parts):
        raise ValueError(f"context parts of different dates: {sorted({str(p.as_of.date()) for p in parts})}")
    kinds: dict[str, Any] = {}
    for part in parts:
        for name, kind in part.attribute_kinds.items():
            if kinds.setdefault(name, kind) != kind:
                raise ValueError(f"attribute {name!r} is read as {kinds[name]} in one partition and as {kind} in another")
    sizes = [p.incident_size for p in parts if len(p.incident_size)]
    incident_size = (
        pd.concat(sizes).groupby(level=0, sort=True).sum().astype("int64").rename("customers").rename_axis("incident_id")
        if sizes else parts[0].incident_size
    )
    names = sorted({n for p in parts for n in p.static_values})
    return PopulationContext(
        as_of=t,
        plan_new_price=median_prices(pd.concat([p.recent_prices for p in parts], ignore_index=True)),
        incident_size=incident_size,
        plans=tuple(sorted(set().union(*(p.plans for p in parts)))),
        static_categories={n: tuple(sorted(set().union(*(p.static_values.get(n, frozenset()) for p in parts)))) for n in names},
        attribute_kinds=kinds,
    )


def population_context(dataset: Dataset, as_of: str | pd.Timestamp, config: ChurnConfig) -> PopulationContext:
    """Compute the :class:`PopulationContext` of ``dataset`` at ``as_of`` (point in time, like the builders)."""
    return merge_context([context_part(dataset, as_of, config)])


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
    parts = [b.build(dataset, customers, t, config, context) for b in builders()]
    reserved = [c for part in parts for c in part.columns]
    parts.append(
        static_features(
            dataset.customers, customers, config.ignore_static_attributes, context.static_categories, reserved=reserved
        )
    )
    return pd.concat(parts, axis=1)
