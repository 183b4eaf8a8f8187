"""Mistyped command lines get exit 2 and a message naming the option; stale data warns or is refused."""

import pytest

from robust_helpers import AS_OF, run

BAD_DATES = ["2026-13-01", "2026-02-30", "yesterday", "now", "", "2019", "20190101", "2019-1-1", "01/02/2026", "2026-01-01T00:00"]


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
