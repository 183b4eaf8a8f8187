"""Mistyped command lines get exit 2 and a message naming the option; stale data warns or is refused."""

import pytest
from robust_helpers import AS_OF, run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

BAD_DATES = ["2026-13-01", "2026-02-30", "yesterday", "now", "", "2019", "20190101", "2019-1-1", "01/02/2026", "2026-01-01T00:00",
             "9999-12-31", "1800-01-01"]


@pytest.mark.parametrize("value", BAD_DATES)
@pytest.mark.parametrize("command", ["score", "features"])
def test_an_as_of_that_is_not_a_full_iso_date_is_a_usage_error(trained, tmp_path, command, value):
    extra = ["--model", "models/latest"] if command == "score" else []
    proc = run(command, "--data", "data", "--as-of", value, *extra, "--out", str(tmp_path / "x.csv"), cwd=trained)
    assert proc.returncode == 2, proc.stderr
    assert "--as-of" in proc.stderr and "ISO date" in proc.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("start", ["2024-01-15", "2024-13-01", "January"])
def test_generate_start_must_be_the_first_of_a_month(tmp_path, start):
    proc = run("generate", "--out", "g", "--customers", "500", "--start", start, cwd=tmp_path)
    assert proc.returncode == 2 and "--start" in proc.stderr
    assert not (tmp_path / "g").exists()


def test_stale_data_warns_and_max_staleness_refuses(trained, tmp_path):
    late = "2026-06-01"  # more than a year after the newest generated row
    warned = run("score", "--data", "data", "--as-of", late, "--model", "models/latest", "--out", str(tmp_path / "a.csv"), cwd=trained)
    assert warned.returncode == 0 and "days after the newest row" in warned.stderr
    refused = run("score", "--data", "data", "--as-of", late, "--model", "models/latest", "--out", str(tmp_path / "b.csv"),
                  "--max-staleness-days", "60", cwd=trained)
    assert refused.returncode == 4 and "--max-staleness-days 60" in refused.stderr and "support_contacts" in refused.stderr
    assert not (tmp_path / "b.csv").exists()
    fresh = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(tmp_path / "c.csv"),
                "--max-staleness-days", "60", cwd=trained)
    assert fresh.returncode == 0 and "newest row" not in fresh.stderr


def test_a_known_future_end_date_does_not_hide_stale_data(trained, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(trained / "data", root / "data")
    subs = root / "data" / "subscriptions.csv"
    lines = subs.read_text().splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("end_date")] = "2031-01-01"  # one notice far in the future
    subs.write_text("\n".join([lines[0], ",".join(row), *lines[2:]]) + "\n")
    proc = run("score", "--data", "data", "--as-of", "2026-06-01", "--model", str(trained / "models" / "latest"),
               "--out", str(tmp_path / "s.csv"), "--max-staleness-days", "60", cwd=root)
    assert proc.returncode == 4 and "--max-staleness-days 60" in proc.stderr, proc.stderr
    assert not (tmp_path / "s.csv").exists()


def test_a_date_with_nobody_active_is_an_input_error(trained, tmp_path):
    proc = run("score", "--data", "data", "--as-of", "1950-01-01", "--model", "models/latest", "--out", str(tmp_path / "s.csv"), cwd=trained)
    assert proc.returncode == 4 and "no customer is active at 1950-01-01" in proc.stderr, proc.stderr
    assert not (tmp_path / "s.csv").exists()


def test_import_snapshot_reference_date_must_be_a_date(tmp_path):
    (tmp_path / "e.csv").write_text("customerID,tenure,Churn\nA1,3,No\n")
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", "--reference-date", "notadate", "--id-column", "customerID",
               "--tenure-column", "tenure", "--churn-column", "Churn", cwd=tmp_path)
    assert proc.returncode == 2 and "--reference-date" in proc.stderr


def test_a_second_run_on_a_locked_output_is_status_8(trained, tmp_path):
    from churnml import io

    out = tmp_path / "scores.csv"
    with io.publish_scores(out) as held:  # another run holds this output
        held.scores.write_text("x")
        held.manifest.write_text("{}")
        proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(out), cwd=trained)
        assert proc.returncode == 8 and "another churnml run is writing this output" in proc.stderr
    assert out.read_text() == "x"


def test_training_where_every_label_is_the_same_is_status_4(tmp_path):
    # A one-row-per-customer export trained at its own reference date: no churn is knowable yet.
    d = tmp_path / "data"
    d.mkdir()
    (d / "subscriptions.csv").write_text("customer_id,start_date,end_date,plan,monthly_price\n"
                                         + "".join(f"{i:04d},2023-01-01,,basic,10\n" for i in range(300)))
    (tmp_path / "c.yaml").write_text("tracking:\n  enabled: false\n")
    proc = run("train", "--data", "data", "--as-of", "2024-06-01", "--config", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "cannot train at 2024-06-01" in proc.stderr and "single class" in proc.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("validate", "--data", "no_such"), "no_such: no such folder"),
    (("import-snapshot", "--input", "no_such.csv", "--out", "imp", "--reference-date", AS_OF, "--id-column", "id",
      "--tenure-column", "t", "--churn-column", "c"), "no_such.csv: file not found"),
    (("report", "--scores", "no_such.csv", "--out", "rep"), "no_such.csv: scores file not found"),
], ids=["data_folder", "export", "scores"])
def test_a_path_that_does_not_exist_is_status_7_for_every_command(tmp_path, args, says):
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 7, proc.stdout + proc.stderr
    assert says in proc.stderr
    assert not list(tmp_path.iterdir())
