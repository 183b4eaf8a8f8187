"""The synthetic generator: canonical tables, a consistent truth, and churn that follows its mechanisms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.metrics import roc_auc_score

from churnml.schemas import ID_DTYPE, TABLES, Kind, check_canonical
from churnml.synth import SimulationConfig, SyntheticData, generate

N = 5000
GRACE = pd.Timedelta(days=30)
HORIZON = pd.Timedelta(days=60)
EVENT_TIME = {"support_contacts": "timestamp", "complaints": "timestamp", "price_changes": "timestamp",
              "tech_faults": "timestamp", "surveys": "timestamp"}


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate(N, seed=7)


@pytest.fixture(scope="module")
def labelled(data: SyntheticData) -> pd.DataFrame:
    """Oracle rows with the realised contract label: the next churn date falls in (T, T + 60d]."""
    oracle = data.oracle.sort_values("as_of_date")
    truth = data.truth.sort_values("churn_date")
    nxt = pd.merge_asof(
        oracle, truth[["customer_id", "churn_date"]], left_on="as_of_date", right_on="churn_date",
        by="customer_id", direction="forward", allow_exact_matches=False,
    )
    nxt["label"] = nxt["churn_date"] <= nxt["as_of_date"] + HORIZON
    return nxt[nxt["as_of_date"] + HORIZON <= data.end]


def _monthly_churn(data: SyntheticData) -> pd.Series:
    active = data.oracle.groupby("as_of_date").size()
    churned = data.truth.groupby(data.truth["churn_date"].dt.to_period("M").dt.start_time).size()
    return churned.reindex(active.index, fill_value=0) / active


def _periods(data: SyntheticData) -> pd.DataFrame:
    subs = data.tables["subscriptions"].sort_values(["customer_id", "start_date"]).reset_index(drop=True)
    subs["next_start"] = subs.groupby("customer_id")["start_date"].shift(-1)
    return subs


def test_same_seed_same_frames_and_other_seed_differs():
    a, b, c = generate(800, seed=3), generate(800, seed=3), generate(800, seed=4)
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pd.testing.assert_frame_equal(a.truth, b.truth)
    pd.testing.assert_frame_equal(a.oracle, b.oracle)
    assert not a.tables["subscriptions"].equals(c.tables["subscriptions"])
    assert not a.tables["support_contacts"].equals(c.tables["support_contacts"])


def test_every_table_is_canonical_with_contract_columns(data: SyntheticData):
    assert list(data.tables) == list(TABLES)
    for name, frame in data.tables.items():
        spec = TABLES[name]
        # The default world applies no remedy, so the CRM's log of actions is empty (but canonical).
        assert (len(frame) == 0) == (name == "retention_actions"), name
        if name == "customers":
            assert frame.columns[0] == "customer_id" and frame["customer_id"].is_unique and len(frame) == N
            assert {"region", "acquisition_channel", "payment_method", "age", "household_size"} <= set(frame.columns)
            assert frame["age"].dtype == "float64" and frame["region"].dtype == ID_DTYPE
        else:
            assert list(frame.columns) == spec.column_names, name
        check_canonical(frame, name)
        for col in spec.columns:
            if col.name not in frame:
                continue
            s = frame[col.name]
            assert str(s.dtype) == col.dtype, (name, col.name, s.dtype)
            if col.kind in (Kind.DATE, Kind.TIMESTAMP, Kind.MONTH):
                assert s.dt.tz is None
            if not col.nullable:
                assert s.notna().all(), (name, col.name)
            values = s.dropna()
            if col.ge is not None:
                assert (values >= col.ge).all(), (name, col.name)
            if col.gt is not None:
                assert (values > col.gt).all(), (name, col.name)
            if col.le is not None:
                assert (values <= col.le).all(), (name, col.name)
            if col.allowed is not None:
                assert set(values) <= set(col.allowed), (name, col.name)
    for frame, cols in ((data.truth, ["customer_id", "churn_date", "cause", "churn_probability", "return_propensity", "return_date"]),
                        (data.oracle, ["customer_id", "as_of_date", "oracle_probability", "hazard_other",
                                       "hazard_price", "hazard_service", "oracle_cause"])):
        assert list(frame.columns) == cols
        assert frame["customer_id"].dtype == ID_DTYPE


def test_ids_are_zero_padded_strings_and_values_have_their_conventions(data: SyntheticData):
    ids = data.tables["customers"]["customer_id"]
    assert ids.str.fullmatch(r"\d{8}").all() and ids.str.startswith("0").any()
    subs = data.tables["subscriptions"]
    assert subs["end_date"].isna().any() and subs["end_date"].notna().any()
    for col in ("start_date", "end_date"):
        assert (subs[col].dropna() == subs[col].dropna().dt.normalize()).all()
    usage = data.tables["usage"]
    assert (usage["month"].dt.day == 1).all() and (usage["month"] == usage["month"].dt.normalize()).all()
    assert usage["allowance"].isna().any() and (usage["used"] > usage["allowance"]).any()
    assert (usage["used"] < usage["allowance"] / 2).any()  # paying for unused allowance
    contacts = data.tables["support_contacts"]
    assert (contacts["timestamp"] != contacts["timestamp"].dt.normalize()).mean() > 0.9  # times within days
    assert data.tables["price_changes"]["notice_days"].isna().any()
    assert data.tables["tech_faults"]["incident_id"].isna().any()
    assert set(data.truth["cause"]) == {"price", "service", "other"}


def test_monthly_churn_rate_is_plausible(data: SyntheticData):
    rate = _monthly_churn(data)
    assert 0.015 <= rate.mean() <= 0.035
    assert rate.between(0.008, 0.05).all()


def test_price_and_service_are_both_material_causes(data: SyntheticData):
    shares = data.truth["cause"].value_counts(normalize=True)
    assert 0.2 <= shares["price"] <= 0.5
    assert 0.2 <= shares["service"] <= 0.5
    assert shares["other"] >= 0.1


def test_planted_causes_follow_their_mechanisms(data: SyntheticData):
    """Price churners saw more price rises, service churners more long waits, in the 90 days before churn."""
    truth = data.truth.reset_index(drop=True)

    def count_before(events: pd.DataFrame) -> pd.Series:
        joined = truth.reset_index().merge(events[["customer_id", "timestamp"]], on="customer_id")
        window = (joined["timestamp"] < joined["churn_date"]) & (
            joined["timestamp"] >= joined["churn_date"] - pd.Timedelta(days=90)
        )
        return joined[window].groupby("index").size().reindex(truth.index, fill_value=0)

    changes = data.tables["price_changes"]
    rises = count_before(changes[changes["new_price"] > changes["old_price"]])
    contacts = data.tables["support_contacts"]
    waits = count_before(contacts[contacts["wait_minutes"] > 20])
    by_cause = pd.DataFrame({"rises": rises, "waits": waits, "cause": truth["cause"]}).groupby("cause").mean()
    assert by_cause.loc["price", "rises"] > 2 * by_cause.loc["other", "rises"]
    assert by_cause.loc["service", "waits"] > 2 * by_cause.loc["other", "waits"]


def test_who_the_customer_is_and_what_they_ask_reveal_the_cause(data: SyntheticData):
    """Sensitivities lean on the static attributes and leave traces in the logs, as in real portfolios: invoice
    payers leave over price more than direct-debit payers, store customers over service more than online ones, and
    price churners asked about their bill more than other churners in the 90 days before leaving."""
    truth = data.truth.reset_index(drop=True)
    who = truth.merge(data.tables["customers"], on="customer_id", how="left")
    by_payment = pd.crosstab(who["payment_method"], who["cause"], normalize="index")
    assert by_payment.loc["invoice", "price"] > 1.5 * by_payment.loc["direct_debit", "price"]
    by_channel = pd.crosstab(who["acquisition_channel"], who["cause"], normalize="index")
    assert by_channel.loc["store", "service"] > 1.5 * by_channel.loc["online", "service"]
    contacts = data.tables["support_contacts"]
    billing = contacts.loc[contacts["topic"] == "billing", ["customer_id", "timestamp"]]
    joined = truth.reset_index().merge(billing, on="customer_id")
    window = (joined["timestamp"] < joined["churn_date"]) & (
        joined["timestamp"] >= joined["churn_date"] - pd.Timedelta(days=90)
    )
    asked = joined[window].groupby("index").size().reindex(truth.index, fill_value=0)
    per_cause = asked.groupby(truth["cause"]).mean()
    assert per_cause["price"] > 2 * per_cause["other"]


def test_service_leads_among_long_standing_leavers(data: SyntheticData):
    """The domain: long-standing customers who leave mostly leave over service, new ones mostly for other reasons."""
    subs = data.tables["subscriptions"]
    ended = data.truth.merge(subs, left_on=["customer_id", "churn_date"], right_on=["customer_id", "end_date"])
    assert len(ended) == len(data.truth)  # every churn closes a period
    run_years = (ended["churn_date"] - ended["start_date"]).dt.days / 365.25
    veterans = ended.loc[run_years >= 4, "cause"].value_counts(normalize=True)
    newcomers = ended.loc[run_years < 0.25, "cause"].value_counts(normalize=True)
    assert veterans["service"] > 0.5 and veterans["service"] > 2 * veterans["price"]
    assert newcomers.idxmax() == "other"


def test_won_back_customers_exist(data: SyntheticData):
    subs = _periods(data)
    in_window = subs[subs["end_date"].notna() & (subs["end_date"] >= data.start)]
    share = in_window["next_start"].notna().mean()
    assert 0.1 <= share <= 0.4
    returned = subs[subs["next_start"].notna() & (subs["next_start"] >= data.start)]
    assert len(returned) > 0


def test_truth_is_consistent_with_subscriptions(data: SyntheticData):
    subs = _periods(data)
    ended = subs[subs["end_date"].notna() & (subs["end_date"] >= data.start)]
    assert (ended["next_start"].isna() | (ended["next_start"] - ended["end_date"] > GRACE)).all()
    from_subs = set(zip(ended["customer_id"], ended["end_date"]))
    from_truth = set(zip(data.truth["customer_id"], data.truth["churn_date"]))
    assert from_subs == from_truth and len(from_truth) == len(data.truth)
    # The recorded probability is the oracle's on the first day of the churn month.
    month = data.truth["churn_date"].dt.to_period("M").dt.start_time
    joined = data.truth.assign(as_of_date=month).merge(data.oracle, on=["customer_id", "as_of_date"], how="left")
    np.testing.assert_allclose(joined["churn_probability"], joined["oracle_probability"])


def test_periods_never_overlap(data: SyntheticData):
    subs = _periods(data)
    assert (subs["end_date"].isna() | (subs["end_date"] > subs["start_date"])).all()
    followed = subs[subs["next_start"].notna()]
    assert followed["end_date"].notna().all()
    assert (followed["next_start"] > followed["end_date"]).all()


def test_events_happen_only_while_the_customer_is_active(data: SyntheticData):
    subs = data.tables["subscriptions"].sort_values("start_date")
    for name, col in EVENT_TIME.items():
        events = data.tables[name].sort_values(col)
        hit = pd.merge_asof(events, subs[["customer_id", "start_date", "end_date"]], left_on=col,
                            right_on="start_date", by="customer_id", direction="backward")
        inside = hit["start_date"].notna() & (hit["end_date"].isna() | (hit[col] < hit["end_date"]))
        assert inside.all(), f"{name}: {int((~inside).sum())} rows outside any active period"
    # A usage month must overlap an active period.
    usage = data.tables["usage"].sort_values("month")
    month_end = usage["month"] + pd.offsets.MonthBegin(1)
    hit = pd.merge_asof(usage.assign(month_end=month_end - pd.Timedelta(seconds=1)),
                        subs[["customer_id", "start_date", "end_date"]], left_on="month_end",
                        right_on="start_date", by="customer_id", direction="backward")
    assert (hit["end_date"].isna() | (hit["end_date"] > hit["month"])).all()


def test_nothing_is_dated_at_or_after_end(data: SyntheticData):
    for name, frame in data.tables.items():
        for col in TABLES[name].columns:
            if col.kind in (Kind.DATE, Kind.TIMESTAMP, Kind.MONTH):
                assert (frame[col.name].dropna() < data.end).all(), (name, col.name)
    assert (data.truth["churn_date"] < data.end).all() and (data.truth["churn_date"] >= data.start).all()
    assert data.end == data.start + pd.DateOffset(months=24)


def test_lifecycle_has_new_customers_all_along(data: SyntheticData):
    subs = data.tables["subscriptions"]
    for t in pd.date_range(data.start + pd.DateOffset(months=3), data.end, freq="6MS", inclusive="left"):
        active = (subs["start_date"] <= t) & (subs["end_date"].isna() | (subs["end_date"] > t))
        assert (active & (subs["start_date"] > t - pd.Timedelta(days=90))).sum() > 0.02 * active.sum()
    tenure = (data.start - subs.loc[subs["start_date"] < data.start, "start_date"]).dt.days
    assert tenure.max() > 4 * 365 and tenure.min() < 180


def test_waits_are_heavy_tailed_and_explode_after_incidents(data: SyntheticData):
    contacts = data.tables["support_contacts"]
    waits = contacts["wait_minutes"]
    assert waits.median() < 15 and waits.quantile(0.99) / waits.median() > 20
    faults = data.tables["tech_faults"].dropna(subset=["incident_id"])
    regions = data.tables["customers"].set_index("customer_id")["region"]
    incidents = faults.assign(region=faults["customer_id"].map(regions)).groupby("incident_id").agg(
        start=("timestamp", "min"), region=("region", "first")
    )
    c = contacts.assign(region=contacts["customer_id"].map(regions))
    after = [
        (c["region"] == inc.region) & (c["timestamp"] >= inc.start) & (c["timestamp"] < inc.start + pd.Timedelta(days=3))
        for inc in incidents.itertuples()
    ]
    surge = c[np.logical_or.reduce(after)]
    assert surge["wait_minutes"].median() > 2 * waits.median()
    assert (~surge["resolved"]).mean() > (~contacts["resolved"]).mean()


def test_shared_incidents_hit_many_customers_of_one_region(data: SyntheticData):
    faults = data.tables["tech_faults"].dropna(subset=["incident_id"])
    assert faults["incident_id"].str.fullmatch(r"INC-\d{4}-\d{2}-\d+").all()
    sizes = faults.groupby("incident_id")["customer_id"].nunique()
    assert sizes.max() >= 20 and len(sizes) >= 3
    regions = data.tables["customers"].set_index("customer_id")["region"]
    per_incident = faults.assign(region=faults["customer_id"].map(regions)).groupby("incident_id")["region"]
    assert (per_incident.nunique() == 1).all()
    spread = faults.groupby("incident_id")["timestamp"].agg(lambda s: s.max() - s.min())
    assert (spread <= pd.Timedelta(hours=3)).all()


def test_price_history_is_consistent_and_loyal_customers_pay_more(data: SyntheticData):
    subs = data.tables["subscriptions"].sort_values("start_date")
    changes = data.tables["price_changes"].sort_values("timestamp")
    hit = pd.merge_asof(changes, subs, left_on="timestamp", right_on="start_date", by="customer_id")
    hit = hit.sort_values(["customer_id", "timestamp"])
    same_period = hit["start_date"].eq(hit.groupby("customer_id")["start_date"].shift())
    prev_new = hit.groupby("customer_id")["new_price"].shift()
    assert np.allclose(hit.loc[same_period, "old_price"], prev_new[same_period])
    # monthly_price is the price a period started at (never a later one: that would leak future rises).
    first = hit.groupby(["customer_id", "start_date"]).head(1)
    assert np.allclose(first["old_price"], first["monthly_price"])
    assert (changes["new_price"] > changes["old_price"]).mean() > 0.8
    open_ = subs[subs["end_date"].isna()].set_index(["customer_id", "start_date"])
    current = open_["monthly_price"].copy()
    last_new = hit.groupby(["customer_id", "start_date"])["new_price"].last()
    current.loc[last_new.index.intersection(current.index)] = last_new
    open_ = open_.assign(current_price=current).reset_index()
    loyal = open_[open_["start_date"] < data.start - pd.DateOffset(years=3)]
    recent = open_[open_["start_date"] >= data.end - pd.DateOffset(months=6)]
    by_plan = pd.DataFrame({"loyal": loyal.groupby("plan")["current_price"].median(),
                            "recent": recent.groupby("plan")["current_price"].median()}).dropna()
    assert (by_plan["loyal"] > by_plan["recent"]).all()


def test_oracle_covers_active_customers_and_ranks_realised_churn(data: SyntheticData, labelled: pd.DataFrame):
    p = data.oracle["oracle_probability"]
    assert p.between(0, 1).all()
    subs = data.tables["subscriptions"]
    for t in (data.start, data.start + pd.DateOffset(months=11), data.end - pd.DateOffset(months=1)):
        active = subs[(subs["start_date"] <= t) & (subs["end_date"].isna() | (subs["end_date"] > t))]["customer_id"]
        scored = data.oracle.loc[data.oracle["as_of_date"] == t, "customer_id"]
        assert set(active) == set(scored) and scored.is_unique
    auc = roc_auc_score(labelled["label"], labelled["oracle_probability"])
    assert auc > 0.7
    rates = labelled.groupby(pd.qcut(labelled["oracle_probability"], 5, labels=False))["label"].mean()
    assert rates.is_monotonic_increasing


def test_generate_refuses_bad_arguments():
    with pytest.raises(ValueError):
        generate(10, start="2024-01-15")
    with pytest.raises(ValueError):
        generate(0)
    with pytest.raises(ValidationError):
        SimulationConfig(no_such_knob=1)
    with pytest.raises(ValidationError):
        SimulationConfig(winback_min_days=20)


def test_config_knobs_move_the_marginals():
    knobs = SimulationConfig(
        incident_probability=0.0, annual_rise_probability=0.0, individual_rise_rate=0.0, price_cut_rate=0.0
    )
    calm = generate(3000, seed=1, months=12, config=knobs)
    assert calm.tables["tech_faults"]["incident_id"].isna().all()
    assert len(calm.tables["price_changes"]) == 0
    assert list(calm.tables["price_changes"].columns) == TABLES["price_changes"].column_names
    assert calm.end == pd.Timestamp("2025-01-01")


def test_returns_follow_the_recorded_propensity(data: SyntheticData):
    """Win-back truth: every recorded return starts a period on its date, after the grace period, and returns are
    more frequent where the recorded propensity is higher."""
    truth = data.truth
    back = truth[truth["return_date"].notna() & (truth["return_date"] < data.end)]
    starts = data.tables["subscriptions"][["customer_id", "start_date"]]
    joined = back.merge(starts, left_on=["customer_id", "return_date"], right_on=["customer_id", "start_date"], how="left")
    assert joined["start_date"].notna().all()
    assert ((back["return_date"] - back["churn_date"]).dt.days > 30).all()
    assert truth["return_propensity"].between(0, 1).all()
    high = truth["return_propensity"] >= truth["return_propensity"].median()
    returned = truth["return_date"].notna()
    assert returned[high].mean() > 1.5 * returned[~high].mean()
