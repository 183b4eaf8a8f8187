"""On every simulated world, no reason in the scores file cites a healthy value, and causes follow pain."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from churnml.config import parse_config
from churnml.dataset import Dataset
from churnml.explain.causes import attribute, player_references
from churnml.features import build_features, feature_registry, population_context, render_reason
from churnml.labels import training_snapshots
from churnml.modeling.train import train_model
from churnml.pipeline import score as score_dataset
from churnml.synth import WORLDS, generate, world_config

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

AS_OF = pd.Timestamp("2025-10-01")


def _healthy_texts(registry) -> set[str]:
    """How each pain feature's reference reads: the texts no reason may ever show."""
    texts = set()
    for spec in registry.values():
        if spec.reference is None:
            continue
        refs = spec.reference if isinstance(spec.reference, tuple) else (spec.reference,)
        for ref in refs:
            texts.add(render_reason(spec, None if isinstance(ref, float) and math.isnan(ref) else ref))
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("world", list(WORLDS))
def test_reasons_cite_only_harmful_departures(world):
    data = generate(3000, seed=4, config=world_config(world))
    dataset = Dataset.from_frames(data.tables)
    cfg = parse_config({"tracking": {"enabled": False}, "model": {"num_threads": 2}})
    known = dataset.known_at(AS_OF)
    statics = dict(known.customers.drop(columns="customer_id").dtypes)
    registry = feature_registry(cfg, statics)
    bundle = train_model(training_snapshots(known, AS_OF, cfg), cfg, {n: s.family for n, s in registry.items()},
                         as_of=AS_OF).bundle
    bundle.meta["version"] = world
    scores = score_dataset(dataset, AS_OF, bundle, cfg).scores
    flagged = scores[scores["flagged"]]
    assert len(flagged) > 100

    reasons = flagged[["reason_1", "reason_2", "reason_3"]].to_numpy().ravel()
    healthy = _healthy_texts(registry)
    cited_healthy = sorted({r for r in reasons if r in healthy})
    assert not cited_healthy, f"{world}: reasons cite healthy values: {cited_healthy}"

    # Every chosen reason is a harmful departure, or context for a customer whose cause is `other`.
    ids = pd.Index(flagged["customer_id"])
    features = build_features(known.for_customers(ids), AS_OF, cfg, population_context(known, AS_OF, cfg))
    why = attribute(features, bundle, registry, cfg)
    refs = player_references(registry, bundle.feature_names, bundle.meta.get("typical_values"))
    context = np.array([n not in refs for n in bundle.feature_names])
    other = why.causes["primary_cause"].to_numpy() == "other"
    for k in range(why.reasons.shape[1]):
        col = why.reasons[:, k]
        rows = np.flatnonzero(col >= 0)
        ok = why.departs[rows, col[rows]] | (context[col[rows]] & other[rows])
        assert ok.all(), (world, [bundle.feature_names[j] for j in col[rows][~ok]][:5])
    # The scores file says the same as the attribution recomputed for those customers.
    again = why.causes.set_index(features.index)["primary_cause"].reindex(ids).to_numpy()
    assert (again == flagged["primary_cause"].to_numpy()).all()
