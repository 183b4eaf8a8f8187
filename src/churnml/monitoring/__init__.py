"""Monitoring the nightly job: drift against the training reference, label-free performance estimates, and why a
customer's risk moved since the previous run. Pure functions of frames and arrays; the runs' history is read and
written by :mod:`churnml.io`."""

from churnml.monitoring.changes import change_reasons, family_sums, largest_change
from churnml.monitoring.drift import bin_counts, drift_table, psi, reference_summary, usual_moves, volume_changes
from churnml.monitoring.outcomes import Outcomes, matched_remedies, outcome_rows, outcomes_of, qini, summarise_outcomes, uplift_table
from churnml.monitoring.performance import expected_performance

__all__ = [
    "Outcomes",
    "bin_counts",
    "change_reasons",
    "drift_table",
    "expected_performance",
    "family_sums",
    "largest_change",
    "matched_remedies",
    "outcome_rows",
    "outcomes_of",
    "psi",
    "qini",
    "reference_summary",
    "summarise_outcomes",
    "uplift_table",
    "usual_moves",
    "volume_changes",
]
