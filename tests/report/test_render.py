"""Rendering rules that need no scoring run: what a customer page lists as raising and lowering the risk."""

import math

import pytest

from churnml.config import Family
from churnml.features.spec import HIGHER, LOWER, NO_EVENT, FeatureSpec
from churnml.report.render import _harmful

MINUTES = FeatureSpec("faults_minutes_180d", Family.SERVICE, "{value:.0f} minutes of faults", "tech_faults", reference=0.0, hurts=HIGHER)
SCORE = FeatureSpec("survey_last_score", Family.SERVICE, "last survey score {value}/10", "surveys", reference=NO_EVENT, hurts=LOWER,
                    neutral=(7.0, math.inf))
TENURE = FeatureSpec("tenure_days", Family.OTHER, "customer for {value} days", "subscriptions")


@pytest.mark.parametrize(
    ("spec", "value", "harmful"),
    [
        (MINUTES, 754.0, True),  # the analyst's case: never "lowers the risk"
        (MINUTES, 0.0, False),
        (MINUTES, float("nan"), False),
        (SCORE, 3.0, True),
        (SCORE, 9.0, False),
        (SCORE, None, False),
        (TENURE, 2000.0, False),  # context: never a pain of its own
        (None, 5.0, False),
        (MINUTES, "not a number", False),
    ],
)
def test_a_value_is_harmful_only_on_the_unhealthy_side_of_its_reference(spec, value, harmful):
    assert _harmful(spec, value) is harmful


def test_a_harmful_value_with_a_negative_bar_is_not_listed_as_lowering_the_risk(small_run):
    """Every customer page: what it lists under "lowers the risk" is on the healthy side (or context)."""
    inputs = small_run.inputs
    from churnml.report.render import _customer

    contributions = inputs.explanations.contributions
    seen_offsets = 0
    for row in inputs.flagged_table.head(inputs.pages).to_dict(orient="records"):
        mine = contributions[contributions["customer_id"] == row["customer_id"]]
        page = _customer(inputs, row, None, mine, "chart.png", 100)
        for item in page["down"]:
            assert not _harmful(inputs.registry.get(item["feature"]), item["value"]), item
        seen_offsets += len(page["offset"])
        assert all(item["contribution"] < 0 for item in page["offset"])
        listed = {f["feature"] for f in page["up"]} | {f["feature"] for f in page["down"]}
        assert not listed & {f["feature"] for f in page["offset"]}
    assert seen_offsets > 0  # the case exists in this run: the rule is exercised, not vacuous


@pytest.mark.parametrize(("flagging", "strategy", "words"), [
    ({"top_fraction": 0.1}, "risk", "the top 10% of customers by risk"),
    ({"top_fraction": None, "probability_threshold": 0.3}, "risk", "every customer with probability ≥ 30%"),
    ({"top_fraction": 0.1}, "uplift", "as many as the top 10% of customers by risk holds, chosen by expected uplift"),
    ({"top_fraction": 0.1}, "value", "as many as the top 10% of customers by risk holds, chosen by expected value"),
])
def test_the_report_says_how_the_run_chose_whom_to_flag(flagging, strategy, words):
    from churnml.config import FlaggingConfig
    from churnml.report.gather import flag_policy

    assert flag_policy(FlaggingConfig(**flagging), strategy) == words
