"""Features for T use only what was known before T (contract: point in time)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from churnml.config import ChurnConfig
from churnml.dataset import Dataset
from churnml.features import build_features, population_context

CONFIG = ChurnConfig()
# Boundary dates: midnights on which periods start or end, events happen and months turn (see mixed_dataset).
AS_OF = st.one_of(
    st.dates(min_value=dt.date(2024, 2, 1), max_value=dt.date(2026, 7, 1)),
    st.sampled_from([dt.date(2025, m, 1) for m in range(1, 13)]),
)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _boundary_dates(dataset: Dataset) -> list[dt.date]:
    subs = dataset.subscriptions
    days = pd.concat(
        [subs["start_date"], subs["end_date"].dropna(), dataset.support_contacts["timestamp"].dt.normalize()]
    )
    return sorted({d.date() for d in days if pd.Timestamp("2024-02-01") <= d <= pd.Timestamp("2026-07-01")})


@SETTINGS
@given(data=st.data())
def test_features_from_everything_equal_features_from_what_was_known(mixed, data):
    as_of = data.draw(st.one_of(AS_OF, st.sampled_from(_boundary_dates(mixed))))
    full = build_features(mixed, as_of, CONFIG)
    known = build_features(mixed.known_at(as_of), as_of, CONFIG)
    pd.testing.assert_frame_equal(full, known)


def _add_future(dataset: Dataset, template: Dataset, as_of: pd.Timestamp, rng: np.random.Generator) -> Dataset:
    """``dataset`` plus rows (copied from ``template``) dated at or after ``as_of`` in every table, and end dates
    after ``as_of`` for the periods open at ``as_of``."""

    def later(n: int) -> pd.Series:
        return pd.Series(as_of + pd.to_timedelta(rng.integers(0, 200 * 86_400, n), unit="s")).astype("datetime64[ns]")

    subs = dataset.subscriptions
    open_at = (subs["start_date"] <= as_of) & (subs["end_date"].isna() | (subs["end_date"] > as_of))
    ends = subs["end_date"].copy()
    ends[open_at] = (as_of + pd.to_timedelta(rng.integers(1, 300, int(open_at.sum())), unit="D")).astype(
        "datetime64[ns]"
    )
    starts = template.subscriptions.sample(8, replace=True, random_state=int(rng.integers(1 << 30))).reset_index(
        drop=True
    )
    starts = starts.assign(
        start_date=(as_of + pd.to_timedelta(rng.integers(1, 100, 8), unit="D")).astype("datetime64[ns]"),
        end_date=pd.NaT,
        plan="brand_new_plan",
        monthly_price=1.0,
    )
    frames = {
        "subscriptions": pd.concat([subs.assign(end_date=ends), starts], ignore_index=True),
        "customers": dataset.customers,
    }
    for name in ("support_contacts", "complaints", "price_changes", "tech_faults", "surveys"):
        frame = dataset.table(name)
        extra = (
            template.table(name)
            .sample(20, replace=True, random_state=int(rng.integers(1 << 30)))
            .reset_index(drop=True)
        )
        extra["timestamp"] = later(20)
        extra.loc[0, "timestamp"] = as_of  # exactly at T
        frames[name] = pd.concat([frame, extra], ignore_index=True)
    usage = template.usage.sample(20, replace=True, random_state=int(rng.integers(1 << 30))).reset_index(drop=True)
    usage["month"] = as_of.to_period("M").to_timestamp()  # the month of T ends after T
    usage["used"] = 1e9
    frames["usage"] = pd.concat([dataset.usage, usage], ignore_index=True)
    return Dataset.from_frames(frames)


@pytest.mark.slow
@SETTINGS
@given(as_of=AS_OF, seed=st.integers(0, 2**16))
def test_rows_at_or_after_t_change_nothing(mixed, as_of, seed):
    t = pd.Timestamp(as_of)
    known = mixed.known_at(t)
    baseline = build_features(known, t, CONFIG)
    noisy = _add_future(known, mixed, t, np.random.default_rng(seed))
    pd.testing.assert_frame_equal(build_features(noisy, t, CONFIG), baseline)
    # The population context (new-customer prices, incident sizes, plans) is point in time as well.
    assert population_context(noisy, t, CONFIG).plans == population_context(known, t, CONFIG).plans


def test_the_property_is_not_vacuous(mixed):
    """Across the dates above, features do change with time, and future rows would matter without the rule."""
    a = build_features(mixed, "2025-03-01", CONFIG)
    b = build_features(mixed, "2025-09-01", CONFIG)
    assert not a.index.equals(b.index) or not a.equals(b)
    assert a["support_contacts_180d"].sum() > 0 and a["faults_180d"].sum() > 0 and a["usage_volume_3m"].notna().any()
    assert a["survey_count"].sum() > 0 and a["price_increases_180d"].sum() > 0 and a["previous_churns"].sum() > 0
