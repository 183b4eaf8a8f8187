import math

import pandas as pd
import pytest

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.features import build_features, feature_registry, render_reason
from churnml.features.registry import PLAN_MISMATCH, SHARED_INCIDENT, FeatureSpec

T = "2026-03-01"


def _static(dataset):
    return dict(dataset.customers.drop(columns="customer_id").dtypes)


def test_registry_lists_exactly_the_emitted_columns_in_order(mixed):
    config = ChurnConfig(
        features=FeatureConfig(windows_days=[14, 60]), static_attribute_families={"contract": Family.PRICE}
    )
    features = build_features(mixed, T, config)
    registry = feature_registry(config, _static(mixed))
    assert list(registry) == list(features.columns)
    assert registry["contract"].family == Family.PRICE and registry["age"].family == Family.OTHER
    for name, spec in registry.items():
        assert spec.name == name
        if spec.kind == "category":
            assert features[name].dtype == "category", name
        else:
            assert features[name].dtype == "float64", name


def test_ignored_attributes_are_neither_built_nor_registered(mixed):
    config = ChurnConfig(ignore_static_attributes=["age"])
    features = build_features(mixed, T, config)
    assert "age" not in features.columns and "age" not in feature_registry(config, _static(mixed))


def test_families_follow_the_contract():
    registry = feature_registry(ChurnConfig())
    family = {name: spec.family for name, spec in registry.items()}
    assert family["complaints_billing_180d"] == Family.PRICE
    assert family["complaints_service_180d"] == Family.SERVICE
    assert family["usage_utilisation_3m"] == Family.PRICE
    assert family["usage_volume_3m"] == Family.OTHER
    assert family["survey_last_score"] == Family.SERVICE
    assert family["tenure_days"] == Family.OTHER and family["is_won_back"] == Family.OTHER
    assert all(family[n] == Family.SERVICE for n in registry if n.startswith(("support_", "faults_", "survey_")))
    assert all(family[n] == Family.PRICE for n in registry if n.startswith("price_"))
    assert {n for n, s in registry.items() if s.plan_mismatch} == {
        "usage_utilisation_3m",
        "usage_months_over_allowance_3m",
        "usage_months_under_half_3m",
    }
    shared = {n for n, s in registry.items() if s.shared_incident}
    assert shared == {"faults_shared_incident_30d", "faults_shared_incident_90d", "faults_shared_incident_180d"}
    assert all(registry[n].family == Family.PRICE for n in registry if registry[n].group == PLAN_MISMATCH)
    assert all(registry[n].family == Family.SERVICE for n in registry if registry[n].group == SHARED_INCIDENT)


def test_reasons_read_naturally():
    r = feature_registry(ChurnConfig(), {"contract_type": "str", "monthly_charges": "float64"})
    assert (
        render_reason(r["support_long_waits_30d"], 4.0)
        == "4 support contacts with waits over 20 min in the last 30 days"
    )
    assert (
        render_reason(r["support_long_waits_30d"], 1.0)
        == "1 support contact with waits over 20 min in the last 30 days"
    )
    assert render_reason(r["price_change_pct_180d"], 12.3) == "price up 12% in the last 180 days"
    assert render_reason(r["price_change_pct_180d"], -5.0) == "price down 5% in the last 180 days"
    assert render_reason(r["price_change_pct_180d"], 0.0) == "price unchanged in the last 180 days"
    assert (
        render_reason(r["usage_utilisation_3m"], 1.4) == "used 140% of the allowance on average over the last 3 months"
    )
    assert render_reason(r["usage_utilisation_3m"], math.nan) == "no usage allowance on record"
    assert (
        render_reason(r["price_vs_new_customers_diff"], 7.5)
        == "pays 7.50 a month more than new customers on the same plan"
    )
    assert render_reason(r["contract_type"], "Month-to-month") == "contract_type is Month-to-month"
    assert render_reason(r["monthly_charges"], 70.35) == "monthly_charges is 70.35"
    assert render_reason(r["monthly_charges"], 70.0) == "monthly_charges is 70"
    assert render_reason(r["is_won_back"], 1.0) == "won back after leaving before: yes"
    assert render_reason(r["support_days_since_last_contact"], None) == "no support contact on record"
    assert render_reason(r["plan"], "gold") == "on plan gold"


@pytest.mark.parametrize("value, text", [
    (70.35, "70.35"), (70.0, "70"), (0.5, "0.5"), (1.005, "1"), (-12.3456, "-12.35"), (0.001, "0"), (1e20, "100000000000000000000"),
    (math.inf, "inf"), (-2.0, "-2"), (3, "3"),
])
def test_a_number_without_a_format_spec_prints_whole_or_with_at_most_two_decimals(value, text):
    spec = feature_registry(ChurnConfig(), {"monthly_charges": "float64"})["monthly_charges"]
    assert render_reason(spec, value) == f"monthly_charges is {text}"


def test_reason_defaults():
    spec = FeatureSpec("odd_thing", Family.OTHER, "odd thing {value}", "customers")
    assert render_reason(spec, pd.NA) == "odd thing unknown"
    assert render_reason(spec, 2.3456) == "odd thing 2.35"


@pytest.mark.parametrize("windows", [[30, 90, 180], [7], [45, 365]])
def test_window_names_follow_config(windows):
    registry = feature_registry(ChurnConfig(features=FeatureConfig(windows_days=windows)))
    for w in windows:
        assert f"support_contacts_{w}d" in registry and f"faults_shared_incident_{w}d" in registry
    assert f"support_wait_p90_{max(windows)}d" in registry
    assert (
        render_reason(registry[f"price_increases_{windows[0]}d"], 2)
        == f"2 price increases in the last {windows[0]} days"
    )
