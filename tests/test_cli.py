"""The command line as users run it: real `churnml` processes, exit codes and stderr lines."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

CHURNML = str(Path(sys.executable).parent / "churnml")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CHURNML, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "data"
    proc = run("generate", "--out", str(out), "--customers", "1500", "--seed", "3", "--months", "18")
    assert proc.returncode == 0, proc.stderr
    return out


def test_generate_writes_every_table_and_truth(generated):
    names = {p.name for p in generated.iterdir()}
    assert {"subscriptions.csv", "customers.csv", "support_contacts.csv", "complaints.csv", "price_changes.csv", "usage.csv",
            "tech_faults.csv", "surveys.csv", "truth.csv", "oracle.parquet"} <= names
    truth = pd.read_csv(generated / "truth.csv", dtype={"customer_id": str})
    assert set(truth["cause"]) == {"price", "service", "other"}
    assert truth["customer_id"].str.len().eq(8).all()


def test_generated_data_validates_with_zero_rejects(generated, tmp_path):
    proc = run("validate", "--data", str(generated), "--rejects", str(tmp_path / "rej"), "--strict")
    assert proc.returncode == 0, proc.stderr
    assert "No rejected rows" in proc.stdout
    assert not (tmp_path / "rej").exists() or not any((tmp_path / "rej").iterdir())


def test_generate_is_deterministic(tmp_path):
    for name in ("a", "b"):
        assert run("generate", "--out", str(tmp_path / name), "--customers", "300", "--seed", "9", "--months", "6").returncode == 0
    for table in ("subscriptions.csv", "support_contacts.csv", "truth.csv"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()


def _corrupt(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    contacts = (dst / "support_contacts.csv").read_text().splitlines()
    header, rows = contacts[0], contacts[1:]
    cid = rows[0].split(",")[0]
    rows[0] = rows[0].replace(rows[0].split(",")[1], "2025-13-45", 1)  # bad date, line 2
    fields = rows[1].split(",")
    fields[3] = "-7"  # negative wait, line 3
    rows[1] = ",".join(fields)
    fields = rows[2].split(",")
    fields[0] = "0" + fields[0]  # the same digits with one more leading zero: another, unknown customer, line 4
    rows[2] = ",".join(fields)
    (dst / "support_contacts.csv").write_text("\n".join([header, *rows]) + "\n")
    complaints = (dst / "complaints.csv").read_text().splitlines()
    fields = complaints[1].split(",")
    fields[2] = "pricing"  # unknown category, line 2
    complaints[1] = ",".join(fields)
    (dst / "complaints.csv").write_text("\n".join(complaints) + "\n")
    assert cid


def test_corrupted_copy_gives_reasons_and_reconciled_counts(generated, tmp_path):
    bad = tmp_path / "bad"
    _corrupt(generated, bad)
    proc = run("validate", "--data", str(bad))
    assert proc.returncode == 0, proc.stderr
    rejects = pd.read_csv(bad / "rejects" / "support_contacts.csv", dtype=str)
    assert list(rejects["line"]) == ["2", "3", "4"]
    assert "timestamp '2025-13-45' is not an ISO-8601 timestamp" in rejects["reason"][0]
    assert "wait_minutes '-7' is below 0" in rejects["reason"][1]
    assert "has no valid subscription" in rejects["reason"][2] and rejects["customer_id"][2].startswith("0")
    complaints = pd.read_csv(bad / "rejects" / "complaints.csv", dtype=str)
    assert "category 'pricing' is not one of" in complaints["reason"][0]
    original = len((generated / "support_contacts.csv").read_text().splitlines()) - 1
    line = next(row for row in proc.stdout.splitlines() if row.strip().startswith("│ support_contacts"))
    read, accepted, rejected = (int(x.replace(",", "")) for x in line.split("│")[3:6])
    assert (read, accepted, rejected) == (original, original - 3, 3)

    strict = run("validate", "--data", str(bad), "--strict")
    assert strict.returncode == 5 and "rows rejected in --strict mode" in strict.stderr


def test_missing_required_column_exits_non_zero_naming_it(generated, tmp_path):
    bad = tmp_path / "nocol"
    shutil.copytree(generated, bad)
    surveys = pd.read_csv(bad / "surveys.csv", dtype=str).drop(columns=["score"])
    surveys.to_csv(bad / "surveys.csv", index=False)
    proc = run("validate", "--data", str(bad))
    assert proc.returncode == 4
    assert proc.stderr.startswith("churnml: error: ")
    assert "surveys.csv: required column 'score' is missing (table surveys" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_and_usage_errors_have_their_own_codes(generated, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("labels:\n  horizon: 3\n")
    proc = run("train", "--data", str(generated), "--as-of", "2025-06-01", "--config", str(cfg))
    assert proc.returncode == 3 and "labels.horizon: unknown key" in proc.stderr
    assert run("generate", "--out", str(tmp_path / "x"), "--format", "xml").returncode == 2
    assert run("validate", "--data", str(tmp_path / "nowhere")).returncode == 7


def test_features_command_writes_one_row_per_active_customer(generated, tmp_path):
    proc = run("features", "--data", str(generated), "--as-of", "2025-03-01", "--out", str(tmp_path / "f.parquet"))
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert frame.index.name == "customer_id" and frame.index.is_unique and frame.index.is_monotonic_increasing
    from churnml import io
    from churnml.lifecycle import active_customers

    data = io.load_dataset(generated).dataset
    assert list(frame.index) == list(active_customers(data.subscriptions, "2025-03-01"))
    assert {"support_contacts_30d", "monthly_price", "tenure_days"} <= set(frame.columns)


def test_generate_a_named_world_and_refuse_an_unknown_one(tmp_path):
    ok = run("generate", "--out", str(tmp_path / "w"), "--customers", "300", "--seed", "9", "--months", "6",
             "--world", "price_waves")
    assert ok.returncode == 0, ok.stderr
    rises = pd.read_csv(tmp_path / "w" / "price_changes.csv", parse_dates=["timestamp"])
    assert rises["timestamp"].dt.month.isin([3, 9]).mean() > 0.5  # the March wave dominates six months from January
    oracle = pd.read_parquet(tmp_path / "w" / "oracle.parquet")
    assert {"hazard_price", "hazard_service", "hazard_other", "oracle_cause"} <= set(oracle.columns)
    bad = run("generate", "--out", str(tmp_path / "x"), "--world", "atlantis")
    assert bad.returncode == 2 and "unknown world 'atlantis'" in bad.stderr and "price_waves" in bad.stderr
    assert not (tmp_path / "x").exists()


def test_generate_partitions_writes_regions_into_hash_buckets(tmp_path):
    """generate --partitions N simulates N regions one at a time into N customer buckets: ids and incidents stay
    distinct across regions, every row lies in its customer's bucket, and the result validates with no rejects."""
    from churnml import io
    from churnml.dataset import customer_bucket

    out = tmp_path / "parts"
    proc = run("generate", "--out", str(out), "--customers", "1200", "--seed", "4", "--months", "8", "--partitions", "3")
    assert proc.returncode == 0, proc.stderr
    layout = io.partitioning(out)
    assert layout["buckets"] == 3
    subs = io.open_partitioned(out).read_all()["subscriptions"].frame
    assert subs["customer_id"].nunique() == 1200 and set(subs["customer_id"].str.split("-").str[0]) == {"0", "1", "2"}
    for k in range(3):
        part = pd.read_parquet(out / "subscriptions" / f"customer_bucket={k}")
        assert (customer_bucket(part["customer_id"], 3) == k).all()
    faults = io.open_partitioned(out).read_all()["tech_faults"].frame.dropna(subset=["incident_id"])
    region = faults["customer_id"].str.split("-").str[0]
    assert (faults["incident_id"].str.split("-").str[0] == region).all()  # an incident stays inside its region
    truth = pd.read_csv(out / "truth.csv", dtype={"customer_id": str})
    assert truth["customer_id"].isin(subs["customer_id"]).all() and len(pd.read_parquet(out / "oracle.parquet"))
    proc = run("validate", "--data", str(out), "--rejects", str(tmp_path / "rej"), "--strict")
    assert proc.returncode == 0 and "No rejected rows" in proc.stdout, proc.stderr
    again = run("generate", "--out", str(out), "--customers", "1200", "--partitions", "3")
    assert again.returncode == 2 and "exists" in again.stderr
    assert run("generate", "--out", str(tmp_path / "x"), "--customers", "2", "--partitions", "3").returncode == 2


@pytest.mark.parametrize(("uplift", "strategy", "says", "warns"), [
    ({"learner": "cause", "treated": {"retention_offer": 900, "senior_manager_call": 1200},
      "theta": {"retention_offer": 0.0, "senior_manager_call": 0.21}}, "uplift",
     ["Uplift (cause)", "retention_offer (900 treated, not shown to help)", "senior_manager_call (1,200 treated, 0.21 of"], None),
    ({"learner": "cause", "treated": {"retention_offer": 900}, "theta": {"retention_offer": 0.0}}, "uplift",
     ["not shown to help"], "will flag nobody"),
    ({"learner": "cause", "treated": {"retention_offer": 900}, "theta": {"retention_offer": 0.0}}, "risk", ["not shown to help"], None),
    ({"treated": {"retention_offer": 900}}, "uplift", ["Uplift (t_learner)", "retention_offer (900 treated)"], None),
    ({"not_trained": "no retention_actions recorded"}, "value", [], "no uplift model (no retention_actions recorded)"),
])
def test_train_says_what_each_recorded_action_was_learned_to_do(capsys, uplift, strategy, says, warns):
    from types import SimpleNamespace

    from churnml.cli import _print_uplift_training
    from churnml.config import parse_config

    if "treated" in uplift:
        uplift = {**uplift, "actions": list(uplift["treated"])}
    _print_uplift_training(SimpleNamespace(meta={"uplift": uplift}), parse_config({"flagging": {"strategy": strategy}}))
    out, err = capsys.readouterr()
    text = " ".join((out + err).split())
    assert all(s in text for s in says), text
    assert (warns in " ".join(err.split())) if warns else "warning" not in err
