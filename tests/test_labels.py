import numpy as np
import pandas as pd
import pytest

from churnml.config import ChurnConfig, LabelConfig, SnapshotConfig
from churnml.dataset import Dataset
from churnml.features import build_features, population_context
from churnml.labels import build_labels, snapshot_dates, training_snapshots
from churnml.lifecycle import lifecycle_stage

T = "2026-01-01"
CFG = LabelConfig(horizon_days=60, grace_days=30)

# Hand-worked fixture at T = 2026-01-01, H = 60 (T + H = 2026-03-02), G = 30.
FIXTURE = [
    ("leaves", "2025-01-01", "2026-02-01", "basic", 10.0),  # churns inside the horizon: 1
    ("returns_in_grace", "2025-01-01", "2026-02-01", "basic", 10.0),
    ("returns_in_grace", "2026-02-20", None, "basic", 10.0),  # back after 19 days: not churn, 0
    ("returns_late", "2025-01-01", "2026-02-01", "basic", 10.0),
    ("returns_late", "2026-03-15", None, "basic", 10.0),  # back after 42 days: churn on 02-01, 1
    ("grace_edge", "2025-01-01", "2026-01-15", "basic", 10.0),
    ("grace_edge", "2026-02-14", None, "basic", 10.0),  # back exactly 30 days later: not churn, 0
    ("horizon_edge", "2025-01-01", "2026-03-02", "basic", 10.0),  # churn on T + H exactly: 1
    ("past_horizon", "2025-01-01", "2026-03-03", "basic", 10.0),  # churn one day after T + H: 0
    ("ends_on_t", "2025-01-01", "2026-01-01", "basic", 10.0),  # not active at T: no label
    ("starts_on_t", "2026-01-01", None, "basic", 10.0),  # active at T, stays: 0
    ("starts_on_t_leaves", "2026-01-01", "2026-01-20", "basic", 10.0),  # active at T, churns: 1
    ("later", "2026-01-05", "2026-01-20", "basic", 10.0),  # not active at T: no label
    ("stays", "2024-01-01", None, "basic", 10.0),  # 0
]
EXPECTED = {
    "grace_edge": 0,
    "horizon_edge": 1,
    "leaves": 1,
    "past_horizon": 0,
    "returns_in_grace": 0,
    "returns_late": 1,
    "starts_on_t": 0,
    "starts_on_t_leaves": 1,
    "stays": 0,
}


def test_labels_match_the_hand_worked_fixture(table):
    labels = build_labels(table("subscriptions", FIXTURE), T, CFG)
    assert labels.to_dict() == EXPECTED
    assert list(labels.index) == sorted(EXPECTED)
    assert labels.dtype == np.int64 and labels.name == "label"


def test_a_late_return_is_churn_and_then_won_back(table):
    subs = table("subscriptions", FIXTURE)
    assert lifecycle_stage(subs, "2026-04-01", CFG).to_dict()["returns_late"] == "won_back"
    assert lifecycle_stage(subs, "2026-04-01", CFG).to_dict()["returns_in_grace"] == "established"


def test_labels_from_data_known_at_t_are_all_zero(table):
    # Every end date after T is unknown at T: nothing about the label can leak into the as-of view.
    known = Dataset.from_frames({"subscriptions": table("subscriptions", FIXTURE)}).known_at(T)
    assert build_labels(known.subscriptions, T, CFG).sum() == 0


def test_the_horizon_and_grace_come_from_config(table):
    subs = table("subscriptions", FIXTURE)
    short = build_labels(subs, T, LabelConfig(horizon_days=31, grace_days=30))
    assert short["leaves"] == 1 and short["horizon_edge"] == 0
    tolerant = build_labels(subs, T, LabelConfig(horizon_days=60, grace_days=45))
    assert tolerant["returns_late"] == 0  # a 42-day gap is within a 45-day grace period


def _config(max_snapshots: int = 12) -> ChurnConfig:
    return ChurnConfig(labels=CFG, snapshots=SnapshotConfig(max_snapshots=max_snapshots))


def test_snapshot_dates_have_fully_known_labels(table):
    subs = table(
        "subscriptions", [("a", "2025-01-15", None, "basic", 10.0), ("b", "2024-06-01", "2024-09-01", "basic", 10.0)]
    )
    dates = snapshot_dates(subs, "2026-01-01", _config(max_snapshots=100))
    # Last date d with d + 60 + 30 <= 2026-01-01 is 2025-10-03: month starts up to 2025-10-01. Month starts with
    # nobody active (2024-09-01, b ends that day, .. 2025-01-01) are skipped; 2024-06-01 (b starts) is the first.
    expected = list(pd.date_range("2024-06-01", "2024-08-01", freq="MS")) + list(
        pd.date_range("2025-02-01", "2025-10-01", freq="MS")
    )
    assert list(dates) == expected
    assert all(d + pd.Timedelta(days=90) <= pd.Timestamp("2026-01-01") for d in dates)
    assert list(snapshot_dates(subs, "2026-01-01", _config(max_snapshots=3))) == list(
        pd.date_range("2025-08-01", "2025-10-01", freq="MS")
    )


def test_snapshot_boundary_is_inclusive(table):
    subs = table("subscriptions", [("a", "2025-01-01", None, "basic", 10.0)])
    assert snapshot_dates(subs, "2025-05-31", _config())[-1] == pd.Timestamp("2025-03-01")  # 03-01 + 90 days = 05-30
    assert snapshot_dates(subs, "2025-05-30", _config())[-1] == pd.Timestamp("2025-03-01")
    assert snapshot_dates(subs, "2025-05-29", _config())[-1] == pd.Timestamp("2025-02-01")


def test_training_snapshots_stack_features_stage_and_labels(mixed):
    as_of = pd.Timestamp("2026-03-01")
    config = _config(max_snapshots=4)
    table = training_snapshots(mixed, as_of, config)
    dates = sorted(table["snapshot_date"].unique())
    assert len(dates) == 4
    assert all(d + pd.Timedelta(days=90) <= as_of for d in dates)
    assert list(table.columns[:2]) == ["snapshot_date", "customer_id"] and list(table.columns[-2:]) == [
        "lifecycle_stage",
        "label",
    ]
    assert table.equals(table.sort_values(["snapshot_date", "customer_id"]).reset_index(drop=True))
    assert table["snapshot_date"].dtype == "datetime64[ns]" and table["label"].dtype == np.int64
    assert table["plan"].dtype == "category"
    for d in dates:
        rows = table[table["snapshot_date"] == d].set_index("customer_id")
        # Fully labelled snapshots: the labels equal those computed from all the data, future included.
        pd.testing.assert_series_equal(rows["label"], build_labels(mixed.subscriptions, d, CFG), check_names=False)
        pd.testing.assert_series_equal(
            rows["lifecycle_stage"], lifecycle_stage(mixed.subscriptions, d, CFG), check_names=False
        )
        expected = build_features(mixed, d, config, population_context(mixed.known_at(as_of), d, config))
        got = rows[expected.columns].astype({"plan": expected["plan"].dtype})
        pd.testing.assert_frame_equal(got, expected, check_names=False)


def _with_future_rows(dataset: Dataset, as_of: pd.Timestamp) -> Dataset:
    """Rows dated at or after ``as_of`` in every table, and later end dates for periods still open at ``as_of``."""
    subs = dataset.subscriptions
    still_open = subs["end_date"].isna() | (subs["end_date"] > as_of)
    changed = subs.assign(end_date=subs["end_date"].where(~still_open, as_of + pd.Timedelta(days=3)))
    first = subs.drop_duplicates("customer_id").head(5)
    future_starts = first.assign(start_date=as_of + pd.Timedelta(days=1), end_date=pd.NaT, plan="future_plan")
    frames = {"subscriptions": pd.concat([changed, future_starts], ignore_index=True), "customers": dataset.customers}
    for name in ("support_contacts", "complaints", "price_changes", "tech_faults", "surveys"):
        frame = dataset.table(name)
        extra = frame.head(10).assign(timestamp=as_of)
        frames[name] = pd.concat(
            [frame, extra, frame.head(10).assign(timestamp=as_of + pd.Timedelta(days=40))], ignore_index=True
        )
    usage = dataset.usage
    frames["usage"] = pd.concat([usage, usage.head(10).assign(month=as_of.replace(day=1), used=1e6)], ignore_index=True)
    return Dataset.from_frames(frames)


def test_rows_after_as_of_do_not_change_training_snapshots(mixed):
    as_of = pd.Timestamp("2026-03-01")
    config = _config(max_snapshots=3)
    base = training_snapshots(mixed, as_of, config)
    pd.testing.assert_frame_equal(training_snapshots(_with_future_rows(mixed, as_of), as_of, config), base)


def test_training_snapshots_empty_when_no_label_is_known(table, dataset_of):
    ds = dataset_of(subscriptions=[("a", "2025-12-01", None, "basic", 10.0)])
    out = training_snapshots(ds, "2026-01-01", _config())
    assert out.empty
    assert list(out.columns[:2]) == ["snapshot_date", "customer_id"] and list(out.columns[-2:]) == [
        "lifecycle_stage",
        "label",
    ]


def test_context_fn_is_used_for_every_snapshot(mixed):
    seen = []

    def spy(dataset, as_of, config):
        seen.append(as_of)
        return population_context(dataset, as_of, config)

    training_snapshots(mixed, "2026-03-01", _config(max_snapshots=2), context_fn=spy)
    assert seen == list(
        snapshot_dates(mixed.known_at("2026-03-01").subscriptions, "2026-03-01", _config(max_snapshots=2))
    )


@pytest.mark.parametrize("progress", [True, False])
def test_progress_flag_does_not_change_the_result(mixed, progress):
    out = training_snapshots(mixed, "2026-03-01", _config(max_snapshots=1), progress=progress)
    assert out["snapshot_date"].nunique() == 1
