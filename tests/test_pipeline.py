"""The stage functions behind the CLI: point in time at the level of the whole training result."""

import pandas as pd

import churnml
from churnml.config import parse_config
from churnml.dataset import Dataset
from churnml.synth import generate

T = pd.Timestamp("2025-04-01")


def test_a_customer_first_known_after_t_changes_nothing_train_writes():
    tables = generate(900, seed=4, start="2024-01-01", months=16).tables
    cfg = parse_config({"model": {"max_rounds": 30, "num_threads": 1}, "tracking": {"enabled": False}})
    base = Dataset.from_frames(tables)
    later = dict(tables)
    subs = tables["subscriptions"]
    later["subscriptions"] = pd.concat([subs, subs.iloc[[0]].assign(customer_id="late-1", start_date=T + pd.Timedelta(days=1), end_date=pd.NaT)], ignore_index=True)
    later["customers"] = pd.concat([tables["customers"], tables["customers"].iloc[[0]].assign(customer_id="late-1")], ignore_index=True)
    a = churnml.train(base, T, cfg).bundle
    b = churnml.train(Dataset.from_frames(later), T, cfg).bundle
    assert a.meta["data_fingerprint"] == b.meta["data_fingerprint"]
    assert a.booster.model_to_string() == b.booster.model_to_string()


def test_every_public_name_resolves():
    import churnml

    for name in churnml.__all__:
        assert getattr(churnml, name) is not None, name
    assert set(churnml._STAGES) <= set(churnml.__all__)
