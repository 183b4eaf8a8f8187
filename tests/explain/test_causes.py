"""Cause attribution against the healthy reference: neutral values carry no risk, parts add up, causes follow pain."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from churnml.config import CauseConfig, ChurnConfig, Family
from churnml.explain.causes import (
    FAMILIES,
    attribute_causes,
    family_parts,
    family_values,
    harmful_departures,
    player_references,
)
from churnml.explain.reasons import choose_reasons
from churnml.features import feature_registry

REGISTRY = feature_registry(ChurnConfig())
# One pain feature of each family, one context feature.
COLUMNS = ["price_vs_new_customers_ratio", "price_days_since_last_increase", "support_unresolved_90d",
           "survey_last_score", "usage_trend_pct", "tenure_days"]
REFS = player_references(REGISTRY, COLUMNS)


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=COLUMNS, dtype=float)


HEALTHY = {"price_vs_new_customers_ratio": 1.0, "price_days_since_last_increase": np.nan, "support_unresolved_90d": 0,
           "survey_last_score": np.nan, "usage_trend_pct": 0.0, "tenure_days": 400}


def _greedy_model(X: pd.DataFrame) -> np.ndarray:
    """A model that reads risk into every value, healthy or not (as a population-relative fit can)."""
    z = (
        -3.5
        + 1.5 * X["price_vs_new_customers_ratio"].fillna(1.2)
        + 0.8 * X["price_days_since_last_increase"].notna() + 0.002 * X["price_days_since_last_increase"].fillna(0)
        + 0.4 * X["support_unresolved_90d"]
        + 0.3 * X["survey_last_score"].fillna(5) / 10
        - 0.01 * X["usage_trend_pct"]
        - 0.0002 * X["tenure_days"]
    )
    return 1 / (1 + np.exp(-z.to_numpy(dtype=float)))


def _parts(frame: pd.DataFrame, predict=_greedy_model, method: str = "shapley"):
    departs = harmful_departures(frame, REGISTRY, REFS)
    value = family_values(predict, frame, REGISTRY, REFS, departs)
    return family_parts(value, method), value


def test_family_values_predict_only_the_rows_a_move_changes_and_equal_predicting_every_row():
    """A row without a harmful value in the families moved keeps its own risk: it is not predicted again, and
    every value equals the brute-force prediction of every row at every subset (8 per row)."""
    from itertools import combinations

    from churnml.explain.causes import _at_reference

    rows = [HEALTHY, {**HEALTHY, "price_vs_new_customers_ratio": 1.3}, {**HEALTHY, "support_unresolved_90d": 2},
            {**HEALTHY, "price_vs_new_customers_ratio": 1.2, "support_unresolved_90d": 1, "usage_trend_pct": -40.0}]
    frame = _frame(rows * 5)
    departs = harmful_departures(frame, REGISTRY, REFS)
    asked = []

    def counting(X: pd.DataFrame) -> np.ndarray:
        asked.append(len(X))
        return _greedy_model(X)

    value = family_values(counting, frame, REGISTRY, REFS, departs)
    members = {f: [c for c in frame.columns if c in REFS and REGISTRY[c].family is f] for f in FAMILIES}
    for size in range(4):
        for subset in combinations(FAMILIES, size):
            away = [c for f in FAMILIES if f not in subset for c in members[f]]
            brute = _greedy_model(_at_reference(frame, away, REFS, departs))
            assert np.array_equal(value[frozenset(subset)], brute), subset
    assert sum(asked) < 8 * len(frame)  # the healthy rows were never predicted again
    own = _greedy_model(frame)
    asked.clear()
    given = family_values(counting, frame, REGISTRY, REFS, departs, own)
    assert all(np.array_equal(given[k], value[k]) for k in value) and len(asked) <= 7


def test_context_features_take_no_part_and_pain_features_do():
    assert "tenure_days" not in REFS
    assert REFS["price_vs_new_customers_ratio"] == 1.0 and REFS["support_unresolved_90d"] == 0.0
    assert math.isnan(REFS["survey_last_score"])


@pytest.mark.parametrize(
    "feature, neutral_value",
    [
        ("price_vs_new_customers_ratio", 1.0),  # pays what new customers pay
        ("price_vs_new_customers_ratio", 0.9),  # pays less
        ("price_days_since_last_increase", np.nan),  # no rise on record
        ("price_days_since_last_increase", 200.0),  # a rise longer ago than the longest window
        ("support_unresolved_90d", 0.0),
        ("survey_last_score", 9.0),  # a satisfied answer
        ("survey_last_score", np.nan),
        ("usage_trend_pct", 12.0),  # usage growing
    ],
)
def test_a_neutral_value_never_raises_its_familys_share(feature, neutral_value):
    """Even under a model that reads risk into every value, and beside a real pain in another family."""
    family = FAMILIES.index(REGISTRY[feature].family)
    other_pain = {"support_unresolved_90d": 2} if REGISTRY[feature].family is not Family.SERVICE else {
        "price_vs_new_customers_ratio": 1.3}
    frame = _frame([{**HEALTHY, **other_pain, feature: neutral_value}])
    for method in ("shapley", "alone", "removal"):
        parts, _ = _parts(frame, method=method)
        assert parts[0, family] == 0.0, (feature, neutral_value, method)
        assert parts[0].max() > 0  # the other family's pain is seen
    # The shares the scores file shows, with the shipped cause settings (healed-risk weight included).
    departs = harmful_departures(frame, REGISTRY, REFS)
    value = family_values(_greedy_model, frame, REGISTRY, REFS, departs)
    causes = attribute_causes(family_parts(value), value[frozenset()], np.zeros(departs.shape), departs, COLUMNS, REGISTRY,
                              CauseConfig())
    share = ["price_share", "service_share", "other_share"][family]
    if REGISTRY[feature].family is not Family.OTHER:
        assert causes.loc[0, share] == 0.0, (feature, neutral_value)


def test_a_harmful_value_carries_risk_in_its_own_family_only():
    frame = _frame([{**HEALTHY, "price_vs_new_customers_ratio": 1.4}, {**HEALTHY, "support_unresolved_90d": 3}])
    parts, _ = _parts(frame)
    assert parts[0, 0] > 0 and parts[0, 1] == 0 and parts[0, 2] == 0
    assert parts[1, 1] > 0 and parts[1, 0] == 0 and parts[1, 2] == 0


values = st.floats(0, 1, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(values, values, values, values, values, values, values, values), min_size=1, max_size=5))
def test_shapley_parts_add_up_to_the_risk_above_health(rows):
    """Efficiency for any value function: base + parts = the customer's own risk."""
    subsets = [frozenset(s) for s in ((), ("p",), ("s",), ("o",), ("p", "s"), ("p", "o"), ("s", "o"), ("p", "s", "o"))]
    name = {"p": Family.PRICE, "s": Family.SERVICE, "o": Family.OTHER}
    arr = np.array(rows)
    value = {frozenset(name[c] for c in s): arr[:, k] for k, s in enumerate(subsets)}
    parts = family_parts(value)
    np.testing.assert_allclose(value[frozenset()] + parts.sum(axis=1), value[frozenset(FAMILIES)], atol=1e-12)


def test_additive_hazard_is_recovered_exactly():
    """A model whose risk is base + price pain + service pain gets exactly those parts, by every method."""
    frame = _frame([{**HEALTHY, "price_vs_new_customers_ratio": 1.3, "support_unresolved_90d": 2, "tenure_days": 30}])

    def additive(X):
        return (0.02 + 0.001 * (1 - X["tenure_days"] / 1000) + 0.1 * (X["price_vs_new_customers_ratio"] - 1).clip(lower=0)
                + 0.05 * X["support_unresolved_90d"]).to_numpy()

    for method in ("shapley", "alone", "removal"):
        parts, value = _parts(frame, additive, method)
        np.testing.assert_allclose(parts[0], [0.03, 0.10, 0.0], atol=1e-12)
        np.testing.assert_allclose(value[frozenset()], [0.02 + 0.001 * 0.97])


def _causes(parts: list[list[float]], base: list[float], min_share: float = 0.35, weight: float = 1.0) -> pd.DataFrame:
    n = len(parts)
    k = len(COLUMNS)
    return attribute_causes(np.array(parts), np.array(base), np.zeros((n, k)), np.zeros((n, k), bool), COLUMNS,
                            REGISTRY, CauseConfig(min_share=min_share, healed_risk_weight=weight))


@pytest.mark.parametrize(
    "parts, base, cause, share",
    [
        ([0.30, 0.10, 0.00], 0.10, "price", 0.6),
        ([0.10, 0.30, 0.00], 0.10, "service", 0.6),
        ([0.05, 0.04, 0.00], 0.20, "other", 0.2 / 0.29),  # little pain: the healthy risk leads
        ([0.00, 0.00, 0.00], 0.00, "other", 0.0),  # nothing at all
        ([0.30, 0.30, 0.10], 0.20, "other", 0.3 / 0.9),  # price leads but carries under min_share
        ([-0.02, 0.20, 0.00], 0.05, "service", 0.8),  # a negative part counts as none
    ],
)
def test_primary_cause_is_the_largest_part_with_enough_share(parts, base, cause, share):
    out = _causes([parts], [base])
    assert out.loc[0, "primary_cause"] == cause
    assert out.loc[0, "cause_share"] == pytest.approx(share)
    assert out.loc[0, ["price_share", "service_share", "other_share"]].sum() == pytest.approx(1.0 if share else 0.0)


@pytest.mark.parametrize(
    "weight, cause, other_share",
    [
        (1.0, "other", 0.30 / 0.42),  # all of the healed risk: it outweighs the price part
        (0.25, "price", 0.075 / 0.195),  # a quarter of it: the price part leads with 0.10 / 0.195
        (0.0, "price", 0.0),
    ],
)
def test_the_healed_risk_counts_toward_other_at_its_weight(weight, cause, other_share):
    out = _causes([[0.10, 0.02, 0.00]], [0.30], weight=weight)
    assert out.loc[0, "primary_cause"] == cause
    assert out.loc[0, "other_share"] == pytest.approx(other_share)


def test_the_shipped_weight_counts_a_quarter_of_the_healed_risk():
    assert CauseConfig().healed_risk_weight == 0.25


@pytest.mark.parametrize(
    "feature, value, harmful",
    [
        ("price_vs_new_customers_ratio", 1.0, False),
        ("price_vs_new_customers_ratio", 1.01, True),
        ("price_days_since_last_increase", 120.0, True),  # within the longest window (180 days)
        ("price_days_since_last_increase", 180.0, False),
        ("price_days_since_last_increase", np.nan, False),
        ("support_unresolved_90d", 0.0, False),
        ("support_unresolved_90d", 1.0, True),
        ("support_wait_mean_180d", 10.0, False),  # under the long-wait mark
        ("support_wait_mean_180d", 45.0, True),
        ("survey_last_score", 7.0, False),
        ("survey_last_score", 6.0, True),
        ("usage_utilisation_3m", 0.8, False),
        ("usage_utilisation_3m", 1.3, True),
        ("usage_utilisation_3m", 0.2, True),
        ("price_last_increase_notice_days", 45.0, False),
        ("price_last_increase_notice_days", 0.0, True),
        ("usage_trend_pct", -30.0, True),
        ("usage_trend_pct", 30.0, False),
    ],
)
def test_harmful_departures_follow_each_features_direction(feature, value, harmful):
    refs = player_references(REGISTRY, [feature])
    frame = pd.DataFrame({feature: [value]}, dtype=float)
    assert bool(harmful_departures(frame, REGISTRY, refs)[0, 0]) is harmful


def test_categorical_attribute_measured_against_its_reference():
    config = ChurnConfig(static_attribute_families={"contract": Family.PRICE},
                         static_attribute_references={"contract": "two_year"})
    registry = feature_registry(config, {"contract": pd.StringDtype(), "age": np.dtype(float)})
    refs = player_references(registry, ["contract", "age"], typical={"age": 40.0})
    assert refs == {"contract": "two_year"}  # age is `other`: context, whatever its typical value
    frame = pd.DataFrame({"contract": pd.Categorical(["monthly", "two_year", None]), "age": [30.0, 50.0, 40.0]})
    assert harmful_departures(frame, registry, refs)[:, 0].tolist() == [True, False, False]
    typical = player_references(feature_registry(ChurnConfig(static_attribute_families={"contract": Family.PRICE}),
                                                 {"contract": pd.StringDtype()}), ["contract"], {"contract": "monthly"})
    assert typical == {"contract": "monthly"}


def test_reasons_come_from_the_primary_cause_first_and_only_from_candidates():
    contrib = np.array([[0.5, 0.2, 0.9, 0.1], [0.5, 0.2, 0.9, 0.1]])
    candidates = np.array([[True, True, True, False], [False, True, True, True]])
    first = np.array([[False, True, False, False], [True, True, False, False]])
    idx = choose_reasons(contrib, candidates, first, 3)
    assert idx[0].tolist() == [1, 2, 0]  # the family's own reason leads, then by contribution
    assert idx[1].tolist() == [1, 2, 3]


def test_a_categorical_attribute_is_healed_to_its_first_healthy_level():
    config = ChurnConfig(static_attribute_families={"contract": Family.PRICE},
                         static_attribute_references={"contract": ["two_year", "one_year"]})
    registry = feature_registry(config, {"contract": pd.StringDtype()})
    refs = player_references(registry, ["contract"])
    levels = ["monthly", "one_year", "two_year"]
    X = pd.DataFrame({"contract": pd.Categorical(["monthly", "one_year", None], categories=levels)})
    seen = []

    def model(Z):
        seen.append([None if pd.isna(v) else v for v in Z["contract"].astype(object)])
        return np.where(Z["contract"].astype(object) == "monthly", 0.3, 0.1)

    departs = harmful_departures(X, registry, refs)
    assert departs[:, 0].tolist() == [True, False, False]
    parts = family_parts(family_values(model, X, registry, refs, departs))
    np.testing.assert_allclose(parts[:, 0], [0.2, 0.0, 0.0])
    # Only the harmful level moved, to the first healthy one; the healthy and missing rows keep their own risk.
    assert seen[0] == ["monthly", "one_year", None] and all(s == ["two_year"] for s in seen[1:]) and len(seen) > 1


def _counting(asked: list[int]):
    """The greedy model, noting how many rows each call predicts."""
    def counting(X: pd.DataFrame) -> np.ndarray:
        asked.append(len(X))
        return _greedy_model(X)
    return counting


def test_change_values_split_the_move_between_two_vectors_by_family_exactly():
    """Shapley parts of the families between yesterday's vector and today's add up to the change of the model's
    output; a row whose family did not change is not predicted again for it."""
    from churnml.explain.causes import change_values

    before = _frame([HEALTHY, HEALTHY, {**HEALTHY, "price_vs_new_customers_ratio": 1.3}])
    now = _frame([{**HEALTHY, "support_unresolved_90d": 3}, HEALTHY, {**HEALTHY, "price_vs_new_customers_ratio": 1.1,
                                                                     "tenure_days": 900.0}])
    asked: list[int] = []
    counting = _counting(asked)
    family_of = {c: REGISTRY[c].family for c in COLUMNS}
    value = change_values(counting, now, before, family_of)
    parts = family_parts(value)
    np.testing.assert_allclose(parts.sum(axis=1), _greedy_model(now) - _greedy_model(before), atol=1e-12)
    assert parts[0, 1] > 0 and parts[0, 0] == 0 and parts[0, 2] == 0  # only service moved for the first customer
    assert (parts[1] == 0).all()  # nothing changed
    assert parts[2, 0] < 0 and parts[2, 2] != 0  # the price fell back; tenure (other) moved too
    assert sum(asked) < 1 + 7 * len(now)  # the unchanged rows and families were not predicted


def test_change_values_take_the_previous_output_where_the_caller_has_it():
    """With the same model, the previous run's own output is the value with no family at today's values: it is not
    predicted again, and the parts add up to the change against it."""
    from churnml.explain.causes import change_values

    before = _frame([HEALTHY, {**HEALTHY, "price_vs_new_customers_ratio": 1.3}])
    now = _frame([{**HEALTHY, "support_unresolved_90d": 3}, {**HEALTHY, "tenure_days": 900.0}])
    asked: list[int] = []
    counting = _counting(asked)
    family_of = {c: REGISTRY[c].family for c in COLUMNS}
    full = change_values(counting, now, before, family_of)
    calls = len(asked)
    asked.clear()
    given = change_values(counting, now, before, family_of, base=_greedy_model(before))
    assert len(asked) == calls - 1  # the empty coalition came from the caller
    for subset, values in full.items():
        np.testing.assert_allclose(given[subset], values, atol=1e-12)
    np.testing.assert_allclose(family_parts(given).sum(axis=1), _greedy_model(now) - _greedy_model(before), atol=1e-12)


def test_family_headroom_is_what_healing_each_family_takes_off_the_log_odds():
    """Price and service columns: the model's log-odds minus the same with that family's harmful values healed
    (exactly, from the two subsets only), 0 for a row with no pain in the family, never below 0."""
    from types import SimpleNamespace

    from churnml.explain.causes import _at_reference, family_headroom

    def log_odds(M) -> np.ndarray:
        p = _greedy_model(pd.DataFrame(np.asarray(M, dtype=float), columns=COLUMNS))
        return np.log(p) - np.log1p(-p)

    asked = []
    bundle = SimpleNamespace(feature_names=COLUMNS, meta={},
                             predict_codes=lambda M, raw_score=False: asked.append(len(M)) or log_odds(M))
    rows = [HEALTHY, {**HEALTHY, "price_vs_new_customers_ratio": 1.3}, {**HEALTHY, "support_unresolved_90d": 2},
            {**HEALTHY, "price_vs_new_customers_ratio": 1.2, "support_unresolved_90d": 1}]
    frame = _frame(rows)
    got = family_headroom(bundle, frame, frame, REGISTRY)
    departs = harmful_departures(frame, REGISTRY, REFS)
    own = log_odds(frame)
    for j, family in enumerate((Family.PRICE, Family.SERVICE)):
        healed = _at_reference(frame, [c for c in COLUMNS if c in REFS and REGISTRY[c].family is family], REFS, departs)
        assert np.allclose(got[:, j], np.maximum(own - log_odds(healed), 0.0))
    assert got[0].tolist() == [0.0, 0.0] and got[1, 1] == 0.0 and got[2, 0] == 0.0
    assert (got[1:, :].max(axis=1) > 0).all()
    assert len(asked) == 3  # the rows' own log-odds and the two healed subsets, not all eight
    assert family_headroom(bundle, frame.iloc[:0], frame.iloc[:0], REGISTRY).shape == (0, 2)
