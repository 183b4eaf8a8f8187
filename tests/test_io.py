import re

import numpy as np
import pandas as pd
import pytest

from churnml import io
from churnml.dataset import Dataset
from churnml.schemas import TABLES


def _dataset() -> Dataset:
    ts = pd.to_datetime(["2025-02-01 10:30:00", "2025-02-03 00:00:00"]).astype("datetime64[ns]")
    return Dataset.from_frames(
        {
            "subscriptions": pd.DataFrame(
                {
                    "customer_id": pd.Series(["00123", "123"], dtype="str"),
                    "start_date": pd.to_datetime(["2025-01-01", "2024-06-01"]).astype("datetime64[ns]"),
                    "end_date": pd.to_datetime([None, "2025-03-01"]).astype("datetime64[ns]"),
                    "plan": pd.Series(["basic", "plus"], dtype="str"),
                    "monthly_price": [20.0, 35.5],
                }
            ),
            "support_contacts": pd.DataFrame(
                {
                    "customer_id": pd.Series(["00123", "123"], dtype="str"),
                    "timestamp": ts,
                    "channel": pd.Series(["phone", "chat"], dtype="str"),
                    "wait_minutes": [3.25, 0.0],
                    "resolved": [True, False],
                    "topic": pd.Series(["billing", None], dtype="str"),
                }
            ),
            "usage": pd.DataFrame(
                {
                    "customer_id": pd.Series(["00123", "00123"], dtype="str"),
                    "month": pd.to_datetime(["2025-01-01", "2025-02-01"]).astype("datetime64[ns]"),
                    "used": [3.0, 12.5],
                    "allowance": [10.0, float("nan")],
                }
            ),
            "customers": pd.DataFrame({"customer_id": pd.Series(["00123", "123"], dtype="str"), "region": pd.Series(["n", "s"], dtype="str"), "age": [30.0, 41.0]}),
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_dataset_reads_back_identically(tmp_path, fmt):
    original = _dataset()
    io.write_dataset(original, tmp_path, fmt)
    result = io.load_dataset(tmp_path)
    assert result.total_rejected == 0
    for name in ("subscriptions", "support_contacts", "usage", "customers"):
        pd.testing.assert_frame_equal(result.dataset.table(name), original.table(name), check_dtype=True, obj=f"{fmt}:{name}")


def test_csv_and_parquet_give_identical_frames(tmp_path):
    io.write_dataset(_dataset(), tmp_path / "c", "csv")
    io.write_dataset(_dataset(), tmp_path / "p", "parquet")
    a, b = io.load_dataset(tmp_path / "c").dataset, io.load_dataset(tmp_path / "p").dataset
    for name in TABLES:
        pd.testing.assert_frame_equal(a.table(name), b.table(name), obj=name)


def test_formulas_are_neutralised():
    s = pd.Series(["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx", "plain", None], dtype="str")
    got = io.neutralise_formulas(s)
    assert list(got[:7]) == ["'=1+1", "'+cmd", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "plain"]
    assert pd.isna(got[7])


def test_write_csv_neutralises_text_but_keeps_numbers(tmp_path):
    frame = pd.DataFrame({"customer_id": pd.Series(["=HYPERLINK(\"x\")", "00123"], dtype="str"), "p": [-0.5, 0.25]})
    io.write_csv(frame, tmp_path / "x.csv")
    text = (tmp_path / "x.csv").read_text()
    assert "'=HYPERLINK" in text and "-0.5" in text and "00123" in text


def test_failed_write_leaves_previous_file(tmp_path):
    target = tmp_path / "scores.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [target]


def test_rejects_files_follow_the_latest_run(tmp_path):
    data = tmp_path / "d"
    io.write_dataset(_dataset(), data, "csv")
    (data / "surveys.csv").write_text("customer_id,timestamp,score\n00123,2025-02-01,50\n")
    io.write_rejects(io.load_dataset(data), tmp_path / "rejects")
    assert (tmp_path / "rejects" / "surveys.csv").exists()
    (data / "surveys.csv").write_text("customer_id,timestamp,score\n00123,2025-02-01,5\n")
    io.write_rejects(io.load_dataset(data), tmp_path / "rejects")
    assert not (tmp_path / "rejects" / "surveys.csv").exists()


def test_a_missing_data_folder_is_not_found_and_a_file_is_not_a_directory(tmp_path):
    from churnml.errors import InputError, NotFoundError

    with pytest.raises(NotFoundError, match="nope: no such folder"):
        io.load_dataset(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        io.load_dataset(tmp_path / "file")


def test_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        io.atomic_write_text(tmp_path / "x.txt", "hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o644


def _publish(out, csv_text, manifest_text, *, fail=False):
    with io.publish_scores(out) as run:
        run.scores.write_text(csv_text)
        run.manifest.write_text(manifest_text)
        if fail:
            raise RuntimeError("killed before publication")


def test_the_scores_pair_is_published_together(tmp_path):
    out = tmp_path / "out" / "scores.csv"
    _publish(out, "a\n1\n", '{"run": 1}')
    assert out.read_text() == "a\n1\n" and io.manifest_path(out).read_text() == '{"run": 1}'
    with pytest.raises(RuntimeError):
        _publish(out, "a\n2\n", '{"run": 2}', fail=True)
    assert out.read_text() == "a\n1\n" and io.manifest_path(out).read_text() == '{"run": 1}'  # the old pair, whole
    _publish(out, "a\n3\n", '{"run": 3}')
    assert out.read_text() == "a\n3\n" and io.manifest_path(out).read_text() == '{"run": 3}'
    assert not list(out.parent.rglob("*.tmp"))


def test_a_plain_file_from_before_becomes_the_published_link(tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("old")
    io.manifest_path(out).write_text("{}")
    _publish(out, "new\n", '{"new": true}')
    assert out.is_symlink() and out.read_text() == "new\n" and io.manifest_path(out).read_text() == '{"new": true}'


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even ``except Exception``."""


@pytest.mark.parametrize("start", ["plain", "links", "csv_only", "nothing"])
@pytest.mark.parametrize("kill_at", range(1, 7))
def test_a_kill_at_any_step_of_publication_leaves_one_runs_pair(tmp_path, monkeypatch, start, kill_at):
    """Every rename, copy and link of publishing (a first one from plain files included) is a possible kill point."""
    out = tmp_path / "scores.csv"
    manifest = io.manifest_path(out)
    if start == "links":
        _publish(out, "old", "old-manifest")
    elif start in ("plain", "csv_only"):
        out.write_text("old")
        if start == "plain":
            manifest.write_text("old-manifest")
    steps = {"n": 0}

    def step(real):
        def wrapped(*args, **kwargs):
            steps["n"] += 1
            if steps["n"] == kill_at:
                raise _Killed
            return real(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(io, "_link_over", step(io._link_over))
    monkeypatch.setattr(io.shutil, "copyfile", step(io.shutil.copyfile))
    killed = False
    try:
        _publish(out, "new", "new-manifest")
    except _Killed:
        killed = True
    monkeypatch.undo()
    shown = (out.read_text() if out.exists() else None, manifest.read_text() if manifest.exists() else None)
    before = {"plain": ("old", "old-manifest"), "links": ("old", "old-manifest"), "csv_only": ("old", None), "nothing": (None, None)}[start]
    assert shown in (before, ("new", "new-manifest")), (steps, shown)
    if not killed:
        assert shown == ("new", "new-manifest")
    _publish(out, "next", "next-manifest")  # the next run clears what the killed one left
    assert (out.read_text(), manifest.read_text()) == ("next", "next-manifest")
    assert not list(tmp_path.rglob("*.tmp"))


def test_leftovers_of_killed_runs_are_removed_and_old_runs_pruned(tmp_path):
    out = tmp_path / "scores.csv"
    _publish(out, "1", "{}")
    runs = tmp_path / ".scores.csv.runs"
    (runs / "20200101T000000Z-dead.tmp").mkdir()
    (tmp_path / ".scores.csv.abc.tmp").write_text("half")
    for k in range(io.KEEP_RUNS + 3):
        _publish(out, str(k), "{}")
    assert not list(tmp_path.rglob("*.tmp"))
    assert len(list(runs.iterdir())) == io.KEEP_RUNS + 1  # the current run and the kept ones
    assert out.read_text() == str(io.KEEP_RUNS + 2)


def test_a_second_run_on_the_same_output_is_refused(tmp_path):
    from churnml.errors import BusyError, ExitCode

    out = tmp_path / "scores.csv"
    with io.publish_scores(out) as run:
        run.scores.write_text("1")
        run.manifest.write_text("{}")
        with pytest.raises(BusyError, match="another churnml run is writing this output") as info:
            _publish(out, "2", "{}")
        assert info.value.exit_code == ExitCode.BUSY
    assert out.read_text() == "1"
    _publish(out, "3", "{}")  # the lock is free again
    assert out.read_text() == "3"


def test_published_files_and_folders_follow_the_umask(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = tmp_path / "scores.csv"
        _publish(out, "1", "{}")
    finally:
        os.umask(old)
    target = out.resolve()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o755


def test_a_users_symlink_is_written_through(tmp_path):
    real = tmp_path / "crm" / "inbox.csv"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "scores.csv"
    link.symlink_to(real)
    assert io.output_target(link) == real.resolve()
    _publish(io.output_target(link), "new", "{}")
    assert link.read_text() == "new" and (tmp_path / "crm" / "inbox.manifest.json").exists()
    assert io.output_target(tmp_path / "crm" / "inbox.csv") == tmp_path / "crm" / "inbox.csv"  # our own link stays


def test_a_mixed_pair_is_refused(tmp_path):
    import hashlib

    from churnml.errors import InputError

    out = tmp_path / "scores.csv"
    out.write_text("a\n1\n")
    io.verify_scores_pair(out, {"output": {"sha256": hashlib.sha256(b"a\n1\n").hexdigest()}})
    with pytest.raises(InputError, match="records another file"):
        io.verify_scores_pair(out, {"output": {"sha256": "0" * 64}})


def test_parquet_scores_are_typed(tmp_path):
    scores = pd.DataFrame({
        "customer_id": ["007", "10"], "as_of_date": "2026-01-01", "churn_probability": [0.123456, 0.5], "risk_rank": [2, 1],
        "risk_tier": ["medium", "high"], "flagged": [False, True], "lifecycle_stage": ["new", "established"],
        "primary_cause": ["", "price"], "cause_share": [float("nan"), 0.61234], "reason_1": ["", "=cmd"], "reason_2": "",
        "reason_3": "", "recommended_action": ["none", "retention_offer"], "model_version": "v1",
    })
    path = tmp_path / "scores.parquet"
    io.write_scores(scores, path)
    back = pd.read_parquet(path)
    assert back["customer_id"].tolist() == ["007", "10"] and pd.api.types.is_string_dtype(back["customer_id"].dtype)
    assert back["flagged"].dtype == bool and back["churn_probability"].tolist() == [0.1235, 0.5]
    assert io.read_scores(path)["customer_id"].tolist() == ["007", "10"]


def test_partitioned_datasets_keep_every_row_in_its_customers_bucket(tmp_path):
    """Each customer's rows share one bucket (the documented hash), nothing is lost, and the whole reads back."""
    from churnml.dataset import Dataset, customer_bucket
    from churnml.synth import generate

    dataset = Dataset.from_frames(generate(300, seed=4, months=8).tables)
    record = io.write_partitioned(dataset, tmp_path / "p", 5)
    assert record["buckets"] == 5 and not list(tmp_path.glob(".p.*"))  # no staging folder left
    for name, frame in dataset.items():
        if frame.empty:
            continue
        assert record["tables"][name] == len(frame)
        for k in range(5):
            part = tmp_path / "p" / name / f"customer_bucket={k}" / "part-0.parquet"
            if part.exists():
                ids = pd.read_parquet(part)["customer_id"]
                assert (customer_bucket(ids, 5) == k).all()
    back = io.load_dataset(tmp_path / "p").dataset
    io.write_dataset(dataset, tmp_path / "flat", "parquet")
    flat = io.load_dataset(tmp_path / "flat").dataset
    for name, frame in flat.items():
        key = list(frame.columns)
        pd.testing.assert_frame_equal(
            back.table(name).sort_values(key).reset_index(drop=True), frame.sort_values(key).reset_index(drop=True), obj=name
        )


def test_the_bucket_hash_is_the_documented_one(id_hash):
    """The documented hash (checked in plain Python) modulo the bucket count."""
    from churnml.dataset import customer_bucket

    ids = ["00001", "1", "é-42", "x" * 200, "A7"]
    assert customer_bucket(pd.Series(ids), 16).tolist() == [id_hash(i) % 16 for i in ids]


@pytest.mark.parametrize(("record", "says"), [
    ("{not json", "not a partitioning record"),
    ('{"buckets": 0, "tables": {"subscriptions": 1}}', "buckets must be at least 1"),
    ('{"buckets": 4, "tables": {"orders": 1, "subscriptions": 1}}', "unknown tables ['orders']"),
    ('{"buckets": 4, "tables": {"subscriptions": 1}}', "its folder is missing"),
], ids=["not_json", "zero_buckets", "unknown_table", "missing_folder"])
def test_a_broken_partitioning_record_is_an_input_error(tmp_path, record, says):
    from churnml.errors import InputError

    (tmp_path / "partitioning.json").write_text(record)
    with pytest.raises(InputError, match=re.escape(says)):
        io.load_dataset(tmp_path)


def test_a_csv_written_chunk_by_chunk_has_the_bytes_of_one_pass(tmp_path, monkeypatch):
    frame = pd.DataFrame({"customer_id": [f"c{k}" for k in range(10)], "note": ["=SUM(A1)", "ok"] * 5, "x": np.arange(10) / 3})
    io.write_csv(frame, tmp_path / "one.csv")
    monkeypatch.setattr(io, "_CSV_CHUNK_ROWS", 3)
    io.write_csv(frame, tmp_path / "chunks.csv")
    io.write_csv(frame.iloc[:0], tmp_path / "empty.csv")
    assert (tmp_path / "chunks.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "chunks.csv").read_text().count("customer_id") == 1 and "'=SUM(A1)" in (tmp_path / "one.csv").read_text()
    assert (tmp_path / "empty.csv").read_text() == "customer_id,note,x\n"


def test_csv_scores_read_optional_numbers_as_numbers(tmp_path):
    """The change columns are empty on a first run and numbers after it; texts stay text, empty or not."""
    scores = pd.DataFrame({
        "customer_id": ["007", "10"], "as_of_date": "2026-01-01", "churn_probability": [0.1, 0.5], "risk_rank": [2, 1],
        "risk_tier": ["medium", "high"], "flagged": [False, True], "lifecycle_stage": ["new", "established"],
        "primary_cause": ["", "price"], "cause_share": [float("nan"), 0.6], "reason_1": ["", "=cmd"], "reason_2": "",
        "reason_3": "", "recommended_action": ["none", "retention_offer"], "model_version": "v1",
        "previous_probability": [float("nan"), 0.25], "risk_change": [float("nan"), 0.25], "change_cause": ["", "price"],
        "change_reason": ["", "1 price increase in the last 30 days (was 0)"],
    })
    path = tmp_path / "scores.csv"
    io.write_scores(scores, path)
    back = io.read_scores(path)
    assert back["risk_change"].dtype == float and back["previous_probability"].isna().tolist() == [True, False]
    assert back["risk_change"].iloc[1] == 0.25 and back["change_cause"].tolist() == ["", "price"]
    assert back["customer_id"].tolist() == ["007", "10"] and back["flagged"].tolist() == [False, True]


def test_history_parts_written_behind_are_all_on_disk_when_the_block_ends_and_read_back_by_customer(tmp_path):
    """The writer thread: every part is written by the end of the block, one part waits at most, and the past run's
    reader finds each customer's vector in whichever part holds it."""
    import threading

    sink = io.FeatureSink(str(tmp_path))
    busy, most = [], [0]
    lock = threading.Lock()

    def slow(k: int, features: pd.DataFrame) -> None:
        with lock:
            busy.append(k)
            most[0] = max(most[0], len(busy))
        sink(k, features)
        with lock:
            busy.remove(k)

    parts = {k: pd.DataFrame({"x": np.arange(3.0) + 10 * k}, index=pd.Index([f"c{k}{i}" for i in range(3)], name="customer_id"))
             for k in range(4)}
    with io.written_behind(slow) as behind:
        for k, frame in parts.items():
            behind(k, frame)
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == [f"part-{k:05d}.parquet" for k in range(4)]
    assert most[0] == 1
    past = io.PastRun(tmp_path, {"as_of": "2025-01-01"})
    got = past.features(["c31", "c02", "nobody"])
    assert sorted(got.index) == ["c02", "c31"] and got.loc["c31", "x"] == 31.0 and got.loc["c02", "x"] == 2.0


def test_a_failed_history_write_fails_the_block():
    def broken(k: int, features: pd.DataFrame) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"), io.written_behind(broken) as behind:
        behind(0, pd.DataFrame({"x": [1.0]}))
