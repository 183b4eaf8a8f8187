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
]


def test_incident_size_counts_distinct_customers_before_t(table):
    sizes = incident_sizes(table("tech_faults", FAULTS), T)
    assert sizes.to_dict() == {"INC1": 3, "INC2": 1}


def test_fault_features_by_hand(table):
    faults = table("tech_faults", FAULTS)
    cfg = FeatureConfig(incident_min_customers=3)
    got = tech_fault_features(faults, CUSTOMERS, T, cfg, incident_sizes(faults, T))
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
    got = tech_fault_features(faults, CUSTOMERS, T, FeatureConfig(incident_min_customers=4), incident_sizes(faults, T))
    assert (got.filter(like="shared_incident") == 0).all().all()


def test_incident_size_must_come_from_the_population(table):
    # b alone sees an incident of one customer; with the population's sizes its fault is a shared incident.
    faults = table("tech_faults", FAULTS)
    cfg = FeatureConfig(incident_min_customers=3)
    only_b = faults[faults["customer_id"] == "b"]
    b = pd.Index(["b"], dtype="str", name="customer_id")
    assert tech_fault_features(only_b, b, T, cfg, incident_sizes(only_b, T)).loc["b", "faults_shared_incident_90d"] == 0
    assert tech_fault_features(only_b, b, T, cfg, incident_sizes(faults, T)).loc["b", "faults_shared_incident_90d"] == 1


def test_faults_without_incident_column(table):
    faults = table("tech_faults", FAULTS).drop(columns="incident_id")
    got = tech_fault_features(faults, CUSTOMERS, T, FeatureConfig(incident_min_customers=2), incident_sizes(faults, T))
    assert got["faults_shared_incident_180d"].sum() == 0 and got.loc["a", "faults_180d"] == 3
