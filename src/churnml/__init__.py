"""churnml: which active customers are about to leave, why (price or service), and what to do about it.

The public API is one function per stage (:mod:`churnml.pipeline`) plus the types they take::

    import churnml
    from churnml import io

    dataset = io.load_dataset("data/").dataset
    config = churnml.load_config("configs/default.yaml")
    bundle = churnml.train(dataset, "2025-10-01", config).bundle
    scores = churnml.score(dataset, "2025-10-01", bundle, config).scores

The stage functions are imported on first use, so ``import churnml`` stays light.
"""

from __future__ import annotations

from typing import Any

from churnml._version import __version__
from churnml.config import ChurnConfig, Family, load_config
from churnml.dataset import Dataset
from churnml.errors import ChurnMLError, ConfigError, InputError, ModelError

_STAGES = ("validate", "build_features", "train", "score", "explain", "winback", "report_inputs", "backtest")

__all__ = [
    "ChurnConfig",
    "ChurnMLError",
    "ConfigError",
    "Dataset",
    "Family",
    "InputError",
    "ModelError",
    "__version__",
    "backtest",
    "build_features",
    "explain",
    "load_config",
    "report_inputs",
    "score",
    "train",
    "validate",
    "winback",
]


def __getattr__(name: str) -> Any:
    if name in _STAGES:
        from churnml import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'churnml' has no attribute {name!r}")
