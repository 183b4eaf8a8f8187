import numpy as np
import pandas as pd
import pytest

from churnml.modeling.evaluate import classification_metrics, lift_curve, metrics_by_group, top_fraction_mask


def test_perfect_ranking():
    y = np.array([0] * 90 + [1] * 10)
    p = np.r_[np.linspace(0.01, 0.2, 90), np.linspace(0.8, 0.9, 10)]
    m = classification_metrics(y, p, capacity=0.10)
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == pytest.approx(1.0)
    assert m["top_decile_lift"] == 10.0 and m["recall_at_capacity"] == 1.0


def test_reversed_ranking_and_probability_metrics():
    y = np.array([1, 0, 0, 0])
    m = classification_metrics(y, np.array([0.1, 0.9, 0.8, 0.7]))
    assert m["roc_auc"] == 0.0
    assert np.isclose(m["brier"], (0.81 + 0.81 + 0.64 + 0.49) / 4)


def test_single_class_segment_has_undefined_ranking():
    m = classification_metrics(np.zeros(5, dtype=int), np.full(5, 0.1))
    assert np.isnan(m["roc_auc"]) and np.isclose(m["brier"], 0.01)


def test_top_fraction_is_exact_with_ties():
    assert top_fraction_mask(np.full(20, 0.5), 0.1).sum() == 2


def test_metrics_by_group_and_lift():
    y = np.array([1, 0, 1, 0])
    groups = pd.Series(["new", "new", "established", "established"])
    by = metrics_by_group(y, np.array([0.9, 0.1, 0.2, 0.8]), groups)
    assert by["new"]["roc_auc"] == 1.0 and by["established"]["roc_auc"] == 0.0
    curve = lift_curve(y, np.array([0.9, 0.1, 0.8, 0.2]))
    assert curve["captured"].iloc[-1] == 1.0 and curve["captured"].iloc[1] == 1.0


def test_evaluate_at_compares_causes_with_the_oracle_on_the_same_flagged_leavers():
    from churnml.modeling.evaluate import evaluate_at

    t = pd.Timestamp("2025-10-01")
    ids = [f"c{i}" for i in range(8)]
    scores = pd.DataFrame({
        "customer_id": ids,
        "churn_probability": [0.9, 0.8, 0.7, 0.6, 0.5, 0.1, 0.05, 0.02],
        "flagged": [True] * 5 + [False] * 3,
        "primary_cause": ["price", "service", "price", "other", "service", "", "", ""],
    })
    truth = pd.DataFrame({
        "customer_id": ["c0", "c1", "c2", "c3", "c5", "c6"],
        "churn_date": pd.to_datetime(["2025-10-10", "2025-11-01", "2025-11-20", "2025-10-02", "2025-10-05", "2026-02-01"]),
        "cause": ["price", "price", "service", "price", "service", "price"],  # c6 leaves after the horizon
    })
    oracle = pd.DataFrame({
        "customer_id": ids, "as_of_date": t, "oracle_probability": np.linspace(0.9, 0.1, 8),
        "oracle_cause": ["price", "price", "price", "price", "service", "service", "other", "other"],
    })
    out = evaluate_at(scores, truth, oracle, t, horizon_days=60)
    assert out["churners"] == 5 and out["flagged_leavers"] == 4
    # Model: c0 right, c1 wrong (service for price), c2 wrong (price for service), c3 wrong (other for price).
    assert out["cause_accuracy"] == pytest.approx(1 / 4)
    # Oracle: c0, c1, c3 right; c2 wrong.
    assert out["oracle_cause_accuracy"] == pytest.approx(3 / 4)
    assert out["cause_accuracy_ratio"] == pytest.approx(1 / 3)
    assert out["price_recall"] == pytest.approx(1 / 3) and out["price_oracle_recall"] == 1.0
    assert out["service_recall"] == 0.0 and out["service_oracle_recall"] == 0.0
    assert out["price_share"] == pytest.approx(2 / 5) and out["price_oracle_share"] == pytest.approx(4 / 5)
    assert out["observed"] == pytest.approx(5 / 8) and out["mean_predicted"] == pytest.approx(scores["churn_probability"].mean())
