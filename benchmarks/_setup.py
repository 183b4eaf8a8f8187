"""What the benchmarks of the nightly job share: the configuration they score with and the churn model they train.

Imported by the scripts beside it (``python benchmarks/NAME.py`` puts this folder on the path).
"""

from __future__ import annotations

from typing import Any

import pandas as pd


def quiet_config(threads: int) -> Any:
    """The default configuration without MLflow tracking, LightGBM on ``threads`` threads."""
    from churnml.config import ChurnConfig

    base = ChurnConfig()
    return base.model_copy(update={"tracking": base.tracking.model_copy(update={"enabled": False}),
                                   "model": base.model.model_copy(update={"num_threads": threads})})


def churn_model(known: Any, t: pd.Timestamp, cfg: Any) -> tuple[Any, dict[str, Any], pd.DataFrame]:
    """The churn model ``train`` fits on ``known`` (a dataset known at ``t``) without the win-back and uplift models:
    the bundle, every feature's declaration and the training snapshots."""
    from churnml.features import feature_registry
    from churnml.labels import training_snapshots
    from churnml.modeling.train import train_model

    registry = feature_registry(cfg, dict(known.customers.drop(columns="customer_id").dtypes))
    snapshots = training_snapshots(known, t, cfg)
    bundle = train_model(snapshots, cfg, {n: s.family for n, s in registry.items()}, as_of=t).bundle
    return bundle, registry, snapshots
