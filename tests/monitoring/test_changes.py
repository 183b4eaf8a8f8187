import numpy as np
import pandas as pd
import pytest

from churnml.config import ChurnConfig
from churnml.features import feature_registry
from churnml.monitoring import change_reasons, family_sums, largest_change

REGISTRY = feature_registry(ChurnConfig(), {})
NAMES = ["price_vs_new_customers_ratio", "support_long_waits_30d", "support_unresolved_90d", "tenure_days"]
FAMILIES = [REGISTRY[n].family.value for n in NAMES]


def test_family_parts_of_the_change_add_up_to_the_change_in_log_odds():
    rng = np.random.default_rng(4)
    before, now = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    base = -2.0
    parts = family_sums(now, FAMILIES) - family_sums(before, FAMILIES)
    np.testing.assert_allclose(parts.sum(axis=1), (base + now.sum(axis=1)) - (base + before.sum(axis=1)), atol=1e-12)
    assert FAMILIES == ["price", "service", "service", "other"]
    np.testing.assert_allclose(parts[:, 1], (now[:, 1] + now[:, 2]) - (before[:, 1] + before[:, 2]))


@pytest.mark.parametrize("parts, model, cause", [
    ([0.1, 0.9, 0.0], 0.0, "service"),
    ([-0.5, 0.1, 0.0], 0.0, "price"),  # the risk fell, mostly through price
    ([0.2, 0.1, 0.0], 0.8, "model"),
    ([0.0, 0.0, 0.0], 0.0, ""),
    ([0.4, -0.3, 0.1], 0.0, "price"),
])
def test_the_change_cause_is_the_part_that_moved_the_risk_most_its_way(parts, model, cause):
    assert largest_change(np.array([parts]), np.array([model]))[0] == cause


def test_the_reason_names_a_changed_feature_of_the_cause_family_with_both_values():
    before = pd.DataFrame({"price_vs_new_customers_ratio": [1.0, 1.0, 1.2], "support_long_waits_30d": [0.0, 2.0, 2.0],
                           "support_unresolved_90d": [1.0, 1.0, np.nan], "tenure_days": [100.0, 100.0, 100.0]})
    after = pd.DataFrame({"price_vs_new_customers_ratio": [1.0, 1.0, 1.2], "support_long_waits_30d": [3.0, 2.0, 2.0],
                          "support_unresolved_90d": [1.0, 1.0, np.nan], "tenure_days": [130.0, 130.0, 130.0]})
    phi = np.array([[0.0, 0.8, 0.3, 0.1], [0.0, 0.8, 0.3, 0.1], [0.5, 0.0, 0.0, 0.0]])
    texts = change_reasons(np.array(["service", "service", "price"]), np.array([1, 1, 1]), phi, before, after, REGISTRY)
    assert texts[0].endswith("(was 0)") and "30 days" in texts[0] and texts[0].startswith("3 ")
    assert texts[1] == ""  # nothing of the service family changed
    assert texts[2] == ""  # the price feature did not change either
    many = change_reasons(np.array(["service"] * 6), np.ones(6), np.tile(phi[:1], (6, 1)), pd.concat([before.iloc[:1]] * 6),
                          pd.concat([after.iloc[:1]] * 6), REGISTRY)
    assert (many == texts[0]).all()
