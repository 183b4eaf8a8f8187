import numpy as np
import pandas as pd

from churnml.config import FeatureConfig
from churnml.features.surveys import survey_features

T = pd.Timestamp("2026-03-01")
CUSTOMERS = pd.Index(["a", "b", "c", "d"], dtype="str", name="customer_id")
SURVEYS = [
    ("a", "2025-01-25", 1.0),  # 400 days before T: outside the 365-day window
    ("a", "2025-11-21", 8.0),  # 100 days
    ("a", "2026-02-09", 5.0),  # 20 days: the last
    ("a", "2026-03-01", 0.0),  # on T: not known
    ("b", "2026-01-01", 9.0),
    ("d", "2026-02-01", 6.0),  # two answers at the same time: ordered by score, whatever the row order
    ("d", "2026-02-01", 4.0),
]


def test_survey_features_by_hand(table):
    got = survey_features(table("surveys", SURVEYS), CUSTOMERS, T, FeatureConfig())
    expected = pd.DataFrame(
        {
            "survey_last_score": [5, 9, np.nan, 6],
            "survey_lowest_score": [5, 9, np.nan, 4],
            "survey_score_change": [5 - 8, np.nan, np.nan, 6 - 4],
            "survey_count": [2, 1, 0, 2],
        },
        index=CUSTOMERS,
        dtype="float64",
    )
    pd.testing.assert_frame_equal(got, expected)
    reversed_rows = survey_features(table("surveys", SURVEYS[::-1]), CUSTOMERS, T, FeatureConfig())
    pd.testing.assert_frame_equal(reversed_rows, expected)


def test_survey_window_comes_from_config(table):
    got = survey_features(table("surveys", SURVEYS), CUSTOMERS, T, FeatureConfig(survey_window_days=500))
    assert got.loc["a", "survey_lowest_score"] == 1 and got.loc["a", "survey_count"] == 3
