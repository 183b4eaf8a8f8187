from itertools import product

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from churnml.monitoring import expected_performance
from churnml.monitoring.performance import expected_auc


@pytest.mark.parametrize("p", [[0.1, 0.5, 0.5, 0.9, 0.3], [0.2, 0.2, 0.2], [0.05, 0.6, 0.95, 0.4, 0.4, 0.1]])
def test_expected_auc_is_the_expected_right_pairs_over_the_expected_pairs_counted_over_every_outcome(p):
    """Every labelling of the customers, weighted by its probability: the formula is exact, ties counting half."""
    p = np.asarray(p)
    right = pairs = 0.0
    for labels in product([0, 1], repeat=len(p)):
        y = np.array(labels)
        weight = np.prod(np.where(y == 1, p, 1 - p))
        pos, neg = p[y == 1], p[y == 0]
        right += weight * sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
        pairs += weight * len(pos) * len(neg)
    assert expected_auc(p) == pytest.approx(right / pairs, abs=1e-12)


def test_expected_figures_match_outcomes_drawn_from_calibrated_probabilities():
    rng = np.random.default_rng(3)
    p = rng.beta(1, 8, 20000)
    flagged = p >= np.quantile(p, 0.9)
    est = expected_performance(p, flagged)
    aucs, churners, precision = [], [], []
    for _ in range(20):
        y = rng.random(len(p)) < p
        aucs.append(roc_auc_score(y, p))
        churners.append(y.sum())
        precision.append(y[flagged].mean())
    assert est["expected_roc_auc"] == pytest.approx(np.mean(aucs), abs=0.005)
    assert est["expected_churners"] == pytest.approx(np.mean(churners), rel=0.02)
    assert est["expected_precision_flagged"] == pytest.approx(np.mean(precision), abs=0.01)
