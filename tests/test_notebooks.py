"""The notebooks run top to bottom on a small generated dataset, and are committed without outputs.

Each notebook reads ``CHURNML_NOTEBOOK_DATA`` (set here to a dataset generated once for the module) and
``CHURNML_NOTEBOOK_CONFIG`` (a fast training configuration), then is executed by nbclient in a ``python3`` kernel.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow

nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed: pip install -e '.[dev]'")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed: pip install -e '.[dev]'")
pytest.importorskip("ipykernel", reason="ipykernel is not installed: pip install -e '.[dev]'")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_explore_logs.ipynb", "02_train_and_evaluate.ipynb", "03_explain_customers.ipynb"]
CELL_TIMEOUT = 300
# One thread and few rounds: fast and steady on a small shared CI machine.
FAST_CONFIG = "model:\n  max_rounds: 150\n  num_threads: 1\ntracking:\n  enabled: false\n"


@pytest.fixture(scope="module")
def notebook_env(tmp_path_factory):
    from churnml import io
    from churnml.dataset import Dataset
    from churnml.synth import generate

    root = tmp_path_factory.mktemp("notebooks")
    data = root / "data"
    synthetic = generate(1500, seed=2, start="2024-07-01", months=18)
    io.write_dataset(Dataset.from_frames(synthetic.tables), data)
    io.write_table(synthetic.oracle, data, "oracle", "parquet")
    config = root / "fast.yaml"
    config.write_text(FAST_CONFIG, encoding="utf-8")
    return {"CHURNML_NOTEBOOK_DATA": str(data), "CHURNML_NOTEBOOK_CONFIG": str(config), "OMP_NUM_THREADS": "1"}


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    assert book.cells[0].cell_type == "markdown" and "What this notebook shows" in book.cells[0].source
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs before committing"
    assert book.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, notebook_env, monkeypatch, tmp_path):
    for key, value in notebook_env.items():
        monkeypatch.setenv(key, value)  # the kernel inherits this process's environment
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    started = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    images = sum("image/png" in o.get("data", {}) for c in book.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 1, f"{path.name} shows no picture"
    print(f"\n{path.name}: {time.perf_counter() - started:.1f} s")
