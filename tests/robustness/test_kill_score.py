"""SIGKILL `churnml score` at random moments: the scores file and its manifest are always one run's pair."""

import hashlib
import json
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
from robust_helpers import CHURNML

# End to end through the command line or a trained model: part of make test, not of make test-fast. The kill moments
# are drawn from a measured run's length, so the test runs alone (serial), not beside tests that load the machine.
pytestmark = [pytest.mark.slow, pytest.mark.serial]

KILLS = 50
DATES = ("2025-04-01", "2025-03-01")  # alternate, so the old pair and the new pair differ


def _pair(out):
    """(as_of in the CSV, as_of in the manifest); asserts the manifest records this very CSV."""
    csv_bytes = out.read_bytes()
    manifest = json.loads(out.with_name("scores.manifest.json").read_text())
    assert manifest["output"]["sha256"] == hashlib.sha256(csv_bytes).hexdigest(), "CSV and manifest from different runs"
    dates = set(pd.read_csv(out, dtype=str, usecols=["as_of_date"])["as_of_date"])
    return dates, manifest["as_of"]


def _score(root, out, as_of):
    return subprocess.Popen([CHURNML, "score", "--data", "data", "--as-of", as_of, "--model", "models/latest", "--out", str(out)],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_killed_runs_leave_the_old_pair_or_the_new_pair(trained, tmp_path):
    out = tmp_path / "scores.csv"
    started = time.perf_counter()
    assert _score(trained, out, DATES[0]).wait(timeout=300) == 0
    full = time.perf_counter() - started
    rng = np.random.default_rng(20261202)
    # Half the kills land anywhere in a run, half around its end, where the pair is written and published.
    delays = np.concatenate([rng.uniform(0, full, KILLS // 2), rng.uniform(0.75 * full, 1.3 * full, KILLS - KILLS // 2)])
    published = DATES[0]
    outcomes = {"old": 0, "new": 0}
    for delay in rng.permutation(delays):
        attempt = DATES[1] if published == DATES[0] else DATES[0]
        proc = _score(trained, out, attempt)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        csv_dates, manifest_date = _pair(out)
        assert csv_dates == {manifest_date} and manifest_date in (published, attempt)
        outcomes["new" if manifest_date == attempt else "old"] += 1
        published = manifest_date
    assert sum(outcomes.values()) == KILLS and outcomes["old"] and outcomes["new"], outcomes  # both moments were hit
    # The next complete run clears what the killed ones left behind.
    assert _score(trained, out, DATES[0]).wait(timeout=300) == 0
    assert _pair(out)[1] == DATES[0]
    assert not list(tmp_path.rglob("*.tmp"))
