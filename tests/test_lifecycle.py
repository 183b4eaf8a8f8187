import pandas as pd
import pytest

from churnml.config import LabelConfig
from churnml.lifecycle import active_customers, churn_events, lifecycle_stage

T = "2026-03-01"
CFG = LabelConfig(horizon_days=60, grace_days=30, new_customer_days=90)


def _ids(index: pd.Index) -> list[str]:
    return list(index)


def test_active_at_t_follows_the_period_boundaries(table):
    subs = table(
        "subscriptions",
        [
            ("ends_on_t", "2025-01-01", "2026-03-01", "basic", 10.0),  # ends on T: not active
            ("starts_on_t", "2026-03-01", None, "basic", 10.0),  # starts on T: active
            ("ends_after", "2025-01-01", "2026-03-02", "basic", 10.0),
            ("open", "2024-05-01", None, "basic", 10.0),
            ("future", "2026-03-02", None, "basic", 10.0),
            ("gone", "2024-01-01", "2025-01-01", "basic", 10.0),
            ("00123", "2025-01-01", None, "basic", 10.0),
            ("123", "2025-01-01", "2025-02-01", "basic", 10.0),  # a different customer from 00123
        ],
    )
    active = active_customers(subs, T)
    assert _ids(active) == ["00123", "ends_after", "open", "starts_on_t"]
    assert active.name == "customer_id"


def test_churn_dates_honour_the_grace_period(table):
    subs = table(
        "subscriptions",
        [
            ("within", "2025-01-01", "2025-06-01", "basic", 10.0),
            ("within", "2025-07-01", None, "basic", 10.0),  # back exactly 30 days later: not churn
            ("after", "2025-01-01", "2025-06-01", "basic", 10.0),
            ("after", "2025-07-02", "2025-12-01", "basic", 10.0),  # back 31 days later: churned on 06-01
            ("gone", "2025-01-01", "2025-04-15", "basic", 10.0),
            ("chain", "2025-01-01", "2025-02-01", "basic", 10.0),
            ("chain", "2025-02-10", "2025-03-01", "plus", 20.0),
            ("chain", "2025-03-20", "2025-05-01", "pro", 30.0),  # three periods, one run, one churn at its end
            ("open", "2025-01-01", None, "basic", 10.0),
        ],
    )
    events = churn_events(subs, grace_days=30)
    expected = pd.DataFrame(
        {
            "customer_id": pd.Series(["after", "after", "chain", "gone"], dtype="str"),
            "churn_date": pd.to_datetime(["2025-06-01", "2025-12-01", "2025-05-01", "2025-04-15"]).astype(
                "datetime64[ns]"
            ),
        }
    )
    pd.testing.assert_frame_equal(events.reset_index(drop=True), expected)


def test_grace_zero_makes_every_gap_a_churn(table):
    subs = table(
        "subscriptions",
        [
            ("a", "2025-01-01", "2025-02-01", "basic", 10.0),
            ("a", "2025-02-02", None, "basic", 10.0),
            ("b", "2025-01-01", "2025-02-01", "basic", 10.0),
            ("b", "2025-02-01", None, "basic", 10.0),
        ],
    )
    events = churn_events(subs, grace_days=0)
    assert list(events["customer_id"]) == ["a"]


def test_lifecycle_stages(table):
    subs = table(
        "subscriptions",
        [
            ("fresh", "2025-12-05", None, "basic", 10.0),  # 86 days before T: new
            ("edge_new", "2025-12-02", None, "basic", 10.0),  # 89 days: still new
            ("edge_est", "2025-12-01", None, "basic", 10.0),  # 90 days: established
            ("veteran", "2023-01-01", None, "basic", 10.0),
            ("won", "2023-01-01", "2025-01-01", "basic", 10.0),
            ("won", "2025-03-01", None, "basic", 10.0),  # back after 59 days: won back, although run > 90 days
            ("won_new", "2024-01-01", "2025-11-01", "basic", 10.0),
            ("won_new", "2026-01-01", None, "basic", 10.0),  # won back beats new
            ("grace", "2024-01-01", "2025-11-01", "basic", 10.0),
            ("grace", "2025-11-20", None, "basic", 10.0),  # back within grace: same run, established
            ("regrace", "2024-01-01", "2025-12-31", "basic", 10.0),
            ("regrace", "2026-01-20", None, "basic", 10.0),  # within grace, run from 2024: established
            ("unknown_end", "2023-06-01", "2026-05-01", "basic", 10.0),  # end after T is unknown at T
            ("pending", "2023-06-01", "2026-02-15", "basic", 10.0),  # ended before T: not active, no stage
        ],
    )
    stage = lifecycle_stage(subs, T, CFG)
    expected = {
        "edge_est": "established",
        "edge_new": "new",
        "fresh": "new",
        "grace": "established",
        "regrace": "established",
        "unknown_end": "established",
        "veteran": "established",
        "won": "won_back",
        "won_new": "won_back",
    }
    assert stage.to_dict() == expected
    assert list(stage.index) == sorted(expected)
    assert stage.name == "lifecycle_stage"


def test_lifecycle_ignores_periods_starting_after_t(table):
    subs = table(
        "subscriptions",
        [
            ("a", "2024-01-01", "2025-01-01", "basic", 10.0),
            ("a", "2025-06-01", None, "basic", 10.0),
            ("a", "2026-04-01", None, "pro", 10.0),
        ],
    )
    assert lifecycle_stage(subs, "2025-07-01", CFG).to_dict() == {"a": "won_back"}
    # Before the return the customer is not active at all, whatever the future holds.
    assert lifecycle_stage(subs, "2025-03-01", CFG).empty


@pytest.mark.parametrize("grace, expected", [(58, "won_back"), (59, "established")])
def test_won_back_depends_on_the_configured_grace(table, grace, expected):
    subs = table(
        "subscriptions", [("a", "2023-01-01", "2025-01-01", "basic", 10.0), ("a", "2025-03-01", None, "basic", 10.0)]
    )
    cfg = LabelConfig(grace_days=grace)
    assert lifecycle_stage(subs, T, cfg).to_dict() == {"a": expected}
