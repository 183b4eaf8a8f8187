"""MLflow pyfunc returning calibrated churn probabilities, logged as code (models from code), never pickled.

MLflow runs this file when the model is loaded; the bundle artifact is verified by its checksums.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class ChurnProbability(PythonModel):
    """Input: a feature frame as ``churnml.features.build_features`` returns it. Output: calibrated probabilities."""

    def load_context(self, context) -> None:
        from churnml.io import read_bundle

        self.bundle = read_bundle(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.Series:
        return pd.Series(self.bundle.predict(model_input), index=model_input.index, name="churn_probability")


mlflow.models.set_model(ChurnProbability())
