"""A scored run held in memory as the next run sees it (:class:`churnml.pipeline.Previous`): what the benchmarks of
monitoring and outcomes pass to :func:`churnml.pipeline.score` instead of a run folder on disk."""

from __future__ import annotations

import pandas as pd


class KeptRun:
    """A run's record (date, model, monitoring) and what it kept: the customers table and the feature vectors."""

    def __init__(self, result, features: pd.DataFrame, as_of, version: str):
        self.run = {"as_of": str(pd.Timestamp(as_of).date()), "model_version": version, **result.monitoring}
        self._history, self._features = result.history, features

    def customers(self) -> pd.DataFrame:
        return self._history

    def features(self, ids) -> pd.DataFrame:
        return self._features.loc[self._features.index.intersection(pd.Index(ids))]
