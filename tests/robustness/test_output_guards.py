"""`score --out` can never destroy an input or a model, and writes what its name says."""

import os
import shutil

import pandas as pd
import pytest
from robust_helpers import AS_OF, run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow


def _score(root, out, *extra):
    return run("score", "--data", "data", "--as-of", AS_OF, "--model", "models/latest", "--out", str(out), *extra, cwd=root)


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("data/subscriptions.csv", "is an input table"),
        ("data/subscriptions.manifest.json", None),  # not an input: allowed below, never the table itself
        ("models/latest/bundle.json", "inside the model bundle"),
        ("models/latest/model.txt", "inside the model bundle"),
        ("models/latest", "is a directory"),
        ("data", "is a directory"),
        ("data/surveys.parquet", "would be read as the surveys table"),  # absent today, read as input tomorrow
        ("data/Tech_Faults.CSV", "would be read as the tech_faults table"),
        ("out/scores.manifest.json", "run manifest's name"),  # would turn an existing pair's manifest into a CSV
        ("data/rejects/support_contacts.csv", "rejects folder"),  # the next validate would overwrite it
        # Another output's publication machinery: taking its lock or link would let two runs race or break its pair.
        ("out/.w.csv.lock", "how another output is published"),
        ("out/.w.csv.current", "how another output is published"),
        ("out/.w.csv.runs/20260101T000000-1/w.csv", "how another output is published"),
    ],
)
def test_out_may_not_be_an_input_a_bundle_file_or_a_folder(trained, tmp_path, out, says):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    before = {p: p.read_bytes() for p in (root / "data").iterdir() if p.is_file()}
    bundle = {p.name: p.read_bytes() for p in (root / "models" / "latest").iterdir() if p.is_file()}
    proc = _score(root, out)
    if says is None:
        return
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "--out" in proc.stderr
    assert {p: p.read_bytes() for p in (root / "data").iterdir() if p.is_file()} == before
    assert {p.name: p.read_bytes() for p in (root / "models" / "latest").iterdir() if p.is_file()} == bundle


def test_a_symlinked_out_is_written_through(trained, tmp_path):
    target = tmp_path / "crm" / "inbox.csv"
    target.parent.mkdir()
    target.write_text("yesterday")
    link = tmp_path / "scores.csv"
    link.symlink_to(target)
    proc = _score(trained, link)
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and link.resolve().parent.parent.parent == target.parent.resolve()
    assert pd.read_csv(link, dtype=str)["customer_id"].notna().all()
    assert (tmp_path / "crm" / "inbox.manifest.json").is_file()


def test_parquet_out_is_typed_parquet_with_the_same_content(trained, tmp_path):
    assert _score(trained, tmp_path / "s.csv").returncode == 0
    proc = _score(trained, tmp_path / "p.parquet")
    assert proc.returncode == 0, proc.stderr
    csv = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    parquet = pd.read_parquet(tmp_path / "p.parquet")
    assert parquet["customer_id"].tolist() == csv["customer_id"].tolist()
    assert parquet["flagged"].dtype == bool and parquet["flagged"].tolist() == (csv["flagged"] == "true").tolist()
    assert (parquet["churn_probability"].round(4) == csv["churn_probability"].astype(float)).all()


@pytest.mark.parametrize("out", ["data/subscriptions.csv/s.csv", "/proc/s.csv", "x" * 300 + ".csv"], ids=["parent_is_a_file", "proc", "name_too_long"])
def test_an_out_that_cannot_be_written_is_status_9(trained, tmp_path, out):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    proc = _score(root, out)
    assert proc.returncode == 9, proc.stderr
    assert "cannot be written" in proc.stderr


def test_features_out_may_not_be_a_folder(trained, tmp_path):
    proc = run("features", "--data", "data", "--as-of", AS_OF, "--out", str(tmp_path), cwd=trained)
    assert proc.returncode == 2 and "is a directory" in proc.stderr


def test_a_symlink_loop_as_out_is_refused(trained, tmp_path):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    proc = _score(trained, tmp_path / "loop1")
    assert proc.returncode == 2 and "symlink loop" in proc.stderr
    assert os.readlink(tmp_path / "loop1") == str(tmp_path / "loop2")


@pytest.mark.parametrize(("command", "extra"), [("validate", []), ("score", ["--as-of", AS_OF, "--model", "models/latest", "--out", "s.csv"])])
def test_rejects_may_not_be_the_data_folder(trained, tmp_path, command, extra):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    before = {p.name: p.read_bytes() for p in (root / "data").iterdir() if p.is_file()}
    proc = run(command, "--data", "data", "--rejects", "data", *extra, cwd=root)
    assert proc.returncode == 2 and "--rejects" in proc.stderr and "overwrite its tables" in proc.stderr
    assert {p.name: p.read_bytes() for p in (root / "data").iterdir() if p.is_file()} == before


@pytest.mark.parametrize("out", ["data/subscriptions.csv", "data/usage.parquet", "models/latest/model.txt"])
def test_features_out_has_the_same_guards(trained, tmp_path, out):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    target = root / out
    before = target.read_bytes() if target.exists() else None
    proc = run("features", "--data", "data", "--as-of", AS_OF, "--out", out, cwd=root)
    assert proc.returncode == 2 and "--out" in proc.stderr, proc.stderr
    assert (target.read_bytes() if target.exists() else None) == before


@pytest.mark.parametrize("kind", ["dataset", "file", "scores_folder"])
def test_report_out_never_replaces_what_is_not_a_report(trained, tmp_path, kind):
    assert _score(trained, tmp_path / "s" / "scores.csv").returncode == 0
    target = {"dataset": trained / "data", "file": tmp_path / "afile", "scores_folder": tmp_path / "s"}[kind]
    if kind == "file":
        target.write_text("hello")
    listing = sorted(p.name for p in target.iterdir()) if target.is_dir() else target.read_text()
    proc = run("report", "--scores", str(tmp_path / "s" / "scores.csv"), "--out", str(target), cwd=trained)
    assert proc.returncode == 2 and "--out" in proc.stderr
    assert (sorted(p.name for p in target.iterdir()) if target.is_dir() else target.read_text()) == listing


def test_another_command_never_replaces_a_published_scores_pair(trained, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    assert _score(root, "out/s.csv").returncode == 0
    before = (root / "out" / "s.csv").read_bytes()
    proc = run("features", "--data", "data", "--as-of", AS_OF, "--out", "out/s.csv", cwd=root)
    assert proc.returncode == 2 and "published scores file" in proc.stderr, proc.stderr
    proc = _score(root, "out/s.parquet")  # would share s.manifest.json with s.csv
    assert proc.returncode == 2 and "would share it" in proc.stderr, proc.stderr
    assert (root / "out" / "s.csv").read_bytes() == before


def test_rejects_may_not_go_into_another_dataset(trained, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    other = root / "other"
    shutil.copytree(root / "data", other)
    before = {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    proc = run("validate", "--data", "data", "--rejects", "other", cwd=root)
    assert proc.returncode == 2 and "not a rejects file" in proc.stderr, proc.stderr
    assert {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()} == before
    # An earlier run's rejects folder is fine.
    assert run("validate", "--data", "data", "--rejects", "rej", cwd=root).returncode == 0
    assert run("validate", "--data", "data", "--rejects", "rej", cwd=root).returncode == 0


@pytest.mark.parametrize(
    ("input_at", "out", "says"),
    [
        ("subscriptions.csv", ".", "holds the export"),  # would be overwritten by the imported table itself
        ("in/export.csv", "in", "holds the export"),
        ("export.csv", "export.csv", "is a file"),
        ("export.csv", "models/latest", "is a model bundle"),
    ],
)
def test_import_snapshot_out_may_not_hold_the_export_or_a_bundle(tmp_path, input_at, out, says):
    source = tmp_path / input_at
    source.parent.mkdir(parents=True, exist_ok=True)
    text = "customerID,tenure,Churn\nA1,3,No\nA2,5,Yes\n"
    source.write_text(text)
    bundle = tmp_path / "models" / "latest"
    bundle.mkdir(parents=True)
    (bundle / "model.txt").write_text("tree")
    (bundle / "bundle.json").write_text("{}")
    proc = run("import-snapshot", "--input", input_at, "--out", out, "--reference-date", "2024-06-30", "--id-column", "customerID",
               "--tenure-column", "tenure", "--churn-column", "Churn", cwd=tmp_path)
    assert proc.returncode == 2 and says in proc.stderr and "--out" in proc.stderr, proc.stderr
    assert source.read_text() == text and (bundle / "model.txt").read_text() == "tree"
    assert not (bundle / "subscriptions.csv").exists()


@pytest.fixture(scope="module")
def reported(trained, tmp_path_factory):
    """The trained folder with a scores file (first/scores.csv) and its report (nightly/), made once."""
    root = tmp_path_factory.mktemp("reported") / "root"
    shutil.copytree(trained, root, symlinks=True)
    assert _score(root, "first/scores.csv").returncode == 0
    assert run("report", "--scores", "first/scores.csv", "--out", "nightly", cwd=root).returncode == 0
    return root


@pytest.mark.parametrize("case", ["scores_folder", "bundle", "data_folder", "foreign_file"])
def test_report_out_never_replaces_a_folder_holding_more_than_a_report(reported, tmp_path, case):
    root = tmp_path / "copy"
    shutil.copytree(reported, root, symlinks=True)
    scores, out = "first/scores.csv", "nightly"
    if case == "scores_folder":  # the scores the report reads, written into an earlier report's folder
        assert _score(root, "nightly/scores.csv").returncode == 0
        scores = "nightly/scores.csv"
    elif case == "bundle":
        (root / "models" / "latest" / "index.html").write_text("x")
        out = "models/latest"
    elif case == "data_folder":
        (root / "data" / "index.html").write_text("x")
        out = "data"
    else:
        (root / "nightly" / "notes.txt").write_text("mine")
    before = {p: p.read_bytes() for p in (root / out).rglob("*") if p.is_file() and "assets" not in p.parts and "customers" not in p.parts}
    proc = run("report", "--scores", scores, "--out", out, cwd=root)
    assert proc.returncode == 2 and "--out" in proc.stderr and "replaces its --out folder whole" in proc.stderr, proc.stderr
    assert {p: p.read_bytes() for p in before} == before


def test_report_out_replaces_an_earlier_report_alone(reported, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(reported, root, symlinks=True)
    (root / "nightly" / "index.html").write_text("yesterday's report")
    assert run("report", "--scores", "first/scores.csv", "--out", "nightly", cwd=root).returncode == 0
    assert (root / "nightly" / "index.html").read_text() != "yesterday's report"
    assert run("report", "--scores", "first/scores.csv", "--out", "again", cwd=root).returncode == 0
    assert run("report", "--scores", "first/scores.csv", "--out", "again", cwd=root).returncode == 0
