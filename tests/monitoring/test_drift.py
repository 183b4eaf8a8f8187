import math

import numpy as np
import pandas as pd
import pytest

from churnml.monitoring import bin_counts, drift_table, psi, reference_summary, usual_moves, volume_changes
from churnml.monitoring.drift import PROBABILITY


def test_psi_against_a_hand_computed_case():
    expected = [0.5, 0.3, 0.2, 0.0]
    counts = [40, 30, 30, 0]  # shares 0.4, 0.3, 0.3, 0
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + 0 + (0.3 - 0.2) * math.log(0.3 / 0.2) + 0  # the empty bin on both sides: 0
    assert psi(expected, counts) == pytest.approx(by_hand, abs=1e-12)
    assert psi(expected, [50, 30, 20, 0]) == pytest.approx(0.0, abs=1e-12)
    assert psi([1.0, 0.0], [0, 10]) > 5  # everything moved to a bin training never filled: floored, not infinite
    assert math.isnan(psi(expected, [0, 0, 0, 0]))


def test_reference_bins_numbers_by_deciles_categories_by_level_and_counts_add_up_across_parts():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "waits": np.where(rng.random(5000) < 0.6, 0.0, rng.exponential(10, 5000)),  # mostly zero: few distinct edges
        "price": rng.normal(50, 5, 5000),
        "plan": pd.Categorical(rng.choice(["a", "b", "c"], 5000, p=[0.5, 0.3, 0.2])),
    })
    frame.loc[::10, "price"] = np.nan
    ref = reference_summary(frame, probability=rng.random(5000), bins=10)
    waits, price, plan = (ref["features"][c] for c in ("waits", "price", "plan"))
    assert waits["edges"][0] == 0.0 and len(waits["edges"]) < 9  # the zeros collapse into one bin
    assert len(price["edges"]) == 9 and price["shares"][-1] == pytest.approx(0.1)  # deciles, then the missing bin
    assert plan["levels"] == ["a", "b", "c"] and len(plan["shares"]) == 5  # levels, unseen, missing
    assert all(sum(e["shares"]) == pytest.approx(1.0) for e in ref["features"].values())
    assert PROBABILITY in ref["features"]

    whole = bin_counts(frame, ref)
    parts = [bin_counts(frame.iloc[i::3], ref) for i in range(3)]
    assert set(whole) == {"waits", "price", "plan"}  # no probability given: none counted
    for name, counts in whole.items():
        assert np.array_equal(counts, sum(p[name] for p in parts))
        assert psi(ref["features"][name]["shares"], counts) == pytest.approx(0.0, abs=1e-12)  # the training rows themselves


def test_a_shifted_feature_drifts_and_an_unshifted_one_stays_stable():
    rng = np.random.default_rng(2)
    train = pd.DataFrame({"a": rng.normal(0, 1, 20000), "b": rng.normal(0, 1, 20000),
                          "plan": pd.Categorical(rng.choice(["x", "y"], 20000))})
    now = pd.DataFrame({"a": rng.normal(0.8, 1, 20000), "b": rng.normal(0, 1, 20000),
                        "plan": pd.Categorical(rng.choice(["x", "y", "z"], 20000, p=[0.4, 0.3, 0.3]))})
    ref = reference_summary(train)
    table = drift_table(ref, bin_counts(now, ref), {"a": "service", "b": "price", "plan": "price"}, watch=0.1, drifted=0.2)
    status = dict(zip(table["feature"], table["status"], strict=True))
    assert status == {"a": "drifted", "plan": "drifted", "b": "stable"}
    assert table["psi"].is_monotonic_decreasing and table.loc[table["feature"] == "a", "family"].item() == "service"


def test_a_move_since_the_previous_run_is_weighed_against_the_features_usual_monthly_move():
    """A feature that swings every month (incident-driven) needs a larger jump to count as moved than a steady one;
    the same jump in a steady feature counts."""
    rng = np.random.default_rng(3)
    n = 20000

    def month(swing: float, steady: float) -> pd.DataFrame:
        return pd.DataFrame({"swinging": rng.normal(swing, 1, n), "steady": rng.normal(steady, 1, n)})

    months = [month(s, 0.0) for s in (0.0, 0.5, -0.3, 0.6, 0.0, -0.5)]  # training: the swinging one moves every month
    ref = reference_summary(months[-1])
    moves = usual_moves(months, ref)
    by_hand = [psi(np.asarray(a, float) / n, b) for a, b in zip([bin_counts(m, ref)["steady"] for m in months[:-1]],
                                                                [bin_counts(m, ref)["steady"] for m in months[1:]], strict=True)]
    assert moves["steady"] == pytest.approx(np.quantile(by_hand, 0.9))
    assert moves["swinging"] > 0.1 > 0.01 > moves["steady"]
    assert usual_moves(months[:1], ref) == {"swinging": 0.0, "steady": 0.0}  # one month: nothing to compare
    for name, move in moves.items():
        ref["features"][name]["usual_move"] = move
    previous = bin_counts(month(0.0, 0.0), ref)
    tonight = bin_counts(month(0.45, 0.45), ref)  # the same jump in both
    table = drift_table(ref, tonight, {}, watch=0.1, drifted=0.2, previous=previous, move_factor=2.0)
    moved = dict(zip(table["feature"], table["moved"], strict=True))
    since = dict(zip(table["feature"], table["psi_since_previous"], strict=True))
    assert since["steady"] > 0.1 and since["swinging"] > 0.1  # both jumped past psi_watch
    assert moved == {"steady": True, "swinging": since["swinging"] >= 2 * moves["swinging"]} and not moved["swinging"]
    calm = drift_table(ref, previous, {}, watch=0.1, drifted=0.2, previous=previous)
    assert not calm["moved"].any()  # nothing moved: nothing flagged


@pytest.mark.parametrize("before, now, flagged", [
    ({"support_contacts": 0.40}, {"support_contacts": 0.41}, []),
    ({"support_contacts": 0.30}, {"support_contacts": 0.56}, []),  # a busy month
    ({"tech_faults": 0.07}, {"tech_faults": 0.20}, []),  # an incident wave
    ({"support_contacts": 0.40}, {"support_contacts": 0.0}, ["support_contacts"]),  # the feed stopped
    ({"usage": 1.0}, {"usage": 0.45}, ["usage"]),  # more than halved
    ({"usage": 1.0}, {"usage": 0.55}, []),
    ({"complaints": 0.1}, {"complaints": 0.5}, ["complaints"]),  # delivered several times over
    ({}, {"surveys": 0.2}, ["surveys"]),  # a feed that starts
    ({"complaints": 0.0}, {"complaints": 0.0}, []),
])
def test_volume_changes_name_the_tables_whose_recent_rows_moved(before, now, flagged):
    found = volume_changes(before, now, max_drop=0.5, max_rise=4.0)
    assert [v["table"] for v in found] == flagged
    assert all(v["kind"] == ("fell" if v["per_customer_now"] < v["per_customer_before"] else "rose") for v in found)


@pytest.mark.parametrize("median, lowest, now, named", [
    (0.40, 0.36, 0.0, True),  # stopped
    (0.40, 0.36, 0.19, True),  # halved, below anything the recent runs showed
    (0.20, 0.08, 0.07, False),  # a quiet month of a log that swings by itself (faults after incident months)
    (0.20, 0.08, 0.05, True),  # well below even its quiet months
])
def test_a_log_that_swings_by_itself_is_called_broken_only_below_its_recent_lows(median, lowest, now, named):
    found = volume_changes({"t": median}, {"t": now}, max_drop=0.5, max_rise=4.0, lowest={"t": lowest})
    assert bool(found) == named
