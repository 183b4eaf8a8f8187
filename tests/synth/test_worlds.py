"""Simulated worlds: each preset changes a mechanism, and the truth knowable at T comes with every world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml.synth import WORLDS, SimulationConfig, generate, world_config

N = 3000


@pytest.fixture(scope="module")
def worlds() -> dict[str, object]:
    return {name: generate(N, seed=5, config=world_config(name)) for name in WORLDS}


def test_at_least_six_named_worlds_and_the_default_is_the_shipped_generator():
    assert len(WORLDS) >= 6
    assert world_config("default") == SimulationConfig()
    with pytest.raises(ValueError, match="unknown world 'nope'; choose one of default"):
        world_config("nope")


def test_default_world_is_identical_to_the_plain_generator():
    a, b = generate(600, seed=2), generate(600, seed=2, config=world_config("default"))
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])


@pytest.mark.slow
def test_oracle_records_hazard_parts_and_the_cause_they_imply(worlds):
    for name, data in worlds.items():
        o = data.oracle
        parts = o[["hazard_other", "hazard_price", "hazard_service"]].to_numpy()
        assert (parts >= 0).all(), name
        implied = np.array(["other", "price", "service"])[parts.argmax(axis=1)]
        assert (o["oracle_cause"].to_numpy(dtype=object) == implied).all(), name
        # The 60-day probability is built from the same parts.
        h = np.minimum(parts.sum(axis=1), SimulationConfig().max_hazard if name != "default" else 0.6)
        np.testing.assert_allclose(o["oracle_probability"], 1 - (1 - h) ** 2, rtol=1e-9)


def test_planted_cause_is_the_oracle_cause_in_the_churn_month(worlds):
    data = worlds["default"]
    month = data.truth["churn_date"].dt.to_period("M").dt.start_time
    joined = data.truth.assign(as_of_date=month).merge(data.oracle, on=["customer_id", "as_of_date"], how="left")
    assert joined["oracle_cause"].notna().all()
    assert (joined["cause"].astype(str) == joined["oracle_cause"].astype(str)).all()


def _cause_mix(data) -> pd.Series:
    return data.truth["cause"].value_counts(normalize=True)


def test_price_led_and_service_led_worlds_lead_with_their_cause(worlds):
    assert _cause_mix(worlds["price_led"])["price"] > 0.5
    assert _cause_mix(worlds["service_led"])["service"] > 0.55
    assert _cause_mix(worlds["service_led"]).get("price", 0) < _cause_mix(worlds["default"])["price"]


def test_rise_waves_strike_everyone_on_the_same_days(worlds):
    rises = worlds["price_waves"].tables["price_changes"]
    rises = rises[rises["new_price"] > rises["old_price"]]
    days = rises["timestamp"].dt.normalize().value_counts()
    waves = days[days > 50]
    assert set(waves.index.month) <= {3, 9} and len(waves) >= 3
    assert waves.sum() > 0.7 * len(rises)
    # One size per wave.
    wave_rows = rises[rises["timestamp"].dt.normalize().isin(waves.index)]
    size = wave_rows["new_price"] / wave_rows["old_price"]
    day = wave_rows["timestamp"].dt.normalize()
    off = (size - size.groupby(day).transform("median")).abs()
    assert (off < 0.01).mean() > 0.95  # rounding to cents and the odd individual rise on a wave day aside


def test_anniversary_rises_fall_in_the_month_the_subscription_started(worlds):
    data = worlds["anniversary_rises"]
    subs = data.tables["subscriptions"]
    rises = data.tables["price_changes"]
    rises = rises[(rises["new_price"] / rises["old_price"] - 1).between(0.035, 0.105)]
    start = subs.sort_values("start_date").groupby("customer_id")["start_date"].last()
    month = rises["customer_id"].map(start).dt.month
    assert (month == rises["timestamp"].dt.month).mean() > 0.8


def test_intake_promotions_expire_into_a_rise_back_to_full_price(worlds):
    data = worlds["intake_promos"]
    subs = data.tables["subscriptions"]
    joined = subs[subs["start_date"] >= data.start]
    rises = data.tables["price_changes"].merge(joined[["customer_id", "start_date"]], on="customer_id")
    age = (rises["timestamp"] - rises["start_date"]).dt.days
    back = rises[(age - 183).abs() <= 1]
    ratio = back["new_price"] / back["old_price"]
    assert len(back) > 0.3 * len(joined)
    np.testing.assert_allclose(ratio.median(), 1 / 0.7, rtol=0.01)


def test_incident_heavy_and_calm_networks_differ_in_shared_incidents(worlds):
    def shared(name):
        faults = worlds[name].tables["tech_faults"]
        return faults["incident_id"].notna().sum() / len(worlds[name].oracle)

    assert shared("incident_heavy") > 2.5 * shared("default") > 2.5 * shared("calm_network")


def test_static_attributes_carry_no_cause_when_switched_off(worlds):
    """Leavers and stayers share the same mix of channels and payment methods."""
    data = worlds["no_static_causes"]
    customers = data.tables["customers"].set_index("customer_id")
    left = customers.index.isin(data.truth["customer_id"])
    for column in ("payment_method", "acquisition_channel"):
        rate = pd.Series(left).groupby(customers[column].to_numpy()).mean()
        assert rate.max() - rate.min() < 0.08, (column, rate)
    default = generate(N, seed=5).tables["customers"].set_index("customer_id")
    left_d = default.index.isin(generate(N, seed=5).truth["customer_id"])
    rate_d = pd.Series(left_d).groupby(default["payment_method"].to_numpy()).mean()
    assert rate_d.max() - rate_d.min() > 0.1


def test_base_churn_drifts_upward_in_the_drifting_world(worlds):
    o = worlds["seasonal_drift"].oracle
    by_month = o.groupby("as_of_date")["hazard_other"].mean()
    first, last = by_month.iloc[:6].mean(), by_month.iloc[-6:].mean()
    assert last > 1.3 * first


def test_known_changes_happen_on_their_dates_and_nothing_before_them_moves(worlds):
    """The incident wave, the plan's list-price rise and the stopped export each happen in their month; every row
    dated before the first shock is the default world's (ids aside: they are drawn after the last month)."""
    changed, plain = worlds["known_changes"], generate(N, seed=5)
    shocks = world_config("known_changes").shocks
    month = pd.date_range("2024-01-01", periods=25, freq="MS")
    wave, rise, stop = (month[shocks.incident_wave_month], month[shocks.plan_rise_month], month[shocks.feed_stop_month])
    def before(frame: pd.DataFrame, col: str) -> pd.DataFrame:
        rows = frame[frame[col] < wave].drop(columns="customer_id")
        return rows.sort_values(list(rows.columns), kind="stable", na_position="last").reset_index(drop=True)

    for name, frame in changed.tables.items():
        if name in ("subscriptions", "customers"):
            continue  # periods end in the months after; attributes carry no date
        col = "timestamp" if "timestamp" in frame else "month"
        pd.testing.assert_frame_equal(before(frame, col), before(plain.tables[name], col), obj=name)

    faults = changed.tables["tech_faults"]
    in_wave = faults[(faults["timestamp"] >= wave) & (faults["timestamp"] < month[shocks.incident_wave_month + 1])]
    region = SimulationConfig().regions[shocks.incident_wave_region]
    customers = changed.tables["customers"].set_index("customer_id")["region"]
    hit = in_wave[in_wave["incident_id"].notna()]
    by_incident = hit.groupby("incident_id")["customer_id"].nunique()
    wave_incidents = by_incident[by_incident > 0.6 * (customers == region).sum() * 0.5]
    assert len(wave_incidents) >= shocks.incident_wave_outages
    assert (customers.reindex(hit[hit["incident_id"].isin(wave_incidents.index)]["customer_id"]) == region).all()

    rises = changed.tables["price_changes"]
    day = rises[rises["timestamp"] == rise + pd.Timedelta(days=1)]
    size = day["new_price"] / day["old_price"] - 1
    assert len(day) > 50 and ((size - shocks.plan_rise_pct).abs() < 0.01).mean() > 0.95

    surveys = changed.tables["surveys"]
    assert (surveys["timestamp"] < stop).all() and (plain.tables["surveys"]["timestamp"] >= stop).any()
    assert (changed.tables["support_contacts"]["timestamp"] >= stop).any()  # the other logs go on
