"""The import graph is a stack of layers: a module imports only its own unit and the units below it.

Every import counts, those inside functions too: deferring an import does not make an upward edge acceptable.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "churnml"

# Bottom to top. A unit is a top-level module or subpackage of churnml; "churnml" is the package's __init__.
LAYERS = [
    "_version",
    "errors",
    "schemas",
    "remedies",
    "config",
    "dataset",
    "validation",
    "lifecycle",
    "synth",
    "importers",
    "features",
    "labels",
    "decisions",
    "monitoring",
    "modeling",
    "explain",
    "plots",
    "io",
    "engine",
    "report",
    "pipeline",
    "pyfunc_model",
    "tracking",
    "cli",
    "__main__",
    "churnml",
]
RANK = {unit: k for k, unit in enumerate(LAYERS)}


def _unit_of_module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return "churnml" if parts == ("__init__",) else parts[0]


def _imported_units(source: str) -> set[str]:
    """The churnml units a module's source imports."""
    units = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "churnml" else [f"churnml.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "churnml":
                continue
            units.add(parts[1] if len(parts) > 1 and parts[1] in RANK else "churnml")
    return units


def _upward_edges(unit: str, source: str) -> list[str]:
    return sorted(u for u in _imported_units(source) if u != unit and RANK[u] > RANK[unit])


def test_every_module_belongs_to_a_layer():
    units = {_unit_of_module(p) for p in PACKAGE.rglob("*.py")}
    assert units <= set(LAYERS), f"add these units to LAYERS: {sorted(units - set(LAYERS))}"


def test_no_module_imports_a_layer_above_its_own():
    upward = {
        str(p.relative_to(PACKAGE)): edges
        for p in sorted(PACKAGE.rglob("*.py"))
        if (edges := _upward_edges(_unit_of_module(p), p.read_text(encoding="utf-8")))
    }
    assert not upward, f"imports that point up the layers: {upward}"


@pytest.mark.parametrize(
    ("unit", "source", "upward"),
    [
        ("modeling", "from churnml.explain.causes import attribute\n", ["explain"]),
        ("io", "def f():\n    from churnml.pipeline import score\n", ["pipeline"]),  # deferred still counts
        ("report", "import churnml\n", ["churnml"]),
        ("features", "from churnml import io\n", ["io"]),
        ("explain", "from churnml.modeling.bundle import ModelBundle\nfrom churnml import decisions\n", []),
        ("pipeline", "from churnml.features import build_features\nimport numpy\n", []),
    ],
)
def test_the_check_sees_upward_edges(unit, source, upward):
    assert _upward_edges(unit, source) == upward


_SIDE_EFFECTS_PROBE = """
import importlib, logging, os, pkgutil, sys, warnings
# Third-party libraries set their own environment on import (scikit-learn's KMP_* flags): import them first.
import lightgbm, matplotlib, mlflow, pandas, pyarrow, sklearn
env, filters, handlers = dict(os.environ), list(warnings.filters), list(logging.getLogger().handlers)
levels = {name: logging.getLogger(name).level for name in ("mlflow", "alembic", "matplotlib", "shap")}
import churnml
names = [m.name for m in pkgutil.walk_packages(churnml.__path__, "churnml.")]
for name in names:
    if name not in ("churnml.__main__", "churnml.pyfunc_model"):
        importlib.import_module(name)
changed = sorted(set(os.environ.items()) ^ set(env.items()))
assert not changed, f"environment changed: {changed}"
assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
assert matplotlib.rcParams._get_backend_or_none() is None, "a matplotlib backend was selected"
assert warnings.filters == filters and logging.getLogger().handlers == handlers, "warnings or logging changed"
assert {name: logging.getLogger(name).level for name in levels} == levels, "library log levels changed"
print(len(names))
"""


@pytest.mark.slow
def test_importing_any_module_changes_nothing_outside_churnml():
    """No import-time side effects: no backend chosen, no environment written, no logging or warning filters set.
    (``pyfunc_model`` is the file MLflow itself runs to load a model; ``__main__`` runs the CLI.)"""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _SIDE_EFFECTS_PROBE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip()) > 40  # every module was imported
