"""A partition of customers (all their rows) gets exactly the rows the whole population gives them."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.config import ChurnConfig, FeatureConfig
from churnml.features import build_features, context_part, merge_context, population_context

# A low shared-incident threshold so that incident exposure really depends on other customers.
CONFIG = ChurnConfig(features=FeatureConfig(incident_min_customers=3))
DATES = ["2025-03-01", "2025-09-17", "2026-03-01"]


@pytest.fixture(scope="module")
def whole(mixed):
    return {t: (build_features(mixed, t, CONFIG), population_context(mixed, t, CONFIG)) for t in DATES}


@settings(max_examples=30, deadline=None)
@given(t=st.sampled_from(DATES), seed=st.integers(0, 2**32 - 1), share=st.floats(0.05, 0.9))
def test_partition_rows_equal_whole_population_rows(mixed, whole, t, seed, share):
    full, context = whole[t]
    ids = mixed.customer_ids
    part_ids = ids[np.random.default_rng(seed).random(len(ids)) < share]
    part = build_features(mixed.for_customers(part_ids), t, CONFIG, context)
    expected = full.loc[full.index.isin(part_ids)]
    pd.testing.assert_frame_equal(part, expected)


def test_chunks_stack_back_to_the_whole(mixed, whole):
    full, context = whole["2026-03-01"]
    chunks = np.array_split(np.asarray(mixed.customer_ids), 4)
    stacked = pd.concat([build_features(mixed.for_customers(c), "2026-03-01", CONFIG, context) for c in chunks])
    pd.testing.assert_frame_equal(stacked, full)


def test_without_the_population_context_a_partition_can_differ(mixed, whole):
    """Why the context exists: shared incidents, new-customer prices and categories are population facts."""
    full, _ = whole["2026-03-01"]
    one = full.index[full["faults_shared_incident_180d"] > 0][:1]
    alone = build_features(mixed.for_customers(one), "2026-03-01", CONFIG)
    assert alone["faults_shared_incident_180d"].iloc[0] < full.loc[one[0], "faults_shared_incident_180d"]


def test_a_context_for_another_date_is_refused(mixed, whole):
    _, context = whole["2025-03-01"]
    with pytest.raises(ValueError, match="population context is for 2025-03-01"):
        build_features(mixed, "2026-03-01", CONFIG, context)


@settings(max_examples=25, deadline=None)
@given(t=st.sampled_from(DATES), seed=st.integers(0, 2**32 - 1), parts=st.integers(1, 6))
def test_context_parts_add_up_to_the_whole_populations_context(mixed, whole, t, seed, parts):
    """Each partition's counts and value sets, merged, are the context of all customers: what lets every bucket be
    read on its own."""
    _, context = whole[t]
    ids = np.asarray(mixed.customer_ids)
    owner = np.random.default_rng(seed).integers(0, parts, len(ids))
    merged = merge_context([context_part(mixed.for_customers(ids[owner == k]), t, CONFIG) for k in range(parts)])
    pd.testing.assert_series_equal(merged.plan_new_price, context.plan_new_price)
    pd.testing.assert_series_equal(merged.incident_size, context.incident_size)
    assert merged.plans == context.plans and dict(merged.static_categories) == dict(context.static_categories)
    assert len(context.incident_size) and len(context.plan_new_price)


@pytest.mark.parametrize("t", DATES)
def test_the_context_reads_only_its_declared_tables(mixed, whole, t):
    """A context pass loads only CONTEXT_TABLES: with every other table empty the context is the same."""
    from churnml.features import CONTEXT_TABLES

    only = mixed.replace(**{name: frame.iloc[:0] for name, frame in mixed.items() if name not in CONTEXT_TABLES})
    assert any(len(frame) for name, frame in mixed.items() if name not in CONTEXT_TABLES)
    got, expected = merge_context([context_part(only, t, CONFIG)]), whole[t][1]
    pd.testing.assert_series_equal(got.plan_new_price, expected.plan_new_price)
    pd.testing.assert_series_equal(got.incident_size, expected.incident_size)
    assert (got.plans, dict(got.static_categories), dict(got.attribute_kinds)) == (
        expected.plans, dict(expected.static_categories), dict(expected.attribute_kinds))
