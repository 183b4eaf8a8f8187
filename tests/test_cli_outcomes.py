"""churnml outcomes through the command line, on the treatment world: a CRM that applied the playbook."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from churnml import io

pytestmark = pytest.mark.slow

CHURNML = str(Path(sys.executable).parent / "churnml")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHURNML, *args], capture_output=True, text=True, cwd=cwd, timeout=900)


def test_outcomes_compare_the_treated_with_the_control_group_of_matured_runs(tmp_path):
    (tmp_path / "fast.yaml").write_text("model:\n  max_rounds: 120\n  num_threads: 2\ntracking:\n  enabled: false\n")
    proc = run("generate", "--out", "data", "--customers", "4000", "--seed", "3", "--months", "18", "--world", "treatments", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "treatments.parquet").is_file()
    proc = run("train", "--data", "data", "--as-of", "2024-12-01", "--config", "fast.yaml", "--model-dir", "models", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for day in ("2024-12-01", "2025-01-01", "2025-02-01", "2025-03-01", "2025-05-01"):
        proc = run("score", "--data", "data", "--as-of", day, "--model", "models/latest", "--out", "out/scores.csv", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    proc = run("outcomes", "--data", "data", "--runs", "out/scores.csv", "--as-of", "2025-07-01", "--out", "out/outcomes.csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "outcomes.json").read_text())
    # matured by 2025-07-01 (T + 60 + 30 days): the runs up to 2025-03-01, not 2025-05-01
    assert summary["runs_matured"] == ["2024-12-01", "2025-01-01", "2025-02-01", "2025-03-01"]
    assert {"control", "treated"} <= set(summary["customers"])
    # flagged by risk, each run still carried the uplift model's expected uplift (uplift.shadow): its ranking is measured
    ranking = summary["uplift_ranking"]
    assert ranking["customers"] == summary["customers"]["control"] + summary["customers"]["treated"]
    assert all(isinstance(ranking[k], float) for k in ("qini_uplift", "qini_risk", "qini_oracle"))
    assert "Ranked by expected uplift" in proc.stdout
    reached = pd.DataFrame(summary["on_the_reached"])
    assert len(reached) and reached["reached_share"].between(0, 1).all()
    assert (reached["uplift"] * reached["reached_share"] - reached["itt_uplift"]).abs().max() < 1e-9
    cells = pd.read_csv(tmp_path / "out" / "outcomes.csv")
    assert {"action", "primary_cause", "lifecycle_stage", "uplift", "uplift_low", "uplift_high", "customers_saved"} <= set(cells.columns)
    assert cells["treated"].sum() == summary["customers"]["treated"]
    measured = cells.dropna(subset=["uplift"])  # a cell without control customers has no uplift to measure
    assert len(measured) and (measured["uplift_low"] <= measured["uplift"]).all() and (measured["uplift"] <= measured["uplift_high"]).all()
    assert cells.loc[cells["control"] == 0, "uplift"].isna().all()
    assert (tmp_path / "out" / "outcomes.png").is_file()
    # control customers are never counted as treated, whatever the CRM recorded
    control = set()
    for r in io.past_runs(io.runs_folder(tmp_path / "out" / "scores.csv")):
        c = r.customers(["customer_id", "control_group"])
        control |= {(r.run["as_of"], i) for i in c.loc[c["control_group"], "customer_id"]}
    assert control and summary["control_with_a_recorded_remedy"] == 0  # the simulated CRM respects the hash
    overall = summary["overall"]
    assert overall["treated"] > 0 and overall["control"] > 0 and overall["uplift_low"] < overall["uplift"] < overall["uplift_high"]
    assert 0 <= summary["qini"]["qini"] <= summary["qini"]["qini_oracle"] or summary["qini"]["qini"] < 0
    # the report shows the same comparison
    proc = run("report", "--scores", "out/scores.csv", "--out", "report", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    index = (tmp_path / "report" / "index.html").read_text()
    assert 'id="remedies"' in index and "Do the remedies work?" in index and (tmp_path / "report" / "assets" / "remedies.png").is_file()
    treated = int(summary["overall"]["treated"])
    assert f"<div class=\"v\">{treated:,}</div>" in index  # the same treated customers as outcomes counted
    assert "The effect on the customers reached, by recommendation" in index
    assert f"Ranked by the uplift model's expected uplift instead (the {ranking['customers']:,} treated and control" in index
    first = reached.iloc[0]
    assert f"{first['assigned']:,}" in index  # the same flagged, not held out, as the summary
