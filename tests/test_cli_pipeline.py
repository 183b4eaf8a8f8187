"""train -> score -> explain through the real command line, on a small generated dataset."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from churnml import io

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

CHURNML = str(Path(sys.executable).parent / "churnml")
AS_OF = "2025-04-01"
CONTRACT = ["customer_id", "as_of_date", "churn_probability", "risk_rank", "risk_tier", "flagged", "lifecycle_stage",
            "primary_cause", "cause_share", "reason_1", "reason_2", "reason_3", "recommended_action", "model_version"]
ACTIONS = {"retention_offer", "plan_review", "senior_manager_call", "onboarding_care", "dedicated_contact", "incident_update", "none"}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([CHURNML, *args], capture_output=True, text=True, cwd=cwd, timeout=900)
    return proc


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    (root / "fast.yaml").write_text("model:\n  max_rounds: 150\n  num_threads: 2\ntracking:\n  enabled: false\n")
    assert run("generate", "--out", "data", "--customers", "2500", "--seed", "5", "--months", "18", cwd=root).returncode == 0
    proc = run("train", "--data", "data", "--as-of", AS_OF, "--config", "fast.yaml", "--model-dir", "models", cwd=root)
    assert proc.returncode == 0, proc.stderr
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/scores.csv", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root


def test_train_writes_bundle_plots_and_summary(pipeline):
    bundle = pipeline / "models" / "latest"
    assert {"model.txt", "bundle.json"} <= {p.name for p in bundle.iterdir()}
    assert {"roc.png", "precision_recall.png", "reliability.png", "lift.png", "importance.png", "shap_summary.png", "metrics.json"} <= {
        p.name for p in (bundle / "evaluation").iterdir()}
    meta = json.loads((bundle / "bundle.json").read_text())
    assert meta["split"]["strategy"] == "out_of_time"
    assert max(meta["split"]["train_snapshots"]) < min(meta["split"]["validation_snapshots"])
    assert not (pipeline / "mlflow.db").exists()  # tracking disabled by config


def test_scores_follow_the_contract(pipeline):
    text = (pipeline / "out" / "scores.csv").read_text()
    assert "\r" not in text
    header = text.splitlines()[0].split(",")
    assert header[: len(CONTRACT)] == CONTRACT
    s = pd.read_csv(pipeline / "out" / "scores.csv", dtype=str, keep_default_na=False)
    assert (s["as_of_date"] == AS_OF).all()
    assert s["churn_probability"].str.fullmatch(r"[01]\.\d{4}").all()
    assert s["risk_rank"].astype(int).tolist() == list(range(1, len(s) + 1))
    p = s["churn_probability"].astype(float)
    assert p.is_monotonic_decreasing
    assert set(s["risk_tier"]) <= {"high", "medium", "low"} and set(s["flagged"]) == {"true", "false"}
    flagged = s["flagged"] == "true"
    assert flagged.sum() == -(-len(s) // 10) and flagged[: flagged.sum()].all()  # the top 10% by rank
    assert set(s["lifecycle_stage"]) <= {"new", "established", "won_back"}
    assert set(s.loc[flagged, "primary_cause"]) <= {"price", "service", "other"} and (s.loc[~flagged, "primary_cause"] == "").all()
    assert s.loc[flagged, "cause_share"].astype(float).between(0, 1).all() and (s.loc[~flagged, "cause_share"] == "").all()
    assert (s.loc[flagged, "reason_1"] != "").all()
    assert set(s["recommended_action"]) <= ACTIONS and (s.loc[~flagged, "recommended_action"] == "none").all()
    version = json.loads((pipeline / "models" / "latest" / "bundle.json").read_text())["version"]
    assert (s["model_version"] == version).all()


def test_referral_candidates_are_satisfied_low_risk_customers(pipeline):
    s = pd.read_csv(pipeline / "out" / "scores.csv", dtype=str, keep_default_na=False)
    assert s.columns[len(CONTRACT):].tolist() == ["price_share", "service_share", "other_share", "referral_candidate",
                                                  "previous_probability", "risk_change", "change_cause", "change_reason",
                                                  "control_group", "expected_uplift"]
    assert (s["expected_uplift"] == "").all()  # flagged by risk, the default
    assert set(s["referral_candidate"]) == {"true", "false"}
    chosen = s[s["referral_candidate"] == "true"]
    assert len(chosen) > 0
    assert (chosen["flagged"] == "false").all() and (chosen["risk_tier"] == "low").all()
    surveys = io.load_dataset(pipeline / "data").dataset.surveys
    before = surveys[surveys["timestamp"] < pd.Timestamp(AS_OF)].sort_values("timestamp")
    latest = before.groupby("customer_id")["score"].last()
    assert (latest.reindex(chosen["customer_id"]) >= 9).all()
    m = json.loads((pipeline / "out" / "scores.manifest.json").read_text())
    assert m["counts"]["referral_candidates"] == len(chosen)


def test_the_control_group_is_flagged_customers_still_shown_their_action(pipeline):
    """control_group: a share of the flagged held out to measure the remedies; they keep their cause and action."""
    s = pd.read_csv(pipeline / "out" / "scores.csv", dtype=str, keep_default_na=False)
    held = s[s["control_group"] == "true"]
    flagged = s[s["flagged"] == "true"]
    assert set(s["control_group"]) == {"true", "false"} and (held["flagged"] == "true").all()
    assert 0 < len(held) < 0.2 * len(flagged)  # 5% of a few hundred flagged: a handful, never most
    assert (held["recommended_action"] != "none").all() and (held["primary_cause"] != "").all()
    m = json.loads((pipeline / "out" / "scores.manifest.json").read_text())
    assert m["counts"]["control_group"] == len(held)


def test_ids_round_trip_and_cover_exactly_the_active_customers(pipeline):
    s = pd.read_csv(pipeline / "out" / "scores.csv", dtype=str, keep_default_na=False)
    data = io.load_dataset(pipeline / "data").dataset
    from churnml.lifecycle import active_customers

    assert sorted(s["customer_id"]) == list(active_customers(data.subscriptions, AS_OF))
    assert s["customer_id"].str.fullmatch(r"\d{8}").all() and s["customer_id"].str.startswith("0").any()


def test_no_field_is_a_spreadsheet_formula(pipeline):
    s = pd.read_csv(pipeline / "out" / "scores.csv", dtype=str, keep_default_na=False)
    text_cols = [c for c in s.columns if c not in ("churn_probability", "cause_share", "price_share", "service_share", "other_share")]
    for c in text_cols:
        assert not s[c].str.match(r"^[=+\-@\t\r]").any(), c


def test_manifest_accounts_for_inputs_and_stages(pipeline):
    m = json.loads((pipeline / "out" / "scores.manifest.json").read_text())
    assert m["as_of"] == AS_OF and m["output"]["rows"] == len(pd.read_csv(pipeline / "out" / "scores.csv"))
    for table in m["inputs"].values():
        assert table["accepted"] + table["rejected"] == table["read"]
    assert {"features_and_scores", "explain_flagged"} <= set(m["stages"])
    assert sum(m["counts"]["flagged_by_action"].values()) == m["counts"]["flagged"]


def test_rerun_gives_a_byte_identical_csv(pipeline):
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/again.csv", cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    assert (pipeline / "out" / "again.csv").read_bytes() == (pipeline / "out" / "scores.csv").read_bytes()


def test_rows_after_as_of_change_nothing(pipeline):
    full = io.load_dataset(pipeline / "data").dataset
    cut = pipeline / "cut"
    io.write_dataset(full.known_at(AS_OF), cut, "csv")
    proc = run("score", "--data", "cut", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/cut.csv", cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    assert (pipeline / "out" / "cut.csv").read_bytes() == (pipeline / "out" / "scores.csv").read_bytes()


def test_a_run_failing_midway_leaves_the_previous_csv(pipeline, monkeypatch, capsys):
    import churnml.cli
    import churnml.explain as explaining  # the scoring pass imports render_reasons from here when it runs

    target = pipeline / "out" / "scores.csv"
    before = target.read_bytes()
    manifest_before = (pipeline / "out" / "scores.manifest.json").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk on fire while explaining")

    monkeypatch.setattr(explaining, "render_reasons", boom)
    monkeypatch.chdir(pipeline)
    monkeypatch.setattr(sys, "argv", ["churnml", "score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/scores.csv"])
    with pytest.raises(SystemExit) as exit_info:
        churnml.cli.main()
    assert exit_info.value.code == 1
    assert "disk on fire" in capsys.readouterr().err
    assert target.read_bytes() == before
    assert (pipeline / "out" / "scores.manifest.json").read_bytes() == manifest_before
    assert not [p for p in (pipeline / "out").rglob("*") if p.name.endswith(".tmp")]  # the failed run left nothing


def test_tampered_model_is_refused_with_exit_6(pipeline, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree((pipeline / "models" / "latest").resolve(), copy)
    model = copy / "model.txt"
    model.write_text(model.read_text().replace("leaf_value=", "leaf_value=9", 1))
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", str(copy), "--out", "out/t.csv", cwd=pipeline)
    assert proc.returncode == 6 and "does not match the checksum" in proc.stderr
    assert not (pipeline / "out" / "t.csv").exists()


def test_explain_one_customer_in_text_and_json(pipeline):
    s = pd.read_csv(pipeline / "out" / "scores.csv", dtype=str, keep_default_na=False)
    top = s.iloc[0]
    proc = run("explain", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--customer", top["customer_id"], cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    assert f"Customer {top['customer_id']}" in proc.stdout and "What raises the risk" in proc.stdout
    assert f"Recommended action: {top['recommended_action']}" in proc.stdout
    proc = run("explain", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--customer", top["customer_id"], "--format", "json", cwd=pipeline)
    payload = json.loads(proc.stdout)
    assert payload["customer_id"] == top["customer_id"]
    assert f"{payload['churn_probability']:.4f}" == top["churn_probability"]
    assert payload["primary_cause"] == top["primary_cause"] and payload["recommended_action"] == top["recommended_action"]
    assert payload["raises_risk"] and all(r["contribution"] > 0 for r in payload["raises_risk"])
    unknown = run("explain", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--customer", top["customer_id"].lstrip("0"), cwd=pipeline)
    assert unknown.returncode == 7 and "matched exactly as text" in unknown.stderr


def test_signed_bundles_score_only_with_the_key(pipeline, tmp_path):
    import os

    env_cfg = tmp_path / "signed.yaml"
    env_cfg.write_text("signing:\n  key_env: CHURNML_TEST_SIGNING_KEY\n")
    signed = io.write_bundle(io.read_bundle(pipeline / "models" / "latest"), tmp_path / "signed_models", key=b"k3y")

    def score(model, env):
        return subprocess.run([CHURNML, "score", "--data", "data", "--as-of", AS_OF, "--model", str(model), "--config", str(env_cfg),
                               "--out", str(tmp_path / "s.csv")], capture_output=True, text=True, cwd=pipeline, timeout=900,
                              env={**os.environ, **env})

    missing = score(signed, {})
    assert missing.returncode == 3 and "CHURNML_TEST_SIGNING_KEY is not set" in missing.stderr
    wrong = score(signed, {"CHURNML_TEST_SIGNING_KEY": "other"})
    assert wrong.returncode == 6 and "signature" in wrong.stderr
    unsigned = score(pipeline / "models" / "latest", {"CHURNML_TEST_SIGNING_KEY": "k3y"})
    assert unsigned.returncode == 6 and "not signed" in unsigned.stderr
    assert not (tmp_path / "s.csv").exists()  # a refused model writes nothing
    right = score(signed, {"CHURNML_TEST_SIGNING_KEY": "k3y"})
    assert right.returncode == 0, right.stderr
    assert (tmp_path / "s.csv").read_text() == (pipeline / "out" / "scores.csv").read_text()


WINBACK = ["customer_id", "as_of_date", "churn_date", "days_since_churn", "cause_at_churn", "cause_share", "reason_1",
           "reason_2", "reason_3", "return_probability", "expected_months", "expected_value", "recommended_action", "model_version"]


@pytest.fixture(scope="module")
def winback_run(pipeline):
    proc = run("winback", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/winback.csv", cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    return pipeline


def test_train_puts_a_return_model_in_the_bundle(pipeline):
    meta = json.loads((pipeline / "models" / "latest" / "bundle.json").read_text())
    wb = meta["winback"]
    assert "return_model.txt" in meta["attachments"] and (pipeline / "models" / "latest" / "return_model.txt").is_file()
    # This portfolio is too small for a return model worth much (quality: tests/modeling/test_cause_accuracy.py);
    # here: it is evaluated out of time against its baseline and the stays curve is in the bundle.
    rm = wb["return_model"]
    assert 0 <= rm["model"]["roc_auc"] <= 1 and 0 <= rm["logistic"]["roc_auc"] <= 1 and 0 < wb["expected_months"] <= 24
    assert min(rm["rows"].values()) > 0 and rm["split"].startswith("train to")
    assert wb["stays_curve"]["survival"][0] == 1.0 and len(wb["stays_curve"]["months"]) == len(wb["stays_curve"]["survival"])


def test_winback_follows_the_contract(winback_run):
    text = (winback_run / "out" / "winback.csv").read_text()
    assert "\r" not in text and text.splitlines()[0].split(",")[: len(WINBACK)] == WINBACK
    w = pd.read_csv(winback_run / "out" / "winback.csv", dtype=str, keep_default_na=False)
    assert len(w) > 0 and (w["as_of_date"] == AS_OF).all()
    days = w["days_since_churn"].astype(int)
    assert days.between(30, 60).all()
    assert ((pd.Timestamp(AS_OF) - pd.to_datetime(w["churn_date"])).dt.days == days).all()
    assert w["cause_at_churn"].isin(["price", "service", "other"]).all()
    assert w["return_probability"].str.fullmatch(r"[01]\.\d{4}").all()
    assert w["expected_months"].str.fullmatch(r"\d+\.\d").all() and w["expected_value"].str.fullmatch(r"-?\d+\.\d{2}").all()
    value = w["expected_value"].astype(float)
    assert value.is_monotonic_decreasing
    ties = w.groupby(value)["customer_id"].apply(lambda ids: ids.is_monotonic_increasing)
    assert ties.all()
    assert w["recommended_action"].isin(["winback_offer", "winback_service_call", "none"]).all()
    acting = w["recommended_action"] != "none"
    assert (value[acting] > 0).all() and (value[~acting] <= 0).all()
    assert (w.loc[acting & (w["cause_at_churn"] == "service"), "recommended_action"] == "winback_service_call").all()
    assert (w.loc[acting & (w["cause_at_churn"] == "price"), "recommended_action"] == "winback_offer").all()
    # Nobody listed is active at T, and every listed id is a customer of the data.
    subs = io.load_dataset(winback_run / "data").dataset.subscriptions
    from churnml.lifecycle import active_customers

    assert not set(w["customer_id"]) & set(active_customers(subs, AS_OF))
    assert set(w["customer_id"]) <= set(subs["customer_id"])
    m = json.loads((winback_run / "out" / "winback.manifest.json").read_text())
    assert m["output"]["rows"] == len(w) and m["counts"]["passing_gate"] == int(acting.sum())


def test_winback_rerun_and_point_in_time(winback_run):
    proc = run("winback", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/winback2.csv", cwd=winback_run)
    assert proc.returncode == 0, proc.stderr
    assert (winback_run / "out" / "winback2.csv").read_bytes() == (winback_run / "out" / "winback.csv").read_bytes()
    if not (winback_run / "cut").exists():
        io.write_dataset(io.load_dataset(winback_run / "data").dataset.known_at(AS_OF), winback_run / "cut", "csv")
    proc = run("winback", "--data", "cut", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/winback_cut.csv", cwd=winback_run)
    assert proc.returncode == 0, proc.stderr
    assert (winback_run / "out" / "winback_cut.csv").read_bytes() == (winback_run / "out" / "winback.csv").read_bytes()


def test_winback_text_is_formula_safe(winback_run):
    w = pd.read_csv(winback_run / "out" / "winback.csv", dtype=str, keep_default_na=False)
    numbers = {"days_since_churn", "cause_share", "return_probability", "expected_months", "expected_value", "monthly_margin", "cost"}
    for c in [c for c in w.columns if c not in numbers]:
        assert not w[c].str.match(r"^[=+\-@\t\r]").any(), c


def test_a_cost_above_any_value_gives_no_action(winback_run):
    (winback_run / "costly.yaml").write_text("winback:\n  acquisition_cost: 1000000\n")
    proc = run("winback", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--config", "costly.yaml",
               "--out", "out/costly.csv", cwd=winback_run)
    assert proc.returncode == 0, proc.stderr
    w = pd.read_csv(winback_run / "out" / "costly.csv", dtype=str, keep_default_na=False)
    assert len(w) and (w["recommended_action"] == "none").all()
    assert w["action_reason"].str.contains("is not above 0.00").all()


def test_winback_without_a_return_model_is_exit_6(winback_run, tmp_path):
    bundle = tmp_path / "old"
    shutil.copytree(winback_run / "models" / "latest", bundle)
    (bundle / "return_model.txt").unlink()
    proc = run("winback", "--data", "data", "--as-of", AS_OF, "--model", str(bundle), "--out", "out/x.csv", cwd=winback_run)
    assert proc.returncode == 6 and "return_model.txt is missing" in proc.stderr
    (bundle / "return_model.txt").write_text((winback_run / "models" / "latest" / "return_model.txt").read_text().replace("Tree=0", "Tree=00", 1))
    proc = run("winback", "--data", "data", "--as-of", AS_OF, "--model", str(bundle), "--out", "out/x.csv", cwd=winback_run)
    assert proc.returncode == 6 and "return_model.txt does not match the checksum" in proc.stderr


def test_the_report_has_a_winback_section(winback_run):
    proc = run("report", "--scores", "out/scores.csv", "--winback", "out/winback.csv", "--out", "out/report_wb", cwd=winback_run)
    assert proc.returncode == 0, proc.stderr
    html = (winback_run / "out" / "report_wb" / "index.html").read_text()
    assert 'id="winback"' in html and "Churned in window" in html
    assert (winback_run / "out" / "report_wb" / "assets" / "winback_values.png").stat().st_size > 1000


def test_the_report_states_the_configured_winback_gate(winback_run):
    (winback_run / "gate.yaml").write_text("winback:\n  min_expected_value: 25\n")
    proc = run("winback", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--config", "gate.yaml",
               "--out", "out/gated.csv", cwd=winback_run)
    assert proc.returncode == 0, proc.stderr
    w = pd.read_csv(winback_run / "out" / "gated.csv", keep_default_na=False)
    assert (w.loc[w["recommended_action"] != "none", "expected_value"] > 25).all()
    proc = run("report", "--scores", "out/scores.csv", "--winback", "out/gated.csv", "--out", "out/report_gate", cwd=winback_run)
    assert proc.returncode == 0, proc.stderr
    html = (winback_run / "out" / "report_gate" / "index.html").read_text()
    assert "only a value above 25 (<code>winback.min_expected_value</code>) earns an action" in html
    assert "only a positive value" not in html


def test_a_partitioned_dataset_gives_byte_identical_outputs(winback_run, tmp_path):
    """churnml partition writes hive-style buckets; features, train, score and winback read it as --data and give
    the same bytes as the flat folder (features parquet, model.txt, scores and win-back CSVs)."""
    root = winback_run
    proc = run("partition", "--data", "data", "--out", str(tmp_path / "parts"), "--buckets", "7", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "parts" / "subscriptions").iterdir()) == [f"customer_bucket={k}" for k in range(7)]
    again = run("partition", "--data", "data", "--out", str(tmp_path / "parts"), "--buckets", "3", cwd=root)
    assert again.returncode == 2 and "exists" in again.stderr
    parts = str(tmp_path / "parts")
    assert run("score", "--data", parts, "--as-of", AS_OF, "--model", "models/latest", "--out", str(tmp_path / "s.csv"), cwd=root).returncode == 0
    assert (tmp_path / "s.csv").read_bytes() == (root / "out" / "scores.csv").read_bytes()
    assert run("winback", "--data", parts, "--as-of", AS_OF, "--model", "models/latest", "--out", str(tmp_path / "w.csv"), cwd=root).returncode == 0
    assert (tmp_path / "w.csv").read_bytes() == (root / "out" / "winback.csv").read_bytes()
    for data, out in (("data", tmp_path / "f_flat.parquet"), (parts, tmp_path / "f_parts.parquet")):
        assert run("features", "--data", data, "--as-of", AS_OF, "--out", str(out), cwd=root).returncode == 0
    assert (tmp_path / "f_flat.parquet").read_bytes() == (tmp_path / "f_parts.parquet").read_bytes()
    customer = pd.read_csv(root / "out" / "scores.csv", dtype=str)["customer_id"].iloc[0]
    explained = [run("explain", "--data", d, "--as-of", AS_OF, "--model", "models/latest", "--customer", customer, "--format", "json", cwd=root)
                 for d in ("data", parts)]
    assert explained[0].returncode == 0 and explained[0].stdout == explained[1].stdout  # only the customer's bucket is read
    proc = run("train", "--data", parts, "--as-of", AS_OF, "--config", "fast.yaml", "--model-dir", str(tmp_path / "m"), cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "latest" / "model.txt").read_bytes() == (root / "models" / "latest" / "model.txt").read_bytes()


def test_a_local_cluster_of_two_workers_gives_the_in_process_bytes(winback_run, tmp_path):
    """--engine dask --scheduler local:2: every bucket is worked on the cluster's worker processes (the scheduler's
    count of tasks per worker says so) and features, model.txt, scores and win-back CSVs are byte-identical to the
    in-process run."""
    root = winback_run
    parts = str(tmp_path / "parts")
    assert run("partition", "--data", "data", "--out", parts, "--buckets", "6", cwd=root).returncode == 0
    dask = ("--engine", "dask", "--scheduler", "local:2")
    for kind, reference in (("score", root / "out" / "scores.csv"), ("winback", root / "out" / "winback.csv")):
        out = tmp_path / f"{kind}.csv"
        proc = run(kind, "--data", parts, "--as-of", AS_OF, "--model", "models/latest", "--out", str(out), *dask, cwd=root)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes() == reference.read_bytes()
        engine = json.loads(io.manifest_path(out).read_text())["engine"]
        assert engine["kind"] == "dask" and engine["workers"] == 2 and engine["tasks"] >= 3 * 6
        assert sum(engine["tasks_by_worker"].values()) == engine["tasks"]
        assert "Dask:" in proc.stderr
    assert run("features", "--data", "data", "--as-of", AS_OF, "--out", str(tmp_path / "f.parquet"), cwd=root).returncode == 0
    proc = run("features", "--data", parts, "--as-of", AS_OF, "--out", str(tmp_path / "f_dask.parquet"), *dask, cwd=root)
    assert proc.returncode == 0 and "Dask: 18 tasks" in proc.stderr, proc.stderr  # validation, context, features
    assert (tmp_path / "f_dask.parquet").read_bytes() == (tmp_path / "f.parquet").read_bytes()
    proc = run("train", "--data", parts, "--as-of", AS_OF, "--config", "fast.yaml", "--model-dir", str(tmp_path / "m"), *dask, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "Dask:" in proc.stderr
    for name in ("model.txt", "return_model.txt"):
        assert (tmp_path / "m" / "latest" / name).read_bytes() == (root / "models" / "latest" / name).read_bytes()
    proc = run("validate", "--data", parts, *dask, cwd=root)
    assert proc.returncode == 0 and "Dask: 6 tasks" in proc.stderr, proc.stderr


def test_engine_mistakes_are_usage_errors(pipeline):
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "out/x.csv", "--engine", "dask", "--scheduler", "local:2", cwd=pipeline)
    assert proc.returncode == 2 and "churnml partition" in proc.stderr
    assert not (pipeline / "out" / "x.csv").exists()
    proc = run("features", "--data", "data", "--as-of", AS_OF, "--out", "out/f.parquet", "--scheduler", "local:2", cwd=pipeline)
    assert proc.returncode == 2 and "--engine dask" in proc.stderr


def test_monthly_runs_keep_a_history_and_a_broken_feed_stops_the_crm_import(pipeline, tmp_path):
    """Each run keeps its history beside its scores; the next run compares with it: previous probability and change
    columns, flag moves in the manifest; a feed that stops delivering is reported on the first run after it breaks,
    and --fail-on-drift publishes the scores but exits 10."""
    data = io.load_dataset(pipeline / "data").dataset
    broken = tmp_path / "broken"
    contacts = data.support_contacts
    io.write_dataset(data.replace(support_contacts=contacts[contacts["timestamp"] < "2025-03-01"]), broken, "csv")
    (tmp_path / "keep.yaml").write_text("monitoring:\n  keep_runs: 1\n")
    out = tmp_path / "monthly.csv"
    for as_of in ("2025-02-01", "2025-03-01"):
        proc = run("score", "--data", str(broken), "--as-of", as_of, "--model", str(pipeline / "models" / "latest"), "--out", str(out),
                   "--config", str(tmp_path / "keep.yaml"), cwd=pipeline)
        assert proc.returncode == 0, proc.stderr
        assert "support_contacts" not in proc.stderr  # the feed still delivers
    s = pd.read_csv(out, dtype={"customer_id": str})
    known = s["previous_probability"].notna()
    assert known.mean() > 0.9 and s.loc[~known, "risk_change"].isna().all()
    assert ((s["risk_change"] - (s["churn_probability"] - s["previous_probability"]))[known].abs() <= 1.0001e-4).all()  # 4 decimals each
    assert s.loc[s["flagged"] & known, "change_cause"].fillna("").isin(["price", "service", "other", ""]).all()
    assert (s.loc[s["flagged"] & known, "change_cause"].notna().mean()) > 0.9
    manifest = json.loads(io.manifest_path(out).read_text())
    assert manifest["monitoring"]["previous_as_of"] == "2025-02-01" and "newly_flagged" in manifest["monitoring"]["transitions"]
    assert 0.5 < manifest["monitoring"]["expected"]["expected_roc_auc"] < 1

    proc = run("score", "--data", str(broken), "--as-of", "2025-04-01", "--model", str(pipeline / "models" / "latest"), "--out", str(out),
               "--config", str(tmp_path / "keep.yaml"), "--fail-on-drift", cwd=pipeline)
    assert proc.returncode == 10, proc.stderr
    assert "support_contacts" in proc.stderr and "published" in proc.stderr
    final = pd.read_csv(out, dtype=str)
    assert (final["as_of_date"] == "2025-04-01").all()  # published for analysts all the same
    runs = io.past_runs(io.runs_folder(out))
    assert [r.run["as_of"] for r in runs] == ["2025-03-01", "2025-04-01"]  # keep_runs: 1 earlier run beside the current
    last = runs[-1]
    assert sorted(last.customers()["customer_id"]) == sorted(final["customer_id"])
    assert {"customers.parquet", "run.json", "features"} <= {p.name for p in last.folder.iterdir()}
    assert last.features(list(final["customer_id"][:5])).shape[0] == 5
    # explain --scores tells the same change for a flagged customer as the scores file
    row = final[(final["flagged"] == "true") & final["change_cause"].notna()].iloc[0]
    proc = run("explain", "--data", str(broken), "--as-of", "2025-04-01", "--model", str(pipeline / "models" / "latest"),
               "--customer", row["customer_id"], "--scores", str(out), "--format", "json", cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    since = json.loads(proc.stdout)["since_previous_run"]
    assert since["previous_as_of"] == "2025-03-01" and since["change_cause"] == row["change_cause"]
    assert round(since["previous_probability"], 4) == float(row["previous_probability"])
    assert since["change_reason"] == row["change_reason"]
    # backtest: both kept runs have matured in the data (60 + 30 days after 2025-04-01 is its last day, 2025-06-30)
    table_path = tmp_path / "backtest.csv"
    proc = run("backtest", "--data", str(pipeline / "data"), "--runs", str(out), "--out", str(table_path), cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(table_path)
    assert table["as_of"].tolist() == ["2025-03-01", "2025-04-01"] and table["matured"].tolist() == [True, True]
    assert table["roc_auc"].between(0.5, 1).all() and table_path.with_suffix(".png").is_file()
    assert (table["customers_with_outcome"] == table["customers"]).all()


def test_histories_can_live_in_a_folder_of_their_own(pipeline, tmp_path):
    """monitoring.history_dir: each run's history goes to DIR/FILE-HASH/RUN/history, published with the pair and
    kept as long as keep_runs says; the next run, explain --scores, backtest and the report find it there."""
    hist = tmp_path / "histories"
    (tmp_path / "hist.yaml").write_text(f"monitoring:\n  keep_runs: 1\n  history_dir: {hist}\n")
    out = tmp_path / "nightly" / "scores.csv"
    model = str(pipeline / "models" / "latest")
    for as_of in ("2025-02-01", "2025-03-01", "2025-04-01"):
        proc = run("score", "--data", "data", "--as-of", as_of, "--model", model, "--out", str(out), "--config", str(tmp_path / "hist.yaml"), cwd=pipeline)
        assert proc.returncode == 0, proc.stderr
    root = io.history_folder(out, hist)
    assert root.parent == hist and root.name.startswith("scores.csv-")
    assert not list(io.runs_folder(out).glob(f"*/{io.HISTORY}"))  # nothing beside the scores
    assert [r.run["as_of"] for r in io.past_runs(root)] == ["2025-03-01", "2025-04-01"]  # keep_runs: 1 earlier
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
    manifest = json.loads(io.manifest_path(out).read_text())
    assert manifest["monitoring"]["history_folder"] == str(root.absolute())
    assert manifest["monitoring"]["previous_as_of"] == "2025-03-01"
    s = pd.read_csv(out, dtype={"customer_id": str})
    assert s["previous_probability"].notna().mean() > 0.9
    row = s[s["flagged"] & s["change_cause"].notna()].iloc[0]
    proc = run("explain", "--data", "data", "--as-of", "2025-04-01", "--model", model, "--customer", row["customer_id"],
               "--scores", str(out), "--format", "json", cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["since_previous_run"]["previous_as_of"] == "2025-03-01"
    proc = run("backtest", "--data", "data", "--runs", str(out), "--out", str(tmp_path / "bt.csv"), cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    assert pd.read_csv(tmp_path / "bt.csv")["as_of"].tolist() == ["2025-03-01", "2025-04-01"]
    proc = run("report", "--scores", str(out), "--out", str(tmp_path / "report"), cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    assert "2 runs of this scores file from 2025-03-01 to 2025-04-01" in (tmp_path / "report" / "index.html").read_text()
