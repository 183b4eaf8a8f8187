"""MLflow tracking of training runs: parameters, resolved config, data fingerprint, metrics, plots, model.

By default runs go to a SQLite store and an artifact folder inside the working directory (both git-ignored);
``tracking.tracking_uri`` points them anywhere MLflow can reach.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churnml.config import TrackingConfig

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")


@dataclass(frozen=True)
class TrackedRun:
    tracking_uri: str
    experiment_id: str
    run_id: str
    registered_model: str
    model_version: str


def resolve_tracking(cfg: TrackingConfig, base_dir: Path) -> tuple[str, str]:
    """Tracking URI and artifact location; relative defaults live in ``base_dir``."""
    uri = cfg.tracking_uri or f"sqlite:///{(base_dir / 'mlflow.db').resolve()}"
    artifacts = cfg.artifact_location or (base_dir / "mlartifacts").resolve().as_uri()
    return uri, artifacts


def _flatten(prefix: str, value: Any, out: dict[str, float]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}_{k}" if prefix else str(k), v, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        out[prefix] = float(value)


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's own chatter (alembic migrations, model-from-code notices, upload progress bars) is noise in a
    nightly log; silenced only while churnml logs, so a notebook's own MLflow use is left as it was."""
    loggers = {name: logging.getLogger(name) for name in ("mlflow", "alembic")}
    levels = {name: logger.level for name, logger in loggers.items()}
    variable = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(variable)
    for logger in loggers.values():
        logger.setLevel(logging.ERROR)
    if before is None:
        os.environ[variable] = "false"
    try:
        yield
    finally:
        for name, logger in loggers.items():
            logger.setLevel(levels[name])
        if before is None:
            os.environ.pop(variable, None)


def log_training_run(
    *,
    cfg: TrackingConfig,
    base_dir: Path,
    params: dict[str, Any],
    config_dump: dict[str, Any],
    fingerprint: dict[str, Any],
    metrics: dict[str, Any],
    bundle_dir: Path,
    figures_dir: Path,
    run_name: str,
) -> TrackedRun:
    """Log one training run and register its model as a new version; return where it landed."""
    with _quiet_mlflow():
        import mlflow
        from mlflow.tracking import MlflowClient

        uri, artifacts = resolve_tracking(cfg, base_dir)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        client = MlflowClient(uri)
        experiment = client.get_experiment_by_name(cfg.experiment)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(cfg.experiment, artifact_location=artifacts)

        flat: dict[str, float] = {}
        _flatten("", metrics, flat)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
                mlflow.log_params({k: (v if v is not None else "none") for k, v in params.items()})
                mlflow.log_metrics({k.replace("/", "_"): v for k, v in flat.items()})
                mlflow.log_dict(config_dump, "config.json")
                mlflow.log_dict(fingerprint, "data_fingerprint.json")
                mlflow.set_tags({"churnml.data_sha256": fingerprint.get("sha256", ""), "churnml.bundle": bundle_dir.name})
                mlflow.log_artifacts(str(figures_dir), "evaluation")
                mlflow.log_artifacts(str(bundle_dir), "bundle")
                import lightgbm as lgb

                # The native booster (LightGBM text format), never the scikit-learn wrapper pickle.
                mlflow.lightgbm.log_model(lgb.Booster(model_file=str(bundle_dir / "model.txt")), name="booster")
                info = mlflow.pyfunc.log_model(
                    name="churn_probability",
                    python_model=str(PYFUNC_CODE),
                    artifacts={"bundle": str(bundle_dir)},
                    registered_model_name=cfg.registered_model,
                    pip_requirements=["churnml", "lightgbm", "pandas", "mlflow"],
                )
                version = str(info.registered_model_version) if info.registered_model_version is not None else ""
        return TrackedRun(uri, experiment_id, run.info.run_id, cfg.registered_model, version)


def metrics_json(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, indent=2, sort_keys=True, default=float)
