"""churnml: which active customers are about to leave, why (price or service), and what to do about it."""

from churnml.config import ChurnConfig, Family, load_config
from churnml.dataset import Dataset
from churnml.errors import ChurnMLError, ConfigError, InputError, ModelError

__all__ = [
    "ChurnConfig",
    "ChurnMLError",
    "ConfigError",
    "Dataset",
    "Family",
    "InputError",
    "ModelError",
    "load_config",
]

__version__ = "0.1.0"
