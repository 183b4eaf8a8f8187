"""An MLflow run with metrics and a registered model version, in a temporary tracking folder."""

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from test_train import FAMILIES, FAST, _snapshots, _without_truth

from churnml import io
from churnml.modeling.train import train_model
from churnml.plots import evaluation_figures
from churnml.tracking import log_training_run


def test_training_run_is_tracked_and_registered(tmp_path):
    snaps = _without_truth(_snapshots(600, 4))
    result = train_model(snaps, FAST, FAMILIES, as_of=pd.Timestamp("2025-12-01"))
    bundle_dir = io.write_bundle(result.bundle, tmp_path / "models")
    figures = io.save_figures(evaluation_figures(result, FAMILIES, 0.1), tmp_path / "eval")
    assert {p.stem for p in figures} == {"roc", "precision_recall", "reliability", "lift", "importance", "shap_summary"}

    run = log_training_run(
        cfg=FAST.tracking, base_dir=tmp_path, params={"as_of": "2025-12-01"}, config_dump=FAST.model_dump(mode="json"),
        fingerprint={"sha256": "abc"}, metrics=result.metrics, bundle_dir=bundle_dir, figures_dir=tmp_path / "eval", run_name="test",
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

    pyfunc = mlflow.pyfunc.load_model(f"models:/{run.registered_model}/{run.model_version}")
    X = snaps.drop(columns=["snapshot_date", "customer_id", "lifecycle_stage", "label"]).head(20)
    np.testing.assert_allclose(pyfunc.predict(X).to_numpy(), result.bundle.predict(X))
