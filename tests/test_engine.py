"""Engines run a stage's per-bucket work in this process or on Dask workers with the same result."""

import pickle

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from churnml import io, pipeline
from churnml.config import ChurnConfig
from churnml.dataset import Dataset
from churnml.engine import EngineError, LocalEngine, engine
from churnml.errors import ExitCode, InputError
from churnml.synth import generate
from churnml.validation import validate_dataset

T = pd.Timestamp("2024-11-01")


@pytest.fixture(scope="module")
def dataset():
    return Dataset.from_frames(generate(1200, seed=11, months=12).tables)


@pytest.fixture(scope="module")
def parts(dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("engine") / "parts"
    io.write_partitioned(dataset, folder, 5)
    return io.open_partitioned(folder)


@pytest.mark.parametrize(("kind", "scheduler", "says"), [
    ("local", "local:2", "--scheduler is for --engine dask"),
    ("dask", None, "needs --scheduler"),
    ("dask", "local:0", "from 1 to 256"),
    ("dask", "local:two", "from 1 to 256"),
    ("spark", None, "unknown engine"),
])
def test_engine_options_a_run_cannot_use_are_usage_errors(kind, scheduler, says):
    with pytest.raises(EngineError, match=says) as caught, engine(kind, scheduler):
        pass
    assert caught.value.exit_code == ExitCode.USAGE


def test_a_cluster_engine_refuses_a_dataset_held_in_memory(dataset):
    class _Cluster(LocalEngine):
        name = "dask"

    with pytest.raises(EngineError, match="churnml partition"):
        pipeline.build_features(dataset, T, ChurnConfig(), engine=_Cluster())


def test_an_input_error_raised_on_a_worker_crosses_intact():
    error = pickle.loads(pickle.dumps(InputError(["a.csv: first problem", "b.csv: second"])))
    assert error.problems == ["a.csv: first problem", "b.csv: second"]


def test_bucket_by_bucket_features_and_scores_equal_one_pass_in_memory(dataset, parts):
    cfg = ChurnConfig()
    whole = pipeline.build_features(dataset, T, cfg)
    assert len(whole) > 500
    pd.testing.assert_frame_equal(pipeline.build_features(parts, T, cfg), whole)
    engine_ = LocalEngine()
    pipeline.build_features(parts, T, cfg, engine=engine_)
    assert engine_.tasks == 2 * len(parts.buckets)  # the context pass, then the features pass


def _break(folder, table, bucket, column, value, row=0):
    """Overwrite one value of one part file, as a hand-edited export would."""
    path = folder / table / f"customer_bucket={bucket}" / "part-0.parquet"
    frame = pq.read_table(path).to_pandas()
    frame.loc[row, column] = value
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def test_validating_bucket_by_bucket_gives_the_whole_reads_rejects_and_lines(dataset, tmp_path):
    folder = tmp_path / "parts"
    io.write_partitioned(dataset, folder, 4)
    _break(folder, "subscriptions", 2, "monthly_price", -5.0)
    _break(folder, "support_contacts", 3, "wait_minutes", -3.0, row=4)
    _break(folder, "usage", 1, "customer_id", "nobody")
    whole = validate_dataset(io.read_raw_tables(folder))
    split = pipeline.validate(io.open_partitioned(folder), engine=LocalEngine())
    assert split.dataset is None and whole.total_rejected >= 3
    assert {k: vars(r) for k, r in split.reports.items()} == {k: vars(r) for k, r in whole.reports.items()}
    for name in whole.rejects:
        pd.testing.assert_frame_equal(split.rejects[name], whole.rejects[name], check_dtype=False)


def test_buckets_that_read_an_attribute_differently_are_refused(dataset, tmp_path):
    folder = tmp_path / "parts"
    io.write_partitioned(dataset, folder, 3)
    path = folder / "customers" / "customer_bucket=1" / "part-0.parquet"
    frame = pq.read_table(path).to_pandas()
    numeric = next(c for c in frame.columns if c != "customer_id" and pd.api.types.is_numeric_dtype(frame[c]))
    for k in (0, 2):  # the column is text in two buckets and numbers in the third
        other = folder / "customers" / f"customer_bucket={k}" / "part-0.parquet"
        f = pq.read_table(other).to_pandas()
        f[numeric] = "level " + f[numeric].astype(str)
        pq.write_table(pa.Table.from_pandas(f, preserve_index=False), other)
    pq.write_table(pa.Table.from_pandas(frame.assign(**{numeric: frame[numeric].astype(str)}), preserve_index=False), path)
    with pytest.raises(InputError, match=f"{numeric}.*rewrite the dataset with churnml partition"):
        pipeline.build_features(io.open_partitioned(folder), T, ChurnConfig())


@pytest.mark.slow
def test_a_local_cluster_gives_the_in_process_frames(dataset, parts):
    cfg = ChurnConfig()
    with engine("dask", "local:2") as cluster:
        features = pipeline.build_features(parts, T, cfg, engine=cluster)
        summary = cluster.summary()
    pd.testing.assert_frame_equal(features, pipeline.build_features(parts, T, cfg))
    assert summary["workers"] == 2 and summary["tasks"] == 2 * len(parts.buckets)


def test_reading_some_customers_of_a_bucket_keeps_their_rows_lines_and_reasons(dataset, tmp_path):
    folder = tmp_path / "parts"
    io.write_partitioned(dataset, folder, 2)
    _break(folder, "support_contacts", 1, "wait_minutes", -3.0, row=7)
    handle = io.open_partitioned(folder)
    whole = validate_dataset(handle.read_bucket(1), part=True)
    bad = whole.rejects["support_contacts"]
    chosen = [bad["customer_id"].iloc[0], *whole.dataset.subscriptions["customer_id"].drop_duplicates().iloc[:5]]
    some = validate_dataset(handle.read_bucket(1, chosen), part=True)
    pd.testing.assert_frame_equal(some.rejects["support_contacts"], bad[bad["customer_id"].isin(chosen)].reset_index(drop=True))
    # customers is read whole (its attributes' types come from whole columns); the others' rows are theirs
    assert dict(some.dataset.customers.dtypes) == dict(whole.dataset.customers.dtypes)
    for name, frame in whole.dataset.items():
        expected = frame[frame["customer_id"].isin(chosen)].reset_index(drop=True)
        pd.testing.assert_frame_equal(some.dataset.table(name).reset_index(drop=True), expected)


@pytest.mark.slow
def test_flagging_by_uplift_scores_the_same_in_process_by_bucket_and_on_a_cluster(tmp_path):
    """The cause learner's headroom is computed per part: the scores file of `flagging.strategy: uplift` is the same
    frame whichever engine ran it."""
    import churnml
    from churnml.config import parse_config
    from churnml.synth import world_config

    data = Dataset.from_frames(generate(3000, seed=3, config=world_config("treatments")).tables)
    cfg = parse_config({"model": {"max_rounds": 40, "num_threads": 1}, "tracking": {"enabled": False},
                        "flagging": {"strategy": "uplift"}})
    t = pd.Timestamp("2025-06-01")
    bundle = churnml.train(data, t, cfg).bundle
    assert bundle.meta["uplift"]["learner"] == "cause"
    whole = pipeline.score(data, t, bundle, cfg).scores
    assert whole["expected_uplift"].notna().all() and whole["flagged"].any()
    io.write_partitioned(data, tmp_path / "parts", 3)
    parts = io.open_partitioned(tmp_path / "parts")
    pd.testing.assert_frame_equal(pipeline.score(parts, t, bundle, cfg).scores, whole)
    with engine("dask", "local:2") as cluster:
        pd.testing.assert_frame_equal(pipeline.score(parts, t, bundle, cfg, engine=cluster).scores, whole)
