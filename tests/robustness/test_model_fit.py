"""A model meets data it was not trained for: refused when most category levels are new, warned feature by feature."""

import json
import shutil

import pandas as pd
import pytest
from robust_helpers import AS_OF, run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow


def _relabel(root, columns):
    """Rename every level of these customers columns (and of the plan) so that the model has never seen them."""
    cust = pd.read_csv(root / "data" / "customers.csv", dtype=str, keep_default_na=False)
    for c in columns:
        if c == "plan":
            subs = pd.read_csv(root / "data" / "subscriptions.csv", dtype=str, keep_default_na=False)
            subs["plan"] = "other_" + subs["plan"]
            subs.to_csv(root / "data" / "subscriptions.csv", index=False)
        else:
            cust[c] = cust[c].where(cust[c] == "", "other_" + cust[c])
    cust.to_csv(root / "data" / "customers.csv", index=False)


def _copy(trained, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    return root


def test_a_model_from_another_portfolio_is_refused(trained, tmp_path):
    root = _copy(trained, tmp_path)
    _relabel(root, ["plan", "region", "acquisition_channel", "payment_method"])
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "s.csv", cwd=root)
    assert proc.returncode == 6, proc.stderr
    assert "levels it never saw in training" in proc.stderr and "scoring.max_unseen_level_share" in proc.stderr
    assert not (root / "s.csv").exists()


def test_one_new_level_column_warns_and_is_recorded(trained, tmp_path):
    root = _copy(trained, tmp_path)
    _relabel(root, ["region"])
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "s.csv", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "region: 100% of values are levels" in proc.stderr
    fit = json.loads((root / "s.manifest.json").read_text())["model_fit"]
    assert fit["unseen_levels"]["region"] == 1.0 and fit["unseen_levels"]["payment_method"] == 0.0
    assert fit["out_of_range"]  # the bundle records training ranges for numeric features


def test_the_training_data_itself_raises_no_warning(trained, tmp_path):
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(tmp_path / "s.csv"), cwd=trained)
    assert proc.returncode == 0 and "warning" not in proc.stderr, proc.stderr


def test_a_zero_limit_accepts_a_perfect_fit_and_refuses_any_unseen_level(trained, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text("scoring:\n  max_unseen_level_share: 0\n")
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(tmp_path / "s.csv"),
               "--config", str(strict), cwd=trained)
    assert proc.returncode == 0, proc.stderr
    root = _copy(trained, tmp_path)
    _relabel(root, ["region"])
    proc = run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", "s.csv", "--config", str(strict), cwd=root)
    assert proc.returncode == 6 and "limit scoring.max_unseen_level_share 0%" in proc.stderr, proc.stderr
