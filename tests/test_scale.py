"""The same builders on Dask partitions give exactly the single-run features."""

import pandas as pd
import pytest

from churnml.config import ChurnConfig
from churnml.dataset import Dataset
from churnml.features import build_features
from churnml.scale import build_features_dask
from churnml.synth import generate


@pytest.fixture(scope="module")
def dataset():
    return Dataset.from_frames(generate(1200, seed=11, months=12).tables)


@pytest.mark.parametrize("scheduler", ["threads", "processes"])
def test_dask_partitions_equal_one_run(dataset, scheduler):
    cfg = ChurnConfig()
    whole = build_features(dataset.known_at("2024-11-01"), "2024-11-01", cfg)
    spread = build_features_dask(dataset, "2024-11-01", cfg, partition_customers=250, scheduler=scheduler)
    assert len(spread) == len(whole) > 500
    pd.testing.assert_frame_equal(spread, whole)


def test_partitions_cover_every_row_once(dataset):
    ids = dataset.customer_ids
    seen = {name: 0 for name, _ in dataset.items()}
    for chunk, part in dataset.partitions(ids, 333):
        for name, frame in part.items():
            assert frame["customer_id"].isin(chunk).all()
            seen[name] += len(frame)
    assert seen == dataset.row_counts()
