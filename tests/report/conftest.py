"""Fixtures of the report tests: one small scoring run and its report, shared by the whole session."""

from __future__ import annotations

import pytest
from report_run import SmallRun, build_small_run


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> SmallRun:
    """A generated dataset, a model, scores with hostile ids among the flagged, and the report built from them."""
    return build_small_run(tmp_path_factory.mktemp("report-run"))
