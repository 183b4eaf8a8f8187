import numpy as np
import pandas as pd
import pytest

from churnml.config import FeatureConfig
from churnml.features.usage import usage_features

CUSTOMERS = pd.Index(["a", "b", "c"], dtype="str", name="customer_id")
NAN = float("nan")
USAGE = [
    # T = 2026-03-15: February is the last completed month; recent = Dec-Feb, earlier = Sep-Nov
    ("a", "2026-03-01", 100.0, 10.0),  # March is not over at T
    ("a", "2026-02-01", 15.0, 10.0),
    ("a", "2026-01-01", 12.0, 10.0),
    ("a", "2025-12-01", 4.0, 10.0),  # under half
    ("a", "2025-11-01", 8.0, 10.0),
    ("a", "2025-10-01", 8.0, 10.0),
    ("a", "2025-09-01", 8.0, 10.0),
    ("a", "2025-08-01", 1000.0, 10.0),  # older than both windows
    ("b", "2026-02-01", 50.0, NAN),  # unlimited
    ("b", "2026-01-01", 30.0, NAN),
]


def test_usage_features_by_hand(table):
    got = usage_features(table("usage", USAGE), CUSTOMERS, pd.Timestamp("2026-03-15"), FeatureConfig())
    recent_a, earlier_a = (15 + 12 + 4) / 3, 8.0
    expected = pd.DataFrame(
        {
            "usage_utilisation_3m": [(1.5 + 1.2 + 0.4) / 3, NAN, NAN],
            "usage_months_over_allowance_3m": [2, 0, 0],
            "usage_months_under_half_3m": [1, 0, 0],
            "usage_unlimited": [0, 1, NAN],
            "usage_volume_3m": [recent_a, 40, NAN],
            "usage_trend_pct": [(recent_a - earlier_a) / earlier_a * 100, NAN, NAN],
        },
        index=CUSTOMERS,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("as_of, counted", [("2026-03-01", True), ("2026-02-28", False)])
def test_a_month_counts_once_it_has_ended(table, as_of, counted):
    usage = table("usage", [("a", "2026-02-01", 30.0, 10.0)])
    got = usage_features(usage, CUSTOMERS, pd.Timestamp(as_of), FeatureConfig())
    assert got.loc["a", "usage_months_over_allowance_3m"] == (1 if counted else 0)
    assert bool(got.loc["a", "usage_utilisation_3m"] == 3.0) is counted


def test_usage_months_come_from_config(table):
    got = usage_features(table("usage", USAGE), CUSTOMERS, pd.Timestamp("2026-03-15"), FeatureConfig(usage_months=1))
    assert got.loc["a", "usage_utilisation_1m"] == 1.5
    assert got.loc["a", "usage_trend_pct"] == pytest.approx((15 - 12) / 12 * 100)
    assert got.loc["b", "usage_trend_pct"] == pytest.approx((50 - 30) / 30 * 100)


def test_unlimited_follows_the_latest_month(table):
    usage = table(
        "usage",
        [
            ("a", "2026-01-01", 5.0, NAN),
            ("a", "2026-02-01", 5.0, 10.0),
            ("b", "2026-01-01", 5.0, 10.0),
            ("b", "2026-02-01", 5.0, NAN),
        ],
    )
    got = usage_features(usage, CUSTOMERS, pd.Timestamp("2026-03-01"), FeatureConfig())
    assert got["usage_unlimited"].tolist()[:2] == [0.0, 1.0]
    assert np.isnan(got.loc["c", "usage_unlimited"])
