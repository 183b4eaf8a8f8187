import numpy as np
import pandas as pd

from churnml.config import FeatureConfig
from churnml.features.faults import incident_sizes, tech_fault_features

T = pd.Timestamp("2026-03-01")
CUSTOMERS = pd.Index(["a", "b", "c"], dtype="str", name="customer_id")
FAULTS = [
    ("a", "2026-02-19", "outage", 120.0, "INC1"),  # 10 days before T
    ("a", "2025-11-21", "device", 30.0, None),  # 100 days
    ("a", "2025-08-13", "degradation", 15.0, "INC2"),  # 200 days: outside 180
    ("a", "2026-02-20", "app", 5.0, "INC1"),  # the same incident twice for a: a still counts once
    ("b", "2026-01-20", "app", 60.0, "INC1"),  # 40 days
    ("gone", "2026-01-20", "outage", 60.0, "INC1"),  # an inactive customer still makes the incident bigger
    ("late", "2026-03-01", "outage", 60.0, "INC1"),  # on T: not known, does not count towards the size
    ("future", "2026-01-25", "outage", 60.0, "INC1"),  # before T, but its customer is first known after T
]
SUBS = [
    (c, start, None, "basic", 20.0)
    for c, start in (("a", "2024-01-01"), ("b", "2024-01-01"), ("c", "2024-01-01"), ("gone", "2023-01-01"),
                     ("late", "2025-01-01"), ("future", "2026-04-01"))
]


def _sizes(table, faults, t=T):
    return incident_sizes(faults, table("subscriptions", SUBS), t)


def test_incident_size_counts_distinct_customers_before_t(table):
    sizes = _sizes(table, table("tech_faults", FAULTS))
    assert sizes.to_dict() == {"INC1": 3, "INC2": 1}


def test_a_customer_first_known_after_t_leaves_incident_sizes_unchanged(table):
    faults = table("tech_faults", FAULTS)
    without = faults[faults["customer_id"] != "future"]
    assert _sizes(table, faults).equals(_sizes(table, without))
    # Once the customer's period has started, its earlier fault counts.
    assert _sizes(table, faults, pd.Timestamp("2026-04-02"))["INC1"] == 5  # late (on the old T) counts too


def test_fault_features_by_hand(table):
    faults = table("tech_faults", FAULTS)
    cfg = FeatureConfig(incident_min_customers=3)
    got = tech_fault_features(faults, CUSTOMERS, T, cfg, _sizes(table, faults))
    expected = pd.DataFrame(
        {
            "faults_30d": [2, 0, 0],
            "faults_90d": [2, 1, 0],
            "faults_180d": [3, 1, 0],
            "faults_shared_incident_30d": [2, 0, 0],
            "faults_shared_incident_90d": [2, 1, 0],
            "faults_shared_incident_180d": [2, 1, 0],
            "faults_minutes_180d": [120 + 30 + 5, 60, 0],
            "faults_outages_180d": [1, 0, 0],
            "faults_days_since_last": [9, 40, np.nan],
        },
        index=CUSTOMERS,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(got, expected)


def test_smaller_incidents_are_not_shared(table):
    faults = table("tech_faults", FAULTS)
    got = tech_fault_features(faults, CUSTOMERS, T, FeatureConfig(incident_min_customers=4), _sizes(table, faults))
    assert (got.filter(like="shared_incident") == 0).all().all()


def test_incident_size_must_come_from_the_population(table):
    # b alone sees an incident of one customer; with the population's sizes its fault is a shared incident.
    faults = table("tech_faults", FAULTS)
    cfg = FeatureConfig(incident_min_customers=3)
    only_b = faults[faults["customer_id"] == "b"]
    b = pd.Index(["b"], dtype="str", name="customer_id")
    assert tech_fault_features(only_b, b, T, cfg, _sizes(table, only_b)).loc["b", "faults_shared_incident_90d"] == 0
    assert tech_fault_features(only_b, b, T, cfg, _sizes(table, faults)).loc["b", "faults_shared_incident_90d"] == 1


def test_faults_without_incident_column(table):
    faults = table("tech_faults", FAULTS).drop(columns="incident_id")
    got = tech_fault_features(faults, CUSTOMERS, T, FeatureConfig(incident_min_customers=2), _sizes(table, faults))
    assert got["faults_shared_incident_180d"].sum() == 0 and got.loc["a", "faults_180d"] == 3
