"""Adding a feature from a new log table touches the schema, one builder module and a test (README, "Extending
churnml"): the table is then read, validated, cut at the as-of date and turned into declared features with no
other file changed. Here the schema entry and the module are added for the test's duration only."""

import textwrap

import pandas as pd
import pytest

import churnml.features
from churnml import io, schemas
from churnml.config import ChurnConfig, Family
from churnml.dataset import Dataset
from churnml.features import build_features, builders, feature_registry
from churnml.lifecycle import active_customers
from churnml.schemas import ColumnSpec, Kind, TableSpec
from churnml.synth import generate

T = pd.Timestamp("2025-01-01")

# The whole builder module a developer writes: computation, declarations, registration.
MODULE = '''
from __future__ import annotations

import numpy as np
import pandas as pd

from churnml.config import Family
from churnml.features._common import events_before, frame_of
from churnml.features.spec import COUNT, NONE_IS_HEALTHY, Builder, FeatureSpec


def app_rating_features(ratings, customers, as_of):
    ev = events_before(ratings, "timestamp", customers, as_of)
    stars = ev.column(ratings, "stars")
    return frame_of(customers, {"app_bad_ratings": ev.count(stars <= 2)})


def app_rating_specs(config):
    return [FeatureSpec("app_bad_ratings", Family.SERVICE, "{value} app rating{s} of 2 stars or fewer", "app_ratings",
                        COUNT, **NONE_IS_HEALTHY)]


BUILDER = Builder("app_ratings", 85, lambda data, customers, t, config, context: app_rating_features(data.app_ratings, customers, t),
                  app_rating_specs)
'''


@pytest.fixture
def extended(tmp_path, monkeypatch):
    table = TableSpec("app_ratings", (ColumnSpec("customer_id", Kind.ID), ColumnSpec("timestamp", Kind.TIMESTAMP),
                                      ColumnSpec("stars", Kind.INT, ge=1, le=5)), time_column="timestamp")
    monkeypatch.setitem(schemas.TABLES, "app_ratings", table)
    package = tmp_path / "package"
    package.mkdir()
    (package / "app_ratings.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.setattr(churnml.features, "__path__", [*churnml.features.__path__, str(package)])
    builders.cache_clear()
    yield
    import sys

    sys.modules.pop("churnml.features.app_ratings", None)
    builders.cache_clear()


def test_a_new_log_table_becomes_declared_point_in_time_features(extended, tmp_path):
    data = generate(300, seed=3, start="2024-01-01", months=12)
    folder = tmp_path / "data"
    io.write_dataset(Dataset.from_frames(data.tables), folder)
    ids = active_customers(data.tables["subscriptions"], T)[:3].tolist()
    pd.DataFrame({
        "customer_id": [ids[0], ids[0], ids[1], ids[1], ids[2]],
        "timestamp": ["2024-12-01", "2024-12-20", "2024-11-05", "2025-01-01", "2024-12-02"],  # one on T: not known
        "stars": ["1", "2", "2", "1", "9"],  # 9 breaks the schema's rule
    }).to_csv(folder / "app_ratings.csv", index=False)

    result = io.load_dataset(folder)
    assert result.reports["app_ratings"].rejected == 1
    assert "9" in result.rejects["app_ratings"]["stars"].tolist()
    features = build_features(result.dataset, T, ChurnConfig())
    assert [b.name for b in builders()].index("app_ratings") == [b.name for b in builders()].index("surveys") + 1
    spec = feature_registry(ChurnConfig())["app_bad_ratings"]
    assert spec.family is Family.SERVICE and spec.source == "app_ratings"
    assert list(feature_registry(ChurnConfig())) == [c for c in features.columns if c in feature_registry(ChurnConfig())]
    counts = features["app_bad_ratings"]
    assert counts.loc[ids[0]] == 2 and counts.loc[ids[1]] == 1  # the rating dated on T does not count
    assert counts.drop(ids[:2]).eq(0).all()


def test_without_the_module_the_registry_is_as_shipped():
    assert "app_bad_ratings" not in feature_registry(ChurnConfig())
    assert "app_ratings" not in schemas.TABLES
