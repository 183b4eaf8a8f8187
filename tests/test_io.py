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
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
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


def test_not_a_directory(tmp_path):
    from churnml.errors import InputError

    with pytest.raises(InputError, match="not a directory"):
        io.load_dataset(tmp_path / "nope")


def test_outputs_get_normal_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        io.atomic_write_text(tmp_path / "x.txt", "hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o644
