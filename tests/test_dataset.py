"""The dataset's customer codes: carried through chunks and the point-in-time view, equal to looking the ids up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from churnml import io
from churnml.dataset import Dataset, positions_in
from churnml.lifecycle import active_customers
from churnml.synth import generate

T = pd.Timestamp("2025-01-01")


@pytest.fixture(scope="module")
def validated(tmp_path_factory) -> Dataset:
    folder = tmp_path_factory.mktemp("data")
    for name, frame in generate(300, seed=5, start="2024-01-01", months=14).tables.items():
        io.write_table(frame, folder, name, "parquet")
    dataset = io.load_dataset(folder).accepted
    assert dataset.customer_codes is not None
    return dataset


def _looked_up(dataset: Dataset, customers: pd.Index) -> dict[str, np.ndarray]:
    return {name: positions_in(frame["customer_id"], customers) for name, frame in dataset.items()}


@pytest.mark.parametrize("view", ["whole", "known_at", "chunk", "chunk_of_some"])
def test_row_positions_from_codes_equal_looking_each_id_up(validated, view):
    from churnml.pipeline import _InMemory

    some = pd.Index(validated.customer_ids[::3])
    dataset = {
        "whole": lambda: validated,
        "known_at": lambda: validated.known_at(T),
        "chunk": lambda: _InMemory(validated, T, 80).load(1),
        "chunk_of_some": lambda: _InMemory(validated, T, 80).load(2, customers=some),
    }[view]()
    assert dataset.customer_codes is not None
    customers = active_customers(dataset.subscriptions, T)
    assert len(customers) > 10
    expected = _looked_up(dataset, customers)
    for name, frame in dataset.items():
        got = dataset.positions(name, customers)
        assert len(got) == len(frame) and np.array_equal(got, expected[name]), name
        assert dataset.positions(name, customers) is got  # kept for the same customers
    other = customers[::2]  # another index: looked up again, not served from the first one's
    assert np.array_equal(dataset.positions("usage", other), positions_in(dataset.usage["customer_id"], other))


def test_a_replaced_or_pickled_dataset_drops_its_codes_and_still_finds_positions(validated):
    import pickle

    customers = active_customers(validated.subscriptions, T)
    for plain in (validated.replace(usage=validated.usage.iloc[::2]), pickle.loads(pickle.dumps(validated))):
        assert plain.customer_codes is None
        assert np.array_equal(plain.positions("usage", customers), positions_in(plain.usage["customer_id"], customers))
