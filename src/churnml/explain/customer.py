"""Full explanations of chosen customers: every contribution with the customer's value and what it means.

Used by ``churnml explain`` (one customer) and by the analysts' report (the flagged customers). Features are
built for the chosen customers only, with the whole population's context, so they equal what the nightly job
computed for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.decisions import explain_actions, recommend_actions, risk_tiers
from churnml.explain.causes import attribute
from churnml.features import (
    FeatureSpec,
    PopulationContext,
    build_features,
    feature_registry,
    population_context,
    render_reason,
)
from churnml.lifecycle import lifecycle_stage
from churnml.modeling.bundle import ModelBundle


@dataclass(frozen=True)
class Explanations:
    """``summary``: one row per customer. ``contributions``: one row per customer and feature, largest first."""

    summary: pd.DataFrame
    contributions: pd.DataFrame
    base_log_odds: float
    features: pd.DataFrame | None = None  # the customers' feature vectors, model columns, as scored
    contribution_matrix: np.ndarray | None = None  # TreeSHAP, one row per customer of ``features``, model columns

    def customer(self, customer_id: str) -> tuple[pd.Series, pd.DataFrame]:
        rows = self.contributions[self.contributions["customer_id"] == customer_id]
        return self.summary.loc[customer_id], rows.reset_index(drop=True)


def explain_customers(
    dataset: Dataset,
    as_of: str | pd.Timestamp,
    bundle: ModelBundle,
    config: ChurnConfig,
    customer_ids: list[str] | pd.Index,
    context: PopulationContext | None = None,
) -> Explanations:
    """Probability, tier, stage, cause, action and every contribution for the given active customers."""
    t = as_timestamp(as_of)
    known = dataset.known_at(t)
    context = context or population_context(known, t, config)
    ids = pd.Index(customer_ids).unique()
    part = known.for_customers(ids)
    features = build_features(part, t, config, context)
    registry = feature_registry(config, dict(known.customers.drop(columns="customer_id").dtypes))
    stage = lifecycle_stage(part.subscriptions, t, config.labels).reindex(features.index).to_numpy()
    return explain_features(features, stage, bundle, registry, config)


def explain_features(
    features: pd.DataFrame, stage: np.ndarray, bundle: ModelBundle, registry: Mapping[str, FeatureSpec], config: ChurnConfig
) -> Explanations:
    """:func:`explain_customers` for feature vectors already built (one row per customer, as scored), e.g. those
    a run kept in its history; ``stage``: each row's lifecycle stage."""
    X = bundle.prepare(features)
    base = float(bundle.contributions(X.iloc[:1])[0, -1]) if len(X) else 0.0
    p = bundle.predict(features)
    why = attribute(features, bundle, registry, config)
    contrib, causes = why.contributions, why.causes
    price = features["monthly_price"].to_numpy(dtype=float) if "monthly_price" in features else np.zeros(len(features))
    actions = recommend_actions(causes, stage, p, price, config.playbook, config.cause)
    summary = pd.DataFrame(
        {
            "churn_probability": p,
            "risk_tier": risk_tiers(p, config.flagging.tiers.high, config.flagging.tiers.medium),
            "lifecycle_stage": stage,
            **{c: causes[c].to_numpy() for c in causes.columns},
            "recommended_action": actions,
            "action_reason": explain_actions(actions, causes, stage),
        },
        index=features.index,
    )

    names = bundle.feature_names
    n, f = contrib.shape
    long = pd.DataFrame(
        {
            "customer_id": np.repeat(features.index.to_numpy(), f),
            "feature": np.tile(names, n),
            "family": np.tile([registry[c].family.value if c in registry else "other" for c in names], n),
            "contribution": contrib.reshape(-1),
        }
    )
    values = features[names].astype(object)
    long["value"] = values.to_numpy().reshape(-1)  # row-major: customer by customer, features in model order
    meaning = np.empty(n * f, dtype=object)
    for j, name in enumerate(names):  # a loop over features; each distinct value is rendered once
        rows = np.arange(n) * f + j
        codes, uniques = pd.factorize(values.iloc[:, j], use_na_sentinel=True)
        spec = registry.get(name)
        texts = [render_reason(spec, u) if spec else name for u in uniques] + [render_reason(spec, None) if spec else name]
        meaning[rows] = np.asarray(texts, dtype=object)[np.where(codes < 0, len(uniques), codes)]
    long["meaning"] = meaning
    long = long.assign(_abs=long["contribution"].abs()).sort_values(["customer_id", "_abs"], ascending=[True, False], kind="stable")
    return Explanations(summary, long.drop(columns="_abs").reset_index(drop=True), base, features[names], contrib)
