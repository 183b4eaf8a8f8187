"""A small generated dataset and a model trained on it, shared by the robustness suite."""

from pathlib import Path

import pytest
from robust_helpers import AS_OF, run


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """``data/`` (1,200 generated customers), ``models/latest`` and ``fast.yaml`` in one folder."""
    root = tmp_path_factory.mktemp("robust")
    (root / "fast.yaml").write_text("model:\n  max_rounds: 60\n  num_threads: 2\ntracking:\n  enabled: false\n")
    proc = run("generate", "--out", "data", "--customers", "1200", "--seed", "11", "--months", "16", cwd=root)
    assert proc.returncode == 0, proc.stderr
    proc = run("train", "--data", "data", "--as-of", AS_OF, "--config", "fast.yaml", "--model-dir", "models", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root
