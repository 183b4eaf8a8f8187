import numpy as np
import pandas as pd

from churnml.config import LabelConfig
from churnml.features.subscription import plan_categories, subscription_features
from churnml.lifecycle import active_customers

T = pd.Timestamp("2026-03-01")
CFG = LabelConfig(grace_days=30, new_customer_days=90)
SUBSCRIPTIONS = [
    ("a", "2024-01-01", "2025-01-01", "basic", 20.0),
    ("a", "2025-01-20", None, "plus", 30.0),  # back after 19 days: one run since 2024-01-01
    ("b", "2024-06-01", "2025-06-01", "basic", 20.0),
    ("b", "2025-08-01", None, "basic", 25.0),  # back after 61 days: churned on 2025-06-01, won back
    ("c", "2026-01-15", None, "pro", 40.0),  # 45 days: new
    ("d", "2025-01-01", "2025-06-01", "basic", 20.0),
    ("d", "2025-07-01", "2026-06-01", "plus", 30.0),  # back exactly 30 days later; end after T unknown
    ("e", "2025-01-01", "2026-03-01", "basic", 20.0),  # ends on T: not active
    ("f", "2026-03-01", None, "basic", 20.0),  # starts on T: active, 0 days
    ("g", "2022-01-01", "2023-01-01", "pro", 20.0),
    ("g", "2023-06-01", "2024-01-01", "pro", 20.0),
    ("g", "2024-05-01", None, "pro", 22.0),  # two churns, came back twice
    ("h", "2026-04-01", None, "future", 1.0),  # after T
]


def test_subscription_features_by_hand(table):
    subs = table("subscriptions", SUBSCRIPTIONS)
    customers = active_customers(subs, T)
    assert list(customers) == ["a", "b", "c", "d", "f", "g"]
    got = subscription_features(subs, customers, T, CFG, plans=["basic", "plus", "pro"])
    nan = np.nan
    expected = pd.DataFrame(
        {
            # a: 2024-01-01 -> 2026-03-01 = 366 + 365 + 59 days
            "tenure_days": [790, 638, 45, 424, 0, 1520],
            # b: run from 2025-08-01 = 212 days; g: from 2024-05-01 = 669 days
            "current_run_days": [790, 212, 45, 424, 0, 669],
            "previous_churns": [0, 1, 0, 0, 0, 2],
            "is_new": [0, 0, 1, 0, 1, 0],
            "is_won_back": [0, 1, 0, 0, 0, 1],
            # b left on 2025-06-01 (273 days ago); g last left on 2024-01-01 (790 days ago)
            "days_since_last_churn": [nan, 273, nan, nan, nan, 790],
            "plan": pd.Categorical(
                ["plus", "basic", "pro", "plus", "basic", "pro"], categories=["basic", "plus", "pro"]
            ),
            "plan_changes": [1, 0, 0, 1, 0, 0],
        },
        index=customers,
    ).astype(
        {
            c: "float64"
            for c in [
                "tenure_days",
                "current_run_days",
                "previous_churns",
                "is_new",
                "is_won_back",
                "days_since_last_churn",
                "plan_changes",
            ]
        }
    )
    pd.testing.assert_frame_equal(got, expected)


def test_plan_categories_are_the_plans_known_at_t(table):
    subs = table("subscriptions", SUBSCRIPTIONS)
    assert plan_categories(subs, T) == ("basic", "plus", "pro")
    got = subscription_features(subs, active_customers(subs, T), T, CFG)
    assert list(got["plan"].cat.categories) == ["basic", "plus", "pro"]  # "future" starts after T
