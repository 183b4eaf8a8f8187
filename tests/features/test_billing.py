import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.features import feature_registry
from churnml.features.billing import billing_contact_features

T = pd.Timestamp("2026-03-01")
CFG = FeatureConfig()  # windows 30/90/180
CUSTOMERS = pd.Index(["a", "b", "c"], dtype="str", name="customer_id")
COLUMNS = ["customer_id", "timestamp", "channel", "wait_minutes", "resolved", "topic"]
CONTACTS = [
    # customer, timestamp, channel, wait, resolved, topic          age at T (days)
    ("a", "2026-02-25", "phone", 3.0, True, "billing"),  # 4
    ("a", "2026-01-30", "chat", 3.0, True, " Billing "),  # 30: the boundary is inside; case and spaces ignored
    ("a", "2025-12-01", "phone", 3.0, False, "billing"),  # 90
    ("a", "2025-11-01", "phone", 3.0, True, "technical"),  # 120: not about the bill
    ("a", "2025-08-13", "phone", 3.0, True, "billing"),  # 200: outside every window
    ("a", "2026-03-01", "phone", 3.0, True, "billing"),  # on T: not known yet
    ("b", "2026-02-01", "phone", 3.0, True, None),  # topic not recorded: not counted
    ("b", "2025-10-01", "email", 3.0, True, "billing"),  # 151
    ("c", "2026-02-20", "phone", 3.0, False, "technical"),  # 9: a service contact
    ("c", "2026-02-22", "phone", 3.0, False, "billing"),  # 7: unresolved, and a repeat 2 days after the previous
    ("gone", "2026-02-01", "phone", 3.0, True, "billing"),  # not among the customers asked for
]


def test_billing_contacts_by_hand(table):
    got = billing_contact_features(table("support_contacts", CONTACTS, COLUMNS), CUSTOMERS, T, CFG)
    expected = pd.DataFrame(
        {
            "billing_contacts_30d": [2, 0, 1],
            "billing_contacts_90d": [3, 0, 1],
            "billing_contacts_180d": [3, 1, 1],
            "billing_unresolved_30d": [0, 0, 1],
            "billing_unresolved_90d": [1, 0, 1],
            "billing_unresolved_180d": [1, 0, 1],
            "billing_repeat_contacts_30d": [0, 0, 1],
            "billing_repeat_contacts_90d": [0, 0, 1],
            "billing_repeat_contacts_180d": [0, 0, 1],
        },
        index=CUSTOMERS,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(got, expected)


def test_windows_come_from_config(table):
    got = billing_contact_features(
        table("support_contacts", CONTACTS, COLUMNS), CUSTOMERS, T, FeatureConfig(windows_days=[10, 365])
    )
    assert list(got.columns) == [f"billing_{k}_{w}d" for k in ("contacts", "unresolved", "repeat_contacts") for w in (10, 365)]
    assert got["billing_contacts_10d"].tolist() == [1, 0, 1]
    assert got["billing_contacts_365d"].tolist() == [4, 1, 1]


def test_without_topics_or_contacts_nothing_is_counted(table):
    no_topic = table("support_contacts", [r[:5] for r in CONTACTS]).drop(columns="topic")
    for frame in (no_topic, table("support_contacts", [])):
        got = billing_contact_features(frame, CUSTOMERS, T, CFG)
        assert list(got.index) == list(CUSTOMERS) and (got == 0).all().all()
        assert (got.dtypes == "float64").all()


def test_rows_after_t_change_nothing(table):
    frame = table("support_contacts", CONTACTS, COLUMNS)
    before = billing_contact_features(frame[frame["timestamp"] < T], CUSTOMERS, T, CFG)
    pd.testing.assert_frame_equal(billing_contact_features(frame, CUSTOMERS, T, CFG), before)


def test_billing_queries_are_a_price_signal():
    registry = feature_registry(ChurnConfig())
    names = [n for n in registry if n.startswith("billing_contacts_")]
    assert names == ["billing_contacts_30d", "billing_contacts_90d", "billing_contacts_180d"]
    assert all(registry[n].family == Family.PRICE and registry[n].source == "support_contacts" for n in names)
    assert not np.any([registry[n].plan_mismatch for n in names])


def test_how_the_desk_handled_a_bill_query_is_service():
    registry = feature_registry(ChurnConfig())
    names = [n for n in registry if n.startswith(("billing_unresolved_", "billing_repeat_contacts_"))]
    assert len(names) == 6
    assert all(registry[n].family == Family.SERVICE for n in names)
