import numpy as np
import pandas as pd
import pytest

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.features import feature_registry, render_reason
from churnml.features.friction import FRICTION_HALF_LIFE_DAYS, service_friction_features

T = pd.Timestamp("2026-03-01")
CFG = FeatureConfig()  # long wait > 20 min, longest window 180 days
CUSTOMERS = pd.Index(["a", "b", "c"], dtype="str", name="customer_id")
CONTACTS = [
    # customer, timestamp, channel, wait, resolved                  age at T (days)
    ("a", "2025-12-31", "phone", 30.0, False),  # 60: long and unresolved, 2 failures at half weight
    ("a", "2025-11-01", "phone", 5.0, True),  # 120: short and resolved, no failure
    ("a", "2026-02-27", "phone", 20.0, True),  # 2: exactly the threshold is not long
    ("a", "2025-08-13", "phone", 90.0, False),  # 200: outside the longest window
    ("b", "2026-03-01", "phone", 90.0, False),  # on T: not known yet
]
FAULTS = [
    ("a", "2026-01-30", "app", 10.0, None),  # 30: one failure at 0.5 ** 0.5
    ("b", "2025-09-02", "outage", 300.0, "INC1"),  # 180: on the boundary, an eighth
]
COMPLAINTS = [
    ("a", "2025-12-31", "technical", 4),  # 60: severity does not matter, half weight
    ("a", "2026-02-19", "billing", 5),  # a billing complaint is a price signal, not service friction
]


def test_friction_score_by_hand(table):
    got = service_friction_features(
        table("support_contacts", CONTACTS),
        table("tech_faults", FAULTS),
        table("complaints", COMPLAINTS),
        CUSTOMERS,
        T,
        CFG,
    )
    assert FRICTION_HALF_LIFE_DAYS == 60.0
    expected = pd.DataFrame(
        {"service_friction_score": [2 * 0.5 + 0.5**0.5 + 0.5, 0.125, 0.0]}, index=CUSTOMERS, dtype="float64"
    )
    pd.testing.assert_frame_equal(got, expected)


def test_long_wait_threshold_and_window_come_from_config(table):
    cfg = FeatureConfig(long_wait_minutes=19.0, windows_days=[100])
    got = service_friction_features(
        table("support_contacts", CONTACTS), table("tech_faults", FAULTS), table("complaints", []), CUSTOMERS, T, cfg
    )
    # a: the 2-day-old 20-minute wait is now long; b's fault is 180 days old, outside 100 days
    assert got.loc["a", "service_friction_score"] == pytest.approx(2 * 0.5 + 0.5 ** (2 / 60) + 0.5**0.5)
    assert got.loc["b", "service_friction_score"] == 0.0


def test_no_events_at_all(table):
    got = service_friction_features(
        table("support_contacts", []), table("tech_faults", []), table("complaints", []), CUSTOMERS, T, CFG
    )
    assert (got["service_friction_score"] == 0).all() and got.dtypes.iloc[0] == "float64"


def test_friction_is_a_service_feature_with_a_readable_reason():
    spec = feature_registry(ChurnConfig())["service_friction_score"]
    assert spec.family == Family.SERVICE and spec.group is None
    assert render_reason(spec, 2.345).endswith("friction score 2.3")
    assert render_reason(spec, 0.0) == "no service failure in the last 180 days"


def test_price_pressure_score_by_hand(table):
    from churnml.features.friction import price_pressure_features

    changes = table("price_changes", [
        # customer, timestamp, old, new, notice                       age at T (days)
        ("a", "2025-12-31", 20.0, 22.0, 45.0),  # 60: a 10% rise with good notice counts 1, at half weight
        ("a", "2026-02-27", 22.0, 23.1, np.nan),  # 2: 5% with no notice on record counts 2 x 0.5
        ("a", "2026-01-30", 23.1, 21.0, 0.0),  # a cut counts nothing
        ("b", "2025-08-13", 20.0, 30.0, 0.0),  # 200: outside the longest window
        ("b", "2026-03-01", 20.0, 30.0, 0.0),  # on T: not known yet
        ("c", "2026-01-30", 0.0, 10.0, 0.0),  # from a free price: no size to speak of
    ])
    complaints = table("complaints", [("b", "2026-01-30", "billing", 2), ("b", "2026-01-30", "service", 5)])
    got = price_pressure_features(changes, complaints, CUSTOMERS, T, CFG)["price_pressure_score"]
    fade = lambda days: 0.5 ** (days / FRICTION_HALF_LIFE_DAYS)  # noqa: E731
    np.testing.assert_allclose(got.to_numpy(), [1.0 * fade(60) + 1.0 * fade(2), fade(30), 0.0], rtol=1e-9)
    registry = feature_registry(ChurnConfig())
    assert registry["price_pressure_score"].family is Family.PRICE
    assert render_reason(registry["price_pressure_score"], 0.0) == "no price rise or billing complaint in the last 180 days"


def test_price_pressure_without_any_price_change_is_zero(table):
    from churnml.features.friction import price_pressure_features

    complaints = table("complaints", [("b", "2026-01-30", "billing", 2)])
    got = price_pressure_features(table("price_changes", []), complaints, CUSTOMERS, T, CFG)["price_pressure_score"]
    assert got.dtype == "float64"
    np.testing.assert_allclose(got.to_numpy(), [0.0, 0.5 ** (30 / FRICTION_HALF_LIFE_DAYS), 0.0])
