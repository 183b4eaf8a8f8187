"""An MLflow run with metrics and a registered model version, in a temporary tracking folder."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from test_train import FAMILIES, FAST, _snapshots, _without_truth

from churnml import io
from churnml.modeling.train import train_model
from churnml.plots import evaluation_figures
from churnml.tracking import log_training_run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow


def test_training_run_is_tracked_and_registered(tmp_path):
    snaps = _without_truth(_snapshots(600, 4))
    result = train_model(snaps, FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"))
    bundle_dir = io.write_bundle(result.bundle, tmp_path / "models")
    figures = io.save_figures(evaluation_figures(result, FAMILIES, 0.1), tmp_path / "eval")
    assert {p.stem for p in figures} == {"roc", "precision_recall", "reliability", "lift", "importance", "shap_summary"}

    run = log_training_run(
        cfg=FAST.tracking, base_dir=tmp_path, params={"as_of": "2025-12-01"}, config_dump=FAST.model_dump(mode="json"),
        fingerprint={"sha256": "abc"}, metrics=result.metrics, bundle_dir=bundle_dir, figures_dir=tmp_path / "eval", run_name="test",
        input_example=snaps[[f.name for f in result.bundle.features]].head(5),
    )
    assert run.tracking_uri.startswith("sqlite:///") and (tmp_path / "mlflow.db").exists()
    client = MlflowClient(run.tracking_uri)
    logged = client.get_run(run.run_id).data.metrics
    assert np.isclose(logged["model_roc_auc"], result.metrics["model"]["roc_auc"])
    assert "logistic_brier" in logged and "by_stage_new_roc_auc" in logged
    assert run.model_version == "1"
    artifacts = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"evaluation", "bundle", "config.json", "data_fingerprint.json"} <= artifacts
    mlflow.set_tracking_uri(run.tracking_uri)
    models = mlflow.search_logged_models(experiment_ids=[run.experiment_id], output_format="list")
    assert {m.name for m in models if m.source_run_id == run.run_id} == {"booster", "churn_probability"}

    # A new version is the challenger; its signature lets every feature be missing, categories as text.
    assert run.alias == "challenger"
    assert str(client.get_model_version_by_alias(run.registered_model, "challenger").version) == "1"
    pyfunc = mlflow.pyfunc.load_model(f"models:/{run.registered_model}@challenger")
    inputs = pyfunc.metadata.get_input_schema().to_dict()
    assert [c["name"] for c in inputs] == [f.name for f in result.bundle.features]
    assert all(not c["required"] for c in inputs)
    assert {c["type"] for c in inputs if c["name"] in {f.name for f in result.bundle.features if f.dtype == "category"}} <= {"string"}
    X = snaps.drop(columns=["snapshot_date", "customer_id", "lifecycle_stage", "label"]).head(20)
    as_text = X.astype({c: object for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)})
    np.testing.assert_allclose(pyfunc.predict(as_text).to_numpy(), result.bundle.predict(X))


def test_the_registry_is_a_deployment_path(tmp_path):
    """train registers @challenger; score reads models:/NAME@ALIAS byte-identically to the folder and records the
    version; promote moves @champion; an altered artifact is refused (6), as is an unknown alias or version."""
    import json

    from robust_helpers import run as cli

    AS_OF = "2025-03-01"
    (tmp_path / "fast.yaml").write_text("model:\n  max_rounds: 40\n  num_threads: 2\n")
    assert cli("generate", "--out", "data", "--customers", "1200", "--seed", "3", "--months", "16", cwd=tmp_path).returncode == 0
    trained = cli("train", "--data", "data", "--as-of", AS_OF, "--config", "fast.yaml", "--model-dir", "models", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert "as @challenger" in " ".join(trained.stdout.split())

    def score(model: str, out: str):
        return cli("score", "--data", "data", "--as-of", AS_OF, "--config", "fast.yaml", "--model", model, "--out", out, cwd=tmp_path)

    assert score("models/latest", "folder.csv").returncode == 0
    missing = score("models:/churnml-churn@champion", "none.csv")
    assert missing.returncode == 6 and "alias champion not found" in missing.stderr.lower()
    assert score("models:/churnml-churn/7", "none.csv").returncode == 6
    assert not (tmp_path / "none.csv").exists()
    assert score("models:/churnml-churn@challenger", "challenger.csv").returncode == 0
    promoted = cli("promote", "--model", "models:/churnml-churn@challenger", "--config", "fast.yaml", cwd=tmp_path)
    assert promoted.returncode == 0 and "is now @champion" in promoted.stdout, promoted.stderr
    assert score("models:/churnml-churn@champion", "champion.csv").returncode == 0
    folder = (tmp_path / "folder.csv").read_bytes()
    assert (tmp_path / "challenger.csv").read_bytes() == folder == (tmp_path / "champion.csv").read_bytes()
    manifest = json.loads((tmp_path / "champion.manifest.json").read_text())
    assert manifest["model"]["registry"]["version"] == "1" and manifest["model"]["registry"]["aliases"] == ["challenger", "champion"]
    assert manifest["model"]["registry"]["run_id"]

    model_txt = next((tmp_path / "mlartifacts").rglob("bundle/model.txt"))
    model_txt.write_text(model_txt.read_text().replace("leaf_value=", "leaf_value=1", 1))
    altered = score("models:/churnml-churn@champion", "altered.csv")
    assert altered.returncode == 6 and "models:/churnml-churn@champion (v1" in altered.stderr and "checksum" in altered.stderr
    refused = cli("promote", "--model", "models:/churnml-churn/1", "--alias", "gold", "--config", "fast.yaml", cwd=tmp_path)
    assert refused.returncode == 6 and "gold" not in json.dumps(manifest)


@pytest.mark.parametrize(("args", "status", "says"), [
    (("promote", "--model", "models:/churnml-churn/1", "--alias", "v1"), 2, "MLflow reserves"),
    (("promote", "--model", "models:/churnml-churn/1", "--alias", "Champion"), 2, "lower-case"),
    (("promote", "--model", "models/latest"), 2, "give a registry reference"),
    (("score", "--data", "d", "--as-of", "2025-03-01", "--model", "models:/a/b/c", "--out", "s.csv"), 2, "not a registry reference"),
    (("score", "--data", "d", "--as-of", "2025-03-01", "--model", "models:/churnml-churn/1", "--out", "models:/x@champion"), 2, "reads as a registry reference"),
    (("promote", "--model", "models:/churnml-churn/1"), 6, "no registry at"),
], ids=["reserved_alias", "upper_case_alias", "folder_to_promote", "malformed_reference", "reference_as_out", "no_store"])
def test_registry_mistakes_get_their_status_and_create_nothing(tmp_path, args, status, says):
    from robust_helpers import run as cli

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "subscriptions.csv").write_text("customer_id,start_date,end_date,plan,monthly_price\n1,2024-01-01,,a,1\n")
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert says in " ".join(proc.stderr.split())
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "models:").exists()


def test_a_store_that_is_not_a_database_is_a_config_error(tmp_path):
    from robust_helpers import run as cli

    (tmp_path / "mlflow.db").write_text("garbage")
    proc = cli("promote", "--model", "models:/churnml-churn/1", cwd=tmp_path)
    assert proc.returncode == 3 and "tracking.tracking_uri" in proc.stderr and "not a database" in proc.stderr, proc.stderr
