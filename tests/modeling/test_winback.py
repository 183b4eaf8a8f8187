"""Win-back: who is listed, the return labels, the stays curve and the value gate, on small inline data."""

import numpy as np
import pandas as pd
import pytest

from churnml.config import ChurnConfig, parse_config
from churnml.modeling.winback import (
    churned_in_window,
    kaplan_meier,
    restricted_mean,
    return_training_rows,
    won_back_stays,
)

T = pd.Timestamp("2025-06-01")


def _day(offset: int) -> str:
    return str((T + pd.Timedelta(days=offset)).date())


def _subs(table, rows):
    return table("subscriptions", [(cid, start, end, "basic", 10.0) for cid, start, end in rows])


@pytest.mark.parametrize(
    ("name", "periods", "listed"),
    [
        ("29 days ago", [("2024-01-01", _day(-29))], False),
        ("30 days ago", [("2024-01-01", _day(-30))], True),
        ("60 days ago", [("2024-01-01", _day(-60))], True),
        ("61 days ago", [("2024-01-01", _day(-61))], False),
        ("returned within the grace period: no churn", [("2024-01-01", _day(-45)), (_day(-20), None)], False),
        ("came back after the grace period", [("2024-01-01", _day(-90)), (_day(-50), _day(-45)), (_day(-5), None)], False),
        ("comes back on T itself", [("2024-01-01", _day(-45)), (_day(0), None)], False),
        ("a return after T is not known at T", [("2024-01-01", _day(-45)), (_day(3), None)], True),
        ("still active", [("2024-01-01", None)], False),
        ("ends after T: unknown at T", [("2024-01-01", _day(10))], False),
    ],
)
def test_the_window_and_returns(table, name, periods, listed):
    subs = _subs(table, [("c1", s, e) for s, e in periods])
    got = churned_in_window(subs, T, ChurnConfig())
    assert (len(got) == 1) == listed, name
    if listed:
        assert got.loc[0, "customer_id"] == "c1"
        assert got.loc[0, "days_since_churn"] == (T - got.loc[0, "churn_date"]).days


def test_earlier_churns_are_counted(table):
    subs = _subs(table, [("c1", "2023-01-01", "2023-06-01"), ("c1", "2023-09-01", "2024-02-01"), ("c1", "2024-06-01", _day(-40))])
    got = churned_in_window(subs, T, ChurnConfig())
    assert got["earlier_churns"].tolist() == [2]


def test_min_days_below_the_grace_period_is_refused():
    with pytest.raises(Exception, match="winback.min_days"):
        parse_config({"winback": {"min_days": 10}})
    with pytest.raises(Exception, match="return_window_days"):
        parse_config({"winback": {"return_window_days": 50}})


def test_return_labels_look_only_within_the_window_and_are_known_at_t(table):
    cfg = ChurnConfig()
    c = pd.Timestamp("2024-06-10")  # churn date; the one snapshot 30..60 days after it is 2024-08-01 (52 days)
    day = lambda n: str((c + pd.Timedelta(days=n)).date())  # noqa: E731
    subs = _subs(table, [
        ("back_100", "2023-01-01", day(0)), ("back_100", day(100), None),
        ("back_200", "2023-01-01", day(0)), ("back_200", day(200), None),
        ("never", "2023-01-01", day(0)),
        ("back_before_snapshot", "2023-01-01", day(0)), ("back_before_snapshot", day(45), None),
        ("too_recent", "2023-01-01", _day(-100)),  # its return window is still open at T
    ])
    rows = return_training_rows(subs, T, cfg)
    labels = dict(zip(rows["customer_id"], rows["label"]))
    assert labels == {"back_100": 1, "back_200": 0, "never": 0}
    assert (rows["snapshot_date"] == pd.Timestamp("2024-08-01")).all()
    assert rows["days_since_churn"].between(cfg.winback.min_days, cfg.winback.max_days).all()


def test_kaplan_meier_by_hand():
    # 4 stays: 1 (ended), 2 (ended), 2 (still going), 3 (ended)
    curve = kaplan_meier(np.array([1.0, 2.0, 2.0, 3.0]), np.array([True, True, False, True]))
    assert curve["months"].tolist() == [0.0, 1.0, 2.0, 3.0]
    np.testing.assert_allclose(curve["survival"], [1.0, 0.75, 0.75 * 2 / 3, 0.0])
    # area: 1 x 1 + 1 x 0.75 + 1 x 0.5 = 2.25, and capped by the horizon
    assert restricted_mean(curve, 10.0) == pytest.approx(2.25)
    assert restricted_mean(curve, 1.5) == pytest.approx(1.0 + 0.5 * 0.75)


def test_stays_are_the_runs_after_a_churn(table):
    subs = _subs(table, [
        ("a", "2023-01-01", "2023-06-01"), ("a", "2023-09-01", "2024-03-01"),  # a return that ended
        ("b", "2023-01-01", "2023-06-01"), ("b", "2024-01-01", None),  # a return still going: censored at T
        ("c", "2023-01-01", None),  # never churned
    ])
    stays = won_back_stays(subs, T, 30).sort_values("months").reset_index(drop=True)
    assert stays["ended"].tolist() == [True, False]
    assert stays["months"].tolist() == pytest.approx([182 / 30.4375, (T - pd.Timestamp("2024-01-01")).days / 30.4375])


