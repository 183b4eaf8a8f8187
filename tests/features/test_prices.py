import numpy as np
import pandas as pd
import pytest

from churnml.config import FeatureConfig
from churnml.features.prices import new_customer_prices, price_change_features

T = pd.Timestamp("2026-03-01")
CUSTOMERS = pd.Index(["a", "b", "d", "e"], dtype="str", name="customer_id")
SUBSCRIPTIONS = [
    ("a", "2025-01-01", None, "basic", 20.0),  # started before the 365-day reference window
    ("b", "2025-12-01", None, "basic", 30.0),  # new customers on basic pay 30 and 25: median 27.5
    ("c", "2025-06-01", "2025-12-01", "basic", 25.0),  # ended, still a price a new customer got
    ("d", "2024-01-01", None, "plus", 50.0),  # nobody new on plus
    ("e", "2024-06-01", "2025-05-01", "pro", 35.0),
    ("e", "2025-05-15", None, "pro", 40.0),  # back within grace on a new price; new pro customers pay 40
    ("x", "2026-03-02", None, "basic", 5.0),  # starts after T: not part of the reference
]
CHANGES = [
    # customer, effective, old, new, notice         age at T
    ("a", "2025-06-01", 20.0, 22.0, 10.0),  # 273: outside 180 days
    ("a", "2025-10-01", 22.0, 24.0, None),  # 151: unknown notice counts as short
    ("a", "2026-01-01", 24.0, 30.0, 45.0),  # 59
    ("a", "2026-02-15", 30.0, 27.0, 30.0),  # 14: a decrease; a now pays 27
    ("a", "2026-03-01", 27.0, 40.0, 0.0),  # on T: not known
    ("e", "2025-04-01", 35.0, 38.0, 30.0),  # before e's current period: e pays its period price, 40
]


def test_new_customer_price_is_the_median_of_recent_starts(table):
    prices = new_customer_prices(table("subscriptions", SUBSCRIPTIONS), T, 365)
    assert prices.to_dict() == {"basic": 27.5, "pro": 40.0}


def test_price_features_by_hand(table):
    subs = table("subscriptions", SUBSCRIPTIONS)
    got = price_change_features(
        table("price_changes", CHANGES), subs, CUSTOMERS, T, FeatureConfig(), new_customer_prices(subs, T, 365)
    )
    expected = pd.DataFrame(
        {
            # what each pays at T: a after its 02-15 change, e its current period's price (not the older change)
            "monthly_price": [27, 30, 50, 40],
            "price_increases_30d": [0, 0, 0, 0],
            "price_increases_90d": [1, 0, 0, 0],
            "price_increases_180d": [2, 0, 0, 0],
            # first old price in the window 22, last new price 27
            "price_change_pct_180d": [(27 / 22 - 1) * 100, 0, 0, 0],
            "price_max_increase_pct_180d": [25.0, 0, 0, 0],  # 24 -> 30
            "price_short_notice_increases_180d": [1, 0, 0, 0],
            "price_days_since_last_increase": [59, np.nan, np.nan, 334],
            # the latest increase: a's 24 -> 30 with 45 days' notice, e's 35 -> 38 (in its earlier period) with 30
            "price_last_increase_pct": [25.0, np.nan, np.nan, 3 / 35 * 100],
            "price_last_increase_notice_days": [45, np.nan, np.nan, 30],
            "price_vs_new_customers_ratio": [27 / 27.5, 30 / 27.5, np.nan, 1.0],
            "price_vs_new_customers_diff": [-0.5, 2.5, np.nan, 0.0],
        },
        index=CUSTOMERS,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(got, expected)


def test_short_notice_threshold_and_reference_window_come_from_config(table):
    subs = table("subscriptions", SUBSCRIPTIONS)
    cfg = FeatureConfig(short_notice_days=50, windows_days=[400])
    got = price_change_features(
        table("price_changes", CHANGES), subs, CUSTOMERS, T, cfg, new_customer_prices(subs, T, 100)
    )
    assert got.loc["a", "price_short_notice_increases_400d"] == 3  # 10, unknown and 45 days' notice
    assert got.loc["a", "price_change_pct_400d"] == pytest.approx(35.0)  # 20 -> 27 over the 400 days
    assert got.loc["a", "price_vs_new_customers_ratio"] == pytest.approx(27 / 30)  # only b started within 100 days


def test_rise_from_zero_has_no_percent(table):
    subs = table("subscriptions", [("a", "2025-01-01", None, "basic", 0.0)])
    changes = table("price_changes", [("a", "2026-02-01", 0.0, 10.0, 30.0)])
    a = pd.Index(["a"], dtype="str", name="customer_id")
    got = price_change_features(changes, subs, a, T, FeatureConfig(), new_customer_prices(subs, T, 365))
    assert got.loc["a", "price_increases_30d"] == 1
    assert np.isnan(got.loc["a", "price_change_pct_180d"])


def test_monthly_price_is_the_period_price_until_a_change_is_known(table):
    # The period's monthly_price is what it started at; a change taking effect after T is not known at T.
    subs = table("subscriptions", [("a", "2025-01-01", None, "basic", 20.0)])
    changes = table("price_changes", [("a", "2026-04-01", 20.0, 30.0, 60.0)])
    a = pd.Index(["a"], dtype="str", name="customer_id")
    got = price_change_features(changes, subs, a, T, FeatureConfig(), new_customer_prices(subs, T, 365))
    assert got.loc["a", "monthly_price"] == 20.0
    later = price_change_features(
        changes, subs, a, pd.Timestamp("2026-04-02"), FeatureConfig(), new_customer_prices(subs, T, 365)
    )
    assert later.loc["a", "monthly_price"] == 30.0


def test_latest_increase_on_a_shared_day_is_the_largest_with_the_shortest_recorded_notice(table):
    subs = table("subscriptions", [("a", "2025-01-01", None, "basic", 20.0), ("b", "2025-01-01", None, "basic", 20.0)])
    changes = table(
        "price_changes",
        [
            ("a", "2025-12-01", 20.0, 30.0, 0.0),  # older, bigger and without notice: not the latest
            ("a", "2026-02-01", 30.0, 31.5, 40.0),  # 5%
            ("a", "2026-02-01", 31.5, 34.65, None),  # 10%, notice not recorded
            ("a", "2026-02-20", 34.65, 30.0, 0.0),  # a cut is not an increase
            ("b", "2026-02-01", 20.0, 22.0, None),  # the only increase, notice unknown
        ],
    )
    ab = pd.Index(["a", "b"], dtype="str", name="customer_id")
    got = price_change_features(changes, subs, ab, T, FeatureConfig(), new_customer_prices(subs, T, 365))
    assert got.loc["a", "price_last_increase_pct"] == pytest.approx(10.0)
    assert got.loc["a", "price_last_increase_notice_days"] == 40.0
    assert got.loc["b", "price_last_increase_pct"] == pytest.approx(10.0)
    assert np.isnan(got.loc["b", "price_last_increase_notice_days"])
