"""Cause correctness on generated data: the planted cause of customers who truly churn is what we report.

Among flagged customers who churn within the horizon with a planted cause of price or service, the share whose
`primary_cause` matches the planted cause. The README reports the figure this test prints.
"""

import pandas as pd
import pytest

from churnml.config import parse_config
from churnml.dataset import Dataset
from churnml.features import feature_registry
from churnml.labels import training_snapshots
from churnml.modeling.train import train_model
from churnml.pipeline import score as score_dataset
from churnml.synth import generate

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

AS_OF = pd.Timestamp("2025-10-01")


@pytest.fixture(scope="module")
def scored():
    data = generate(20_000, seed=1)  # the default generated dataset
    dataset = Dataset.from_frames(data.tables)
    cfg = parse_config({"tracking": {"enabled": False}, "model": {"num_threads": 2}})
    known = dataset.known_at(AS_OF)
    snaps = training_snapshots(known, AS_OF, cfg)
    families = {n: s.family for n, s in feature_registry(cfg, dict(known.customers.drop(columns="customer_id").dtypes)).items()}
    bundle = train_model(snaps, cfg, families, as_of=AS_OF).bundle
    bundle.meta["version"] = "test"
    scores = score_dataset(dataset, AS_OF, bundle, cfg).scores
    return scores, data.truth, cfg, dataset, bundle


def test_primary_cause_matches_the_planted_cause(scored):
    scores, truth, cfg, _, _ = scored
    horizon = pd.Timedelta(days=cfg.labels.horizon_days)
    upcoming = truth[(truth["churn_date"] > AS_OF) & (truth["churn_date"] <= AS_OF + horizon)]
    upcoming = upcoming.sort_values("churn_date").drop_duplicates("customer_id")
    flagged = scores[scores["flagged"]].merge(upcoming[["customer_id", "cause"]], on="customer_id")
    planted = flagged[flagged["cause"].isin(["price", "service"])]
    hit = planted["cause"] == planted["primary_cause"]
    by_cause = hit.groupby(planted["cause"]).agg(["mean", "size"])
    print(f"\ncause match: {hit.mean():.3f} of {len(planted)} flagged true churners with a planted price or service cause")
    print(by_cause)
    print(pd.crosstab(flagged["cause"], flagged["primary_cause"]))
    assert len(planted) >= 100
    assert hit.mean() >= 0.85
    # Labelling every flagged customer `service` must not pass: each planted cause is mostly recognised.
    assert (by_cause["mean"] >= 0.7).all(), by_cause


def test_the_winback_list_against_the_truth(scored):
    """Win-back on the default world: the return model ranks returns nearly as well as the simulator's own
    propensity, and the top tenth of the list by expected value holds far more realised return value."""
    from churnml.modeling.winback import train_winback, winback_truth_metrics
    from churnml.pipeline import winback as winback_list

    _, truth, cfg, dataset, bundle = scored
    model = train_winback(dataset, AS_OF, bundle, cfg)
    # Pool six monthly lists: one list holds a few hundred customers, too few for stable figures.
    tables = [winback_list(dataset, AS_OF - pd.DateOffset(months=k), bundle, cfg, model=model).table for k in range(0, 6)]
    m = winback_truth_metrics(pd.concat(tables, ignore_index=True), truth, cfg.winback.return_window_days)
    print(f"\nwin-back: {m}")
    assert m["matched"] == m["listed"] >= 1000
    assert m["return_auc_ratio"] >= 0.9
    assert m["top_tenth_capture"] >= 2.0
    # Issue 12 asks for cause-at-churn accuracy >= 0.85 with each recall >= 0.75; not reached (0.73-0.78 on single
    # lists, and a classifier taught the planted cause misses it too: BENCHMARKS.md 2026-12-06). What holds: far
    # better than naming everyone's most common cause.
    majority = max(m[f"{c}_leavers"] for c in ("price", "service", "other")) / m["matched"]
    assert m["cause_accuracy"] >= majority + 0.2
