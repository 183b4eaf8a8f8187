"""The stage functions behind the CLI: point in time at the level of the whole training result."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

import churnml
from churnml.config import parse_config
from churnml.dataset import Dataset
from churnml.synth import generate

T = pd.Timestamp("2025-04-01")


@pytest.mark.slow
def test_a_customer_first_known_after_t_changes_nothing_train_writes():
    tables = generate(900, seed=4, start="2024-01-01", months=16).tables
    cfg = parse_config({"model": {"max_rounds": 30, "num_threads": 1}, "tracking": {"enabled": False}})
    base = Dataset.from_frames(tables)
    later = dict(tables)
    subs = tables["subscriptions"]
    later["subscriptions"] = pd.concat([subs, subs.iloc[[0]].assign(customer_id="late-1", start_date=T + pd.Timedelta(days=1), end_date=pd.NaT)], ignore_index=True)
    later["customers"] = pd.concat([tables["customers"], tables["customers"].iloc[[0]].assign(customer_id="late-1")], ignore_index=True)
    a = churnml.train(base, T, cfg).bundle
    b = churnml.train(Dataset.from_frames(later), T, cfg).bundle
    assert a.meta["data_fingerprint"] == b.meta["data_fingerprint"]
    assert a.booster.model_to_string() == b.booster.model_to_string()


def test_every_public_name_resolves():
    import churnml

    for name in churnml.__all__:
        assert getattr(churnml, name) is not None, name
    assert set(churnml._STAGES) <= set(churnml.__all__)


@pytest.mark.slow
def test_training_before_an_imports_churners_are_labels_says_which_as_of_works():
    """An imported export records its churners after its reference date: training at that date has no churner,
    and the error names the as-of from which they are labels instead of a bare 'single class'."""
    import numpy as np

    from churnml import pipeline
    from churnml.errors import InputError
    from churnml.importers import SnapshotImportSpec, import_snapshot

    n = 200
    frame = pd.DataFrame({"id": [f"k{i}" for i in range(n)], "tenure": [str(1 + i % 40) for i in range(n)],
                          "churn": np.where(np.arange(n) % 3 == 0, "yes", "no")})
    spec = SnapshotImportSpec(id_column="id", tenure_column="tenure", churn_column="churn", reference_date="2024-06-30")
    dataset = import_snapshot(frame, spec).dataset
    cfg = parse_config({"snapshots": {"max_snapshots": 1, "validation_snapshots": 1}})
    with pytest.raises(InputError, match=r"end dates run to 2024-07-30.*train with --as-of 2024-10-28 or later"):
        pipeline.train(dataset, "2024-06-30", cfg, source="imp")


@pytest.fixture(scope="module")
def small_model():
    tables = generate(400, seed=4, start="2024-01-01", months=16).tables
    cfg = parse_config({"model": {"max_rounds": 20, "num_threads": 1}, "tracking": {"enabled": False},
                        "scoring": {"chunk_customers": 97}})
    dataset = Dataset.from_frames(tables)
    return dataset, churnml.train(dataset, T, cfg).bundle, cfg


@pytest.mark.slow
@pytest.mark.parametrize("flagging", [{"top_fraction": 1.0}, {"top_fraction": None, "probability_threshold": 1.0},
                                      {"top_fraction": 0.1}])
def test_the_scores_frame_is_in_rank_order_with_the_causes_on_the_flagged_rows(small_model, flagging):
    """The frame is assembled in rank order: ranks 1..n, probabilities falling, and each flagged row's cause,
    reasons and action are its own (the same customer explained alone gives the same cause)."""
    import numpy as np

    from churnml.schemas import OUTPUTS

    dataset, bundle, base = small_model
    cfg = base.model_copy(update={"flagging": base.flagging.model_copy(update=flagging)})
    s = churnml.score(dataset, T, bundle, cfg).scores
    assert list(s.columns) == OUTPUTS["scores"].columns
    assert s["risk_rank"].tolist() == list(range(1, len(s) + 1))
    assert (np.diff(s["churn_probability"].to_numpy()) <= 0).all()
    assert s["customer_id"].is_unique and len(s) > 100
    flagged = s[s["flagged"]]
    assert (flagged["primary_cause"].isin(["price", "service", "other"])).all()
    assert (s.loc[~s["flagged"], "primary_cause"] == "").all() and (s.loc[~s["flagged"], "recommended_action"] == "none").all()
    if len(flagged):
        some = flagged.iloc[:: max(1, len(flagged) // 40)].set_index("customer_id")
        summary = churnml.pipeline.explain(dataset, T, bundle, cfg, list(some.index)).summary.loc[some.index]
        assert (summary["primary_cause"] == some["primary_cause"]).all()
        for column in ("churn_probability", "cause_share", "price_share", "service_share", "other_share"):
            np.testing.assert_allclose(summary[column].to_numpy(dtype=float), some[column].to_numpy(dtype=float),
                                       rtol=0, atol=1e-12, err_msg=column)


def test_chunks_cut_as_slices_of_customer_ordered_tables_hold_the_rows_taken_from_shuffled_ones():
    """A table in customer order is cut into slices, any other order is taken row by row: every chunk holds the
    same rows either way (and the rows of chosen customers only, when asked for them)."""
    from churnml.pipeline import _InMemory
    from churnml.schemas import TABLES

    tables = generate(500, seed=4, start="2024-01-01", months=14).tables
    rng = np.random.default_rng(0)
    ordered = Dataset.from_frames({n: f.sort_values("customer_id", kind="stable") for n, f in tables.items() if n in TABLES})
    shuffled = Dataset.from_frames({n: f.iloc[rng.permutation(len(f))] for n, f in tables.items() if n in TABLES})
    sliced, taken = _InMemory(ordered, T, 70), _InMemory(shuffled, T, 70)
    assert sliced.n == taken.n > 3
    assert {n for n, f in ordered.items() if len(f)} <= set(sliced._bounds) and not taken._bounds
    some = pd.Index(ordered.customer_ids[::7])

    def rows(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)

    for k in sliced.keys:
        for a, b in [(sliced.load(k), taken.load(k)), (sliced.load(k, customers=some), taken.load(k, customers=some))]:
            for name, frame in a.items():
                pd.testing.assert_frame_equal(rows(frame), rows(b.table(name)))
    for name, frame in ordered.items():  # every row lands in exactly one chunk
        assert sum(len(sliced.load(k, point_in_time=False).table(name)) for k in sliced.keys) == len(frame)


@pytest.mark.parametrize("present", [None, ("subscriptions",), ("subscriptions", "customers", "usage")])
def test_chunks_placed_by_validations_codes_equal_chunks_placed_by_hashing_the_ids(tmp_path, present):
    """Validation leaves each table's ids as codes; chunks placed by them hold the same rows as by the ids, with
    every table given or only some (the absent ones are empty tables without codes)."""
    import pickle

    from churnml import io
    from churnml.pipeline import _InMemory

    tables = generate(400, seed=3, start="2024-01-01", months=14).tables
    for name, frame in tables.items():
        if present is None or name in present:
            io.write_table(frame, tmp_path, name, "parquet")
    validated = io.load_dataset(tmp_path).accepted
    assert validated.customer_codes is not None
    plain = pickle.loads(pickle.dumps(validated))  # a copy sent to another process keeps no codes
    assert plain.customer_codes is None
    by_codes, by_ids = _InMemory(validated, T, 90), _InMemory(plain, T, 90)
    for name, _ in plain.items():
        assert (by_codes._positions(name) == by_ids._positions(name)).all(), name
    for k in by_ids.keys:
        a, b = by_codes.load(k), by_ids.load(k)
        for name, frame in b.items():
            pd.testing.assert_frame_equal(a.table(name), frame)


def _scored(dataset, as_of, bundle, cfg, previous=None):
    return churnml.pipeline.score_and_keep(dataset, as_of, bundle, cfg, previous=previous)


@pytest.mark.slow
def test_a_score_beside_the_previous_run_splits_each_flagged_change_by_family_exactly(small_model):
    """Same model: the families' change in summed contributions is the change in log-odds, customer by customer;
    every customer gets the previous probability, and each flagged customer the previous run knew a change cause."""
    import numpy as np

    dataset, bundle, base = small_model
    cfg = base.model_copy(update={"flagging": base.flagging.model_copy(update={"top_fraction": 0.3})})
    first, past = _scored(dataset, T - pd.DateOffset(months=1), bundle, cfg)
    second, _ = _scored(dataset, T, bundle, cfg, previous=past)
    s, before = second.scores.set_index("customer_id"), first.history.set_index("customer_id")
    both = s.index.intersection(before.index)
    assert len(both) > 100
    np.testing.assert_allclose(s.loc[both, "previous_probability"], before.loc[both, "churn_probability"], atol=0, rtol=0)
    np.testing.assert_allclose(s.loc[both, "risk_change"], s.loc[both, "churn_probability"] - before.loc[both, "churn_probability"])

    h = second.history.set_index("customer_id")
    changed = h[h["change_price_part"].notna()]
    assert len(changed) > 20
    parts = changed[["change_price_part", "change_service_part", "change_other_part"]].sum(axis=1)
    total = changed["log_odds"] - before.loc[changed.index, "log_odds"]
    np.testing.assert_allclose(parts + changed["change_model_part"], total, atol=1e-9)
    assert (changed["change_model_part"] == 0).all()  # the same model both nights
    flagged = s[s["flagged"]]
    known = flagged.index.isin(before.index)
    # Every value in the same leaves both nights: no change to explain.
    moved = known & (h.loc[flagged.index, "log_odds"].to_numpy() != before["log_odds"].reindex(flagged.index).to_numpy())
    assert flagged.loc[moved, "change_cause"].isin(["price", "service", "other"]).all() and moved.sum() > 20
    assert (flagged.loc[known & ~moved, "change_cause"] == "").all()
    assert (flagged.loc[~known, "change_cause"] == "").all() and (s.loc[~s["flagged"], "change_cause"] == "").all()
    assert second.monitoring["transitions"]["newly_flagged"] + second.monitoring["transitions"]["still_flagged"] == len(flagged)


@pytest.mark.slow
def test_with_another_model_the_change_keeps_a_model_term_and_still_adds_up(small_model):
    import numpy as np

    dataset, bundle, base = small_model
    cfg = base.model_copy(update={"flagging": base.flagging.model_copy(update={"top_fraction": 0.3})})
    other = churnml.train(dataset, T - pd.DateOffset(months=1), cfg.model_copy(update={"model": cfg.model.model_copy(update={"seed": 7})})).bundle
    assert other.version != bundle.version
    first, past = _scored(dataset, T - pd.DateOffset(months=1), other, cfg)
    second, _ = _scored(dataset, T, bundle, cfg, previous=past)
    h, before = second.history.set_index("customer_id"), first.history.set_index("customer_id")
    changed = h[h["change_price_part"].notna()]
    assert len(changed) > 20 and (changed["change_model_part"] != 0).any()
    parts = changed[["change_price_part", "change_service_part", "change_other_part", "change_model_part"]].sum(axis=1)
    np.testing.assert_allclose(parts, changed["log_odds"] - before.loc[changed.index, "log_odds"], atol=1e-6)


def test_backtest_counts_outcomes_only_once_horizon_and_grace_have_passed():
    """A churn inside the horizon is an outcome; one after it is not; a run matures on T + H + G exactly."""
    import numpy as np

    from churnml import pipeline
    from churnml.config import ChurnConfig

    cfg = ChurnConfig()
    h, g = cfg.labels.horizon_days, cfg.labels.grace_days
    t = pd.Timestamp("2025-01-01")
    day = pd.Timedelta(days=1)
    subs = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "start_date": pd.to_datetime(["2024-01-01"] * 4),
        "end_date": [t + 10 * day, t + (h + 5) * day, pd.NaT, t + h * day],  # in, after, never, on the last day
        "plan": "x", "monthly_price": 10.0,
    })
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "churn_probability": [0.9, 0.2, 0.1, 0.6],
                              "flagged": [True, False, False, True]})
    run = {"as_of": "2025-01-01", "horizon_days": h, "grace_days": g, "expected": {"expected_roc_auc": 0.8}}
    on_time = pipeline.backtest(subs, [(run, customers)], t + (h + g) * day, cfg)
    early = pipeline.backtest(subs, [(run, customers)], t + (h + g - 1) * day, cfg)
    assert bool(on_time.loc[0, "matured"]) and not bool(early.loc[0, "matured"]) and np.isnan(early.loc[0, "roc_auc"])
    assert on_time.loc[0, "observed_churn_rate"] == 0.5  # a and d left within the horizon, b after it, c never
    assert on_time.loc[0, "roc_auc"] == 1.0 and on_time.loc[0, "precision_flagged"] == 1.0


@pytest.mark.slow
def test_a_previous_run_of_other_features_gives_probabilities_but_no_change_split(small_model):
    """A model retrained on another feature set: the previous vectors cannot be scored by today's model, so the
    change columns stay empty instead of failing the run."""
    dataset, bundle, base = small_model
    cfg = base.model_copy(update={"flagging": base.flagging.model_copy(update={"top_fraction": 0.3})})
    _, past = _scored(dataset, T - pd.DateOffset(months=1), bundle, cfg)
    past = dataclasses.replace(past, vectors=past.vectors.drop(columns=[bundle.feature_names[0]]))
    second, _ = _scored(dataset, T, bundle, cfg, previous=past)
    s = second.scores
    assert s["previous_probability"].notna().mean() > 0.9 and (s["change_cause"] == "").all()


@pytest.mark.slow
@pytest.mark.parametrize("learner", ["cause", "t_learner"])
def test_flagging_by_uplift_fills_the_risk_capacity_with_those_the_learned_action_saves_most(tmp_path, learner):
    """train learns each recorded action's effect into the bundle; score with flagging.strategy uplift flags at most
    as many as by risk, the largest expected uplifts, each with the action that saves them most; the bundle keeps
    the model through files; by risk the column stays empty."""
    from churnml import io
    from churnml.synth import world_config

    dataset = Dataset.from_frames(generate(3000, seed=3, config=world_config("treatments")).tables)
    cfg = parse_config({"model": {"max_rounds": 40, "num_threads": 1}, "tracking": {"enabled": False}, "uplift": {"learner": learner}})
    t = pd.Timestamp("2025-06-01")
    training = churnml.train(dataset, t, cfg)
    bundle = training.bundle
    learned = bundle.meta["uplift"]["actions"]
    assert bundle.meta["uplift"]["learner"] == learner
    logged = training.result.metrics["uplift"]  # what MLflow gets
    assert logged["treated"] == bundle.meta["uplift"]["treated"]
    assert ("share" in logged) == (learner == "cause") and logged.get("share", {}) == bundle.meta["uplift"].get("theta", {})
    assert learned == ["retention_offer", "senior_manager_call"] and bundle.meta["uplift"]["costs"]["retention_offer"] == 40.0
    risk_run = churnml.pipeline.score(dataset, t, bundle, cfg)
    by_risk = risk_run.scores
    # flagged by risk, the expected uplift is shown beside it (uplift.shadow) and changes nothing else
    no_shadow = cfg.model_copy(update={"uplift": cfg.uplift.model_copy(update={"shadow": False})})
    plain = churnml.pipeline.score(dataset, t, bundle, no_shadow)
    assert plain.scores["expected_uplift"].isna().all() and by_risk["expected_uplift"].notna().all()
    pd.testing.assert_frame_equal(by_risk.drop(columns="expected_uplift"), plain.scores.drop(columns="expected_uplift"))
    assert "expected_saved" not in risk_run.counts() and risk_run.counts() == plain.counts()
    assert np.allclose(risk_run.history.set_index("customer_id")["expected_uplift"].reindex(by_risk["customer_id"]),
                       by_risk["expected_uplift"])

    # an unusable uplift model fails no run flagged by risk (it is only shown), and refuses one flagged by uplift
    from churnml.errors import ModelError

    broken = dataclasses.replace(bundle, meta={**bundle.meta, "uplift": {**bundle.meta["uplift"], "learner": "unknown"}})
    assert churnml.pipeline.score(dataset, t, broken, cfg).scores["expected_uplift"].isna().all()
    with pytest.raises(ModelError, match="uplift model .* is unusable"):
        churnml.pipeline.score(dataset, t, broken, cfg.model_copy(update={"flagging": cfg.flagging.model_copy(update={"strategy": "uplift"})}))

    io.write_bundle(bundle, tmp_path)
    again = io.read_bundle(tmp_path / "latest")
    uplift_cfg = cfg.model_copy(update={"flagging": cfg.flagging.model_copy(update={"strategy": "uplift"})})
    result = churnml.pipeline.score(dataset, t, again, uplift_cfg)
    s = result.scores
    pd.testing.assert_frame_equal(s, churnml.pipeline.score(dataset, t, bundle, uplift_cfg).scores)
    flagged = s[s["flagged"]]
    assert result.counts()["expected_saved"] == round(float(flagged["expected_uplift"].sum()), 2)
    assert 0.5 * by_risk["flagged"].sum() < len(flagged) <= by_risk["flagged"].sum()
    assert (flagged["expected_uplift"] > 0).all() and flagged["recommended_action"].isin(learned).all()
    assert flagged["expected_uplift"].min() >= s.loc[~s["flagged"], "expected_uplift"].max()
    assert s["expected_uplift"].notna().all()

    # a saved customer worth 50 years of margin: some are worth their remedy's cost, the rest are not flagged
    value_cfg = cfg.model_copy(update={"flagging": cfg.flagging.model_copy(update={"strategy": "value"}),
                                       "uplift": cfg.uplift.model_copy(update={"expected_months": 600})})
    v = churnml.pipeline.score(dataset, t, bundle, value_cfg).scores
    assert 0 < v["flagged"].sum() <= by_risk["flagged"].sum()


@pytest.mark.slow
def test_flagging_by_uplift_without_recorded_actions_says_what_is_missing(small_model):
    from churnml.errors import ModelError

    dataset, bundle, cfg = small_model
    assert bundle.meta["uplift"] == {"not_trained": "no retention_actions recorded"}
    uplift_cfg = cfg.model_copy(update={"flagging": cfg.flagging.model_copy(update={"strategy": "uplift"})})
    with pytest.raises(ModelError, match="no uplift model .*no retention_actions recorded.*strategy: risk"):
        churnml.pipeline.score(dataset, T, bundle, uplift_cfg)
