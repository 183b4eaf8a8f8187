"""MLflow tracking of training runs: parameters, resolved config, data fingerprint, metrics, plots, model.

By default runs go to a SQLite store and an artifact folder inside the working directory (both git-ignored);
``tracking.tracking_uri`` points them anywhere MLflow can reach.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from churnml.config import TrackingConfig
from churnml.errors import ModelError

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")


@dataclass(frozen=True)
class TrackedRun:
    tracking_uri: str
    experiment_id: str
    run_id: str
    registered_model: str
    model_version: str
    alias: str = ""


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


def _signature(example: Any) -> tuple[Any, Any]:
    """The registered model's signature from the feature columns (every one may be missing: nullable doubles and
    category strings), and the example with categories as plain text, as a serving request carries them."""
    if example is None:
        return None, None
    import pandas as pd
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema

    columns: list[Any] = []
    plain: dict[str, Any] = {}
    for name in example.columns:
        values = example[name]
        if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(values.dtype):
            columns.append(ColSpec(DataType.string, name, required=False))
            plain[name] = values.astype(object).where(values.notna(), None)
        else:
            columns.append(ColSpec(DataType.double, name, required=False))
            plain[name] = values.astype("float64")
    outputs = Schema([ColSpec(DataType.double, "churn_probability")])
    return ModelSignature(inputs=Schema(columns), outputs=outputs), pd.DataFrame(plain)


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's own chatter (alembic migrations, model-from-code notices, upload progress bars) is noise in a
    nightly log; silenced only while churnml logs, so a notebook's own MLflow use is left as it was."""
    import mlflow  # noqa: F401 - mlflow sets its own log levels on import: import it before quieting them

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
    input_example: Any = None,
    alias: str = "challenger",
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
                # A signature and an example let a serving layer check its input before it reaches the model.
                signature, example = _signature(input_example)
                info = mlflow.pyfunc.log_model(
                    name="churn_probability",
                    python_model=str(PYFUNC_CODE),
                    artifacts={"bundle": str(bundle_dir)},
                    registered_model_name=cfg.registered_model,
                    pip_requirements=["churnml", "lightgbm", "pandas", "mlflow"],
                    signature=signature,
                    input_example=example,
                )
                version = str(info.registered_model_version) if info.registered_model_version is not None else ""
            if version and alias:
                # A new model is a challenger; only `churnml promote` makes it the champion the nightly job uses.
                client.set_registered_model_alias(cfg.registered_model, alias, version)
        return TrackedRun(uri, experiment_id, run.info.run_id, cfg.registered_model, version, alias if version else "")


def _experiment_id(cfg: TrackingConfig, base_dir: Path) -> str:
    """Point MLflow at the configured store and return the experiment's id (created on first use)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri, artifacts = resolve_tracking(cfg, base_dir)
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.experiment)
    return experiment.experiment_id if experiment else client.create_experiment(cfg.experiment, artifact_location=artifacts)


def log_backtest(table: Any, cfg: TrackingConfig, base_dir: Path) -> str:
    """Log a backtest as one MLflow run: each measured figure as a metric series keyed by run date (the metric's
    timestamp is the run's as-of date, its step the days since the first); return the run id."""
    import math
    from datetime import UTC, datetime

    with _quiet_mlflow():
        import mlflow

        experiment_id = _experiment_id(cfg, base_dir)
        dates = [datetime.fromisoformat(str(d)).replace(tzinfo=UTC) for d in table["as_of"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run(experiment_id=experiment_id, run_name="backtest") as run:
                mlflow.set_tags({"churnml.kind": "backtest", "churnml.run_dates": ",".join(str(d) for d in table["as_of"])})
                for name in ("roc_auc", "expected_roc_auc", "top_decile_lift", "precision_flagged", "observed_churn_rate",
                             "predicted_churn_rate", "ece"):
                    for when, value in zip(dates, table[name], strict=True):
                        if value is not None and not (isinstance(value, float) and math.isnan(value)):
                            mlflow.log_metric(f"backtest_{name}", float(value), step=(when - dates[0]).days,
                                              timestamp=int(when.timestamp() * 1000))
        return str(run.info.run_id)


def log_outcomes(summary: dict[str, float], cfg: TrackingConfig, base_dir: Path) -> str:
    """Log what the remedies did as one MLflow run of metrics (``outcomes_*``); return the run id."""
    import math

    with _quiet_mlflow():
        import mlflow

        experiment_id = _experiment_id(cfg, base_dir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mlflow.start_run(experiment_id=experiment_id, run_name="outcomes") as run:
                mlflow.set_tags({"churnml.kind": "outcomes"})
                mlflow.log_metrics({f"outcomes_{k}": float(v) for k, v in summary.items()
                                    if v is not None and not (isinstance(v, float) and math.isnan(v))})
        return str(run.info.run_id)


def metrics_json(metrics: dict[str, Any]) -> str:
    return json.dumps(metrics, indent=2, sort_keys=True, default=float)


# ---------------------------------------------------------------------------------------------- the registry

REGISTRY_SCHEME = "models:/"
_REFERENCE = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_-]+))$")


@dataclass(frozen=True)
class RegistryModel:
    """One registered model version, as a reference resolved it: what a manifest records."""

    reference: str
    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...]
    tracking_uri: str

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "aliases": list(self.aliases)}


def is_valid_reference(text: str) -> bool:
    """Whether ``text`` is ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""
    return _REFERENCE.match(text) is not None


def is_registry_reference(model: str | Path) -> bool:
    # A Path folds "models:/x" into "models:/x" but would fold "models://x" too: compare the text.
    return str(model).startswith(REGISTRY_SCHEME.rstrip("/"))


def _client(cfg: TrackingConfig, base_dir: Path) -> tuple[Any, str]:
    """A client of an existing registry: a lookup never creates a store (a typo would leave a second registry)."""
    from mlflow.tracking import MlflowClient

    uri, _ = resolve_tracking(cfg, base_dir)
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))  # sqlite:////abs/x.db -> /abs/x.db; sqlite:///x.db -> x.db
        if not path.is_file() or path.stat().st_size == 0:
            raise ModelError(f"no registry at {uri}: {path} is not an MLflow store; train there first, or point tracking.tracking_uri at the store")
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


@contextlib.contextmanager
def _registry_errors(reference: str, uri_hint: str) -> Iterator[None]:
    """A store MLflow cannot use (not a database, a folder, an unknown scheme) is the configuration's fault: status 3."""
    from churnml.errors import ConfigError

    try:
        yield
    except (ModelError, ConfigError):
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] not in ("mlflow", "sqlalchemy", "sqlite3", "requests", "urllib3") and not isinstance(exc, OSError):
            raise
        raise ConfigError(
            f"tracking.tracking_uri {uri_hint}: MLflow cannot use this store to look up {reference} "
            f"({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}); fix tracking.tracking_uri"
        ) from None


def resolve_registry_model(reference: str, cfg: TrackingConfig, base_dir: Path) -> RegistryModel:
    """The version ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` names in the registry of ``cfg``.

    Raises :class:`~churnml.errors.ModelError` (status 6) when the text is no such reference or the registry has no
    such model, version or alias.
    """
    match = _REFERENCE.match(str(reference))
    if match is None:
        raise ModelError(f"{reference}: not a registry reference; use models:/NAME/VERSION or models:/NAME@ALIAS "
                         "(or a bundle folder such as models/latest)")
    from mlflow.exceptions import MlflowException

    with _quiet_mlflow(), _registry_errors(str(reference), str(cfg.tracking_uri or "(default sqlite:///mlflow.db)")):
        client, uri = _client(cfg, base_dir)
        name = match["name"]
        try:
            found = client.get_model_version_by_alias(name, match["alias"]) if match["alias"] else client.get_model_version(name, match["version"])
        except MlflowException as exc:
            raise ModelError(
                f"{reference}: not in the registry at {uri} ({str(exc).strip().splitlines()[0][:200]}); check the name, "
                "version or alias (churnml train registers each model; churnml promote sets champion), or the config's "
                "tracking.tracking_uri"
            ) from None
    return RegistryModel(str(reference), name, str(found.version), str(found.run_id or ""),
                         tuple(sorted(getattr(found, "aliases", []) or [])), uri)


def download_bundle(model: RegistryModel, cfg: TrackingConfig, base_dir: Path, destination: Path) -> Path:
    """Copy the version's bundle folder (the run's ``bundle`` artifact) into ``destination``; verifying it is the
    reader's job, exactly as for a folder."""
    from mlflow.exceptions import MlflowException

    with _quiet_mlflow(), _registry_errors(model.reference, model.tracking_uri):
        client, _ = _client(cfg, base_dir)
        try:
            local = client.download_artifacts(model.run_id, "bundle", str(destination))
        except (MlflowException, OSError) as exc:
            raise ModelError(
                f"{model.reference}: the bundle of version {model.version} (run {model.run_id}) cannot be fetched "
                f"({str(exc).strip().splitlines()[0][:200]}); the run's artifacts may have been removed: retrain"
            ) from None
    return Path(local)


def set_alias(model: RegistryModel, alias: str, cfg: TrackingConfig, base_dir: Path) -> RegistryModel:
    """Point ``alias`` at ``model``'s version (moving it from any other); return the version as it now stands."""
    with _quiet_mlflow(), _registry_errors(model.reference, model.tracking_uri):
        client, _ = _client(cfg, base_dir)
        client.set_registered_model_alias(model.name, alias, model.version)
    return resolve_registry_model(f"{REGISTRY_SCHEME}{model.name}/{model.version}", cfg, base_dir)
