"""Scale out over customer partitions with Dask.

Every feature builder aggregates per customer, and the few population-wide facts travel in a small
:class:`~churnml.features.PopulationContext`. So features are computed partition by partition (all rows of a
set of customers) and concatenated, on threads, processes or a Dask cluster, with results identical to one
big run. On a cluster each worker would read its own partition of a customer-partitioned Parquet dataset; here
the partitions are sliced from one in-memory dataset.
"""

from __future__ import annotations

import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features import build_features, population_context
from churnml.lifecycle import active_customers


def build_features_dask(
    dataset: Dataset, as_of: str | pd.Timestamp, config: ChurnConfig, *, partition_customers: int, scheduler: str = "threads"
) -> pd.DataFrame:
    """Features of every customer active at ``as_of``, one Dask task per partition of customers."""
    import dask

    t = as_timestamp(as_of)
    known = dataset.known_at(t)
    context = population_context(known, t, config)  # small: broadcast to every task
    active = active_customers(known.subscriptions, t)
    tasks = [dask.delayed(build_features)(part, t, config, context) for _, part in known.partitions(active, partition_customers)]
    frames = dask.compute(*tasks, scheduler=scheduler)
    return pd.concat(frames) if frames else build_features(known, t, config, context)
