import numpy as np
import pytest
import pandas as pd

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
