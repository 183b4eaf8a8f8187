import numpy as np
import pandas as pd

from churnml.config import FeatureConfig
from churnml.features.support import support_contact_features

T = pd.Timestamp("2026-03-01")
CFG = FeatureConfig()  # windows 30/90/180, long wait > 20 min, repeat within 7 days, trend 30 vs 60 days
NAN = np.nan

CONTACTS = [
    # customer, timestamp, channel, wait, resolved            age at T (days)
    ("a", "2026-02-25", "phone", 30.0, False),  # 4   long, unresolved, repeat (5 days after 02-20)
    ("a", "2026-02-20", "chat", 20.0, True),  # 9   exactly the threshold: not long
    ("a", "2026-01-15", "phone", 25.0, True),  # 45  long
    ("a", "2025-10-01", "email", 5.0, True),  # 151
    ("a", "2025-06-01", "phone", 50.0, False),  # 273 outside every window
    ("a", "2026-03-01", "phone", 100.0, False),  # on T: not known yet
    ("a", "2026-03-05", "phone", 100.0, False),  # after T
    ("b", "2025-08-31", "phone", 40.0, True),  # 182 just outside 180 days
    ("b", "2025-09-05", "phone", 2.0, True),  # 177 repeat of the contact before the window
    ("d", "2026-01-30", "phone", 1.0, True),  # 30  on the 30-day boundary: inside
    ("d", "2025-12-01", "phone", 1.0, True),  # 90  on the 90-day boundary: inside
    ("d", "2026-02-28 18:00", "phone", 1.0, True),  # 0.25
    ("inactive", "2026-02-01", "phone", 60.0, False),  # not among the customers asked for
]
CUSTOMERS = pd.Index(["a", "b", "c", "d"], dtype="str", name="customer_id")


def test_support_features_by_hand(table):
    got = support_contact_features(table("support_contacts", CONTACTS), CUSTOMERS, T, CFG)
    expected = pd.DataFrame(
        {
            "support_contacts_30d": [2, 0, 0, 2],
            "support_contacts_90d": [3, 0, 0, 3],
            "support_contacts_180d": [4, 1, 0, 3],
            "support_long_waits_30d": [1, 0, 0, 0],
            "support_long_waits_90d": [2, 0, 0, 0],
            "support_long_waits_180d": [2, 0, 0, 0],
            "support_wait_mean_180d": [(30 + 20 + 25 + 5) / 4, 2, NAN, 1],
            # waits 5, 20, 25, 30: position 0.9 * 3 = 2.7 -> 25 + 0.7 * 5
            "support_wait_p90_180d": [28.5, 2, NAN, 1],
            "support_wait_max_180d": [30, 2, NAN, 1],
            "support_long_wait_share_180d": [0.5, 0, NAN, 0],
            "support_unresolved_30d": [1, 0, 0, 0],
            "support_unresolved_90d": [1, 0, 0, 0],
            "support_unresolved_180d": [1, 0, 0, 0],
            "support_unresolved_share_180d": [0.25, 0, NAN, 0],
            # a: 02-25 follows 02-20 by 5 days in every window; b's repeat (09-05 after 08-31) is 177 days old;
            # d's contacts are 60 and 29.75 days apart
            "support_repeat_contacts_30d": [1, 0, 0, 0],
            "support_repeat_contacts_90d": [1, 0, 0, 0],
            "support_repeat_contacts_180d": [1, 1, 0, 0],
            "support_days_since_last_contact": [4, 177, NAN, 0.25],
            # recent 30 days against the 60 before (30 < age <= 90), per 30 days: a and d both 2 - 1/2
            "support_contact_trend": [2 - 0.5, 0, 0, 2 - 0.5],
        },
        index=CUSTOMERS,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(got, expected)


def test_support_windows_and_thresholds_come_from_config(table):
    cfg = FeatureConfig(
        windows_days=[10, 50],
        long_wait_minutes=19.0,
        repeat_contact_days=5,
        trend_recent_days=10,
        trend_baseline_days=20,
    )
    got = support_contact_features(table("support_contacts", CONTACTS), CUSTOMERS, T, cfg)
    assert got.loc["a", "support_contacts_10d"] == 2
    assert got.loc["a", "support_long_waits_50d"] == 3  # 20 minutes is now long
    assert got.loc["a", "support_repeat_contacts_50d"] == 1  # 02-20 -> 02-25 is 5 days
    assert got.loc["b", "support_repeat_contacts_50d"] == 0
    assert got.loc["a", "support_unresolved_10d"] == 1 and got.loc["a", "support_unresolved_50d"] == 1
    assert got.loc["a", "support_contact_trend"] == 2 * 3 - 0  # 2 per 10 days = 6 per 30; none in days 10..30


def test_no_contacts_at_all(table):
    got = support_contact_features(table("support_contacts", []), CUSTOMERS, T, CFG)
    assert list(got.index) == list(CUSTOMERS)
    assert (got["support_contacts_30d"] == 0).all() and got["support_wait_mean_180d"].isna().all()
    assert (got.dtypes == "float64").all()


def test_ids_are_text_never_numbers(table):
    contacts = table(
        "support_contacts",
        [
            ("00123", "2026-02-20", "phone", 1.0, True),
            ("123", "2026-02-21", "phone", 1.0, True),
            ("123", "2026-02-22", "phone", 1.0, True),
        ],
    )
    ids = pd.Index(["00123", "123"], dtype="str", name="customer_id")
    got = support_contact_features(contacts, ids, T, CFG)
    assert got["support_contacts_30d"].tolist() == [1.0, 2.0]


def test_contacts_about_the_bill_are_left_to_the_price_family_but_their_waits_count(table):
    from churnml.config import FeatureConfig
    from churnml.features.support import support_contact_features

    rows = [
        ("a", "2026-02-20", "phone", 40.0, False, "billing"),
        ("a", "2026-02-21", "phone", 5.0, False, "billing"),  # a repeat about the bill
        ("a", "2026-02-05", "phone", 5.0, False, "technical"),
    ]
    frame = table("support_contacts", rows, ["customer_id", "timestamp", "channel", "wait_minutes", "resolved", "topic"])
    got = support_contact_features(frame, pd.Index(["a"], dtype="str", name="customer_id"), "2026-03-01", FeatureConfig())
    assert got.loc["a", "support_contacts_30d"] == 1
    assert got.loc["a", "support_unresolved_30d"] == 1 and got.loc["a", "support_unresolved_share_180d"] == 1.0
    assert got.loc["a", "support_repeat_contacts_30d"] == 0
    assert got.loc["a", "support_long_waits_30d"] == 1  # the desk kept them waiting: service, whatever the topic
    assert got.loc["a", "support_wait_max_180d"] == 40.0
