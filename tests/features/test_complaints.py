import numpy as np
import pandas as pd

from churnml.config import FeatureConfig
from churnml.features.complaints import complaint_features

T = pd.Timestamp("2026-03-01")
CUSTOMERS = pd.Index(["a", "b"], dtype="str", name="customer_id")

COMPLAINTS = [
    ("a", "2026-02-19", "billing", 3),  # 10 days before T
    ("a", "2025-08-13", "billing", 2),  # 200 days: outside the 180-day window, still the record
    ("a", "2026-01-10", "service", 4),  # 50 days
    ("a", "2025-11-21", "technical", 5),  # 100 days
    ("a", "2026-03-01", "product", 5),  # on T: not known
    ("b", "2025-08-13", "other", 1),  # 200 days
]


def test_complaint_features_by_hand(table):
    got = complaint_features(table("complaints", COMPLAINTS), CUSTOMERS, T, FeatureConfig())
    expected = pd.DataFrame(
        {
            "complaints_billing_180d": [1, 0],
            "complaints_service_180d": [1, 0],
            "complaints_technical_180d": [1, 0],
            "complaints_product_180d": [0, 0],
            "complaints_other_180d": [0, 0],
            "complaints_billing_severity_180d": [3, 0],
            "complaints_nonbilling_severity_180d": [4 + 5, 0],
            "complaints_billing_days_since_last": [10, np.nan],
            "complaints_nonbilling_days_since_last": [50, 200],
        },
        index=CUSTOMERS,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(got, expected)


def test_longest_window_sets_the_category_counts(table):
    got = complaint_features(table("complaints", COMPLAINTS), CUSTOMERS, T, FeatureConfig(windows_days=[30, 365]))
    assert got.loc["a", "complaints_billing_365d"] == 2
    assert got.loc["a", "complaints_billing_severity_365d"] == 5
    assert got.loc["b", "complaints_other_365d"] == 1
