"""A table that is meant but unusable is an error naming the file and the fix, never a silent absence."""

import os
import shutil

import pytest
from robust_helpers import AS_OF, run

# End to end through the command line or a trained model: part of make test, not of make test-fast.
pytestmark = pytest.mark.slow


def _break(data, how):
    if how == "singular_name":
        os.rename(data / "tech_faults.csv", data / "tech_fault.csv")
        return "tech_fault.csv", "looks like the tech_faults table"
    if how == "capitalised_name":
        os.rename(data / "complaints.csv", data / "Complaints.CSV")
        return "Complaints.CSV", "looks like the complaints table"
    if how == "dashed_name":
        os.rename(data / "support_contacts.csv", data / "support-contacts.csv")
        return "support-contacts.csv", "looks like the support_contacts table"
    if how == "dangling_link":
        (data / "surveys.csv").unlink()
        (data / "surveys.csv").symlink_to(data / "gone.csv")
        return "surveys.csv", "does not exist"
    if how == "folder":
        (data / "usage.csv").unlink()
        (data / "usage.csv").mkdir()
        return "usage.csv", "not a file"
    if how == "mostly_rejected":
        lines = (data / "surveys.csv").read_text().splitlines()
        head, rows = lines[0], lines[1:]
        j = head.split(",").index("score")
        broken = [",".join(v if k != j else "eleven" for k, v in enumerate(r.split(","))) if i % 3 == 0 else r for i, r in enumerate(rows)]
        (data / "surveys.csv").write_text("\n".join([head, *broken]) + "\n")
        return "surveys.csv", "validation.max_reject_share"
    raise AssertionError(how)


CASES = ["singular_name", "capitalised_name", "dashed_name", "dangling_link", "folder", "mostly_rejected"]


@pytest.mark.parametrize("how", CASES)
@pytest.mark.parametrize("command", ["validate", "score"])
def test_an_unusable_table_stops_the_run_naming_the_file(trained, tmp_path, how, command):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    name, says = _break(root / "data", how)
    extra = {"validate": [], "score": ["--as-of", AS_OF, "--model", "models/latest", "--out", "out/s.csv"]}[command]
    proc = run(command, "--data", "data", *extra, cwd=root)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert name in proc.stderr and says in proc.stderr
    assert not (root / "out").exists() or not (root / "out" / "s.csv").exists()


def test_the_reject_share_is_a_config_setting(trained, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    _break(root / "data", "mostly_rejected")
    (root / "lenient.yaml").write_text("validation:\n  max_reject_share: 0.5\n")
    proc = run("validate", "--data", "data", "--config", "lenient.yaml", cwd=root)
    assert proc.returncode == 0, proc.stderr
    rejected = (root / "data" / "rejects" / "surveys.csv").read_text().splitlines()
    planted = (root / "data" / "surveys.csv").read_text().count(",eleven")
    assert planted > 100 and len(rejected) - 1 == planted  # every rejected row is kept with its reason


def test_rejects_that_cannot_be_written_are_status_9(trained, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the rejects folder should go")
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    _break(root / "data", "mostly_rejected")
    proc = run("validate", "--data", "data", "--rejects", str(blocker), cwd=root)
    assert proc.returncode == 9 and "rejected rows cannot be written there" in proc.stderr and "--rejects" in proc.stderr


@pytest.mark.parametrize("misnamed", ["complaints.csv.csv", "complaints.csv.gz", "complaints (1).csv", "complaints .csv",
                                      "complaints_2025-10-01.csv", "complaints.txt"])
def test_a_copied_or_dated_table_name_is_not_a_silent_absence(trained, tmp_path, misnamed):
    root = tmp_path / "copy"
    shutil.copytree(trained, root, symlinks=True)
    os.rename(root / "data" / "complaints.csv", root / "data" / misnamed)
    proc = run("validate", "--data", "data", cwd=root)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert misnamed.strip() in proc.stderr and "looks like the complaints table" in proc.stderr


def test_import_snapshot_rejects_name_their_source_lines(tmp_path):
    """Quoted line breaks shift the lines after them; a row with too many fields is rejected, not fatal."""
    import pandas as pd

    (tmp_path / "e.csv").write_text(
        "customerID,tenure,Churn,Note\n"
        'A1,3,No,"two\nlines"\n'  # lines 2-3
        "A2,x,No,ok\n"  # line 4: tenure is not a number
        "A3,5,Yes,ok,extra\n"  # line 5: one field too many
        "A4,7,No,ok\n"
    )
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", "--reference-date", "2024-06-30", "--id-column", "customerID",
               "--tenure-column", "tenure", "--churn-column", "Churn", "--max-reject-share", "0.5", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Imported 2 of 4 customers (2 rejected" in " ".join(proc.stdout.split())
    rejects = pd.read_csv(tmp_path / "imp" / "rejects" / "snapshot.csv", dtype=str, keep_default_na=False)
    assert rejects["line"].tolist() == ["4", "5"]
    assert "tenure" in rejects.loc[0, "reason"] and "5 fields, the header has 4" in rejects.loc[1, "reason"]
    assert rejects.loc[1, "raw"] == "A3,5,Yes,ok,extra"


_IMPORT = ("--reference-date", "2024-06-30", "--id-column", "id", "--tenure-column", "tenure", "--churn-column", "churn")


def test_import_snapshot_rejects_what_validate_would_reject(tmp_path):
    """A formula-like id is rejected at import with validate's rule, so the imported dataset validates clean;
    formula-like headers and attribute values are data and pass (outputs neutralise them)."""
    import pandas as pd

    rows = "".join(f"c{i},{i % 30},{'yes' if i % 4 == 0 else 'no'},a{i},+pro\n" for i in range(20))
    (tmp_path / "e.csv").write_text('id,tenure,churn,"=HYPERLINK(""x"")",tier\n=1+2,5,no,a,b\n' + rows)
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Imported 20 of 21 customers (1 rejected" in " ".join(proc.stdout.split())
    rejects = pd.read_csv(tmp_path / "imp" / "rejects" / "snapshot.csv", dtype=str, keep_default_na=False)
    assert rejects["line"].tolist() == ["2"] and "formula" in rejects.loc[0, "reason"]
    checked = run("validate", "--data", "imp", "--as-of", "2024-06-30", "--config", "imp/suggested_config.yaml", "--strict", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_import_snapshot_refuses_an_export_mostly_rejected(tmp_path):
    """Past --max-reject-share no dataset is written: what is left of a broken export is not the portfolio."""
    (tmp_path / "e.csv").write_text("id,tenure,churn\nA1,3,no\nA2,x,no\nA3,4,maybe\nA4,7,no\n")
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "e.csv: 2 of 4 rows rejected (50%" in " ".join(proc.stderr.split()) and "no dataset written" in proc.stderr
    assert (tmp_path / "imp" / "rejects" / "snapshot.refused.csv").exists()
    assert not (tmp_path / "imp" / "subscriptions.csv").exists()


def _good_export(path, n=40, tag="c"):
    path.write_text("id,tenure,churn,tier\n" + "".join(f"{tag}{i},{i % 30},{'yes' if i % 4 == 0 else 'no'},t{i % 3}\n" for i in range(n)))


def test_a_refused_import_keeps_the_dataset_and_rejects_already_there(tmp_path):
    """The refused import's rejects go to a file of their own: the kept dataset's rejects still match it."""
    _good_export(tmp_path / "good.csv")
    with (tmp_path / "good.csv").open("a") as f:
        f.write("bad1,x,no,t1\n")
    assert run("import-snapshot", "--input", "good.csv", "--out", "imp", *_IMPORT, cwd=tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "imp").rglob("*") if p.is_file()}
    (tmp_path / "bad.csv").write_text("id,tenure,churn\nA1,3,no\nA2,x,no\nA3,4,maybe\n")
    proc = run("import-snapshot", "--input", "bad.csv", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "the dataset already there is kept" in " ".join(proc.stderr.split())
    after = {p.name: p.read_bytes() for p in (tmp_path / "imp").rglob("*") if p.is_file()}
    assert after.pop("snapshot.refused.csv").count(b"\n") == 3  # header + 2 rejects
    assert after == before
    # The next good import clears the refused rejects.
    _good_export(tmp_path / "good2.csv", tag="d")
    assert run("import-snapshot", "--input", "good2.csv", "--out", "imp", *_IMPORT, cwd=tmp_path).returncode == 0
    assert not (tmp_path / "imp" / "rejects" / "snapshot.refused.csv").exists()
    assert not (tmp_path / "imp" / "rejects" / "snapshot.csv").exists()


def test_a_re_import_replaces_every_table_the_earlier_one_wrote(tmp_path):
    """CSV first, then Parquet into the same folder: only the Parquet tables are left, and they validate."""
    _good_export(tmp_path / "e.csv")
    assert run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path).returncode == 0
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, "--format", "parquet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    tables = sorted(p.name for p in (tmp_path / "imp").iterdir() if p.suffix in (".csv", ".parquet"))
    assert tables == ["customers.parquet", "subscriptions.parquet"]
    checked = run("validate", "--data", "imp", "--as-of", "2024-06-30", "--strict", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("foreign", ["complaints.csv", "subscriptions.csv", "Surveys.CSV"])
def test_an_import_into_a_folder_with_tables_it_did_not_write_is_refused(tmp_path, foreign):
    """Beside someone else's tables the folder would read as one dataset from two sources."""
    _good_export(tmp_path / "e.csv")
    (tmp_path / "imp").mkdir()
    (tmp_path / "imp" / foreign).write_text("customer_id\nx\n")
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = " ".join(proc.stderr.split())
    assert foreign in message and "did not write" in message
    assert sorted(p.name for p in (tmp_path / "imp").iterdir()) == [foreign]


def test_a_parquet_export_with_a_bytes_column_is_refused_naming_it(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 30
    pq.write_table(pa.table({"id": [f"c{i}" for i in range(n)], "tenure": [i % 20 + 1 for i in range(n)],
                             "churn": [i % 4 == 0 for i in range(n)], "blob": pa.array([b"\x00\xff"] * n)}), tmp_path / "e.parquet")
    proc = run("import-snapshot", "--input", "e.parquet", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "e.parquet: column 'blob' holds raw bytes" in proc.stderr
    assert not (tmp_path / "imp").exists()


def test_an_export_with_no_rows_is_refused(tmp_path):
    (tmp_path / "e.csv").write_text("id,tenure,churn\n")
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "e.csv: the export has a header but no rows" in proc.stderr
    assert not (tmp_path / "imp").exists()


def test_a_nested_parquet_column_is_refused_naming_it_and_the_exclude_option(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 30
    pq.write_table(pa.table({"id": [f"c{i}" for i in range(n)], "tenure": [i % 20 + 1 for i in range(n)],
                             "churn": [i % 4 == 0 for i in range(n)], "tags": pa.array([[1, 2]] * n),
                             "addr": pa.array([{"zip": 1}] * n)}), tmp_path / "e.parquet")
    proc = run("import-snapshot", "--input", "e.parquet", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    message = " ".join(proc.stderr.split())
    for column in ("tags", "addr"):
        assert f"e.parquet: column '{column}' holds lists or records" in message and f"--exclude '{column}'" in message
    assert not (tmp_path / "imp").exists()
    kept = run("import-snapshot", "--input", "e.parquet", "--out", "imp", *_IMPORT, "--exclude", "tags", "--exclude", "addr", cwd=tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr


def test_import_problems_name_the_file_and_the_command_line_option(tmp_path):
    _good_export(tmp_path / "e.csv")
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", "--reference-date", "2024-06-30", "--id-column", "idx",
               "--tenure-column", "tenure", "--churn-column", "churn", cwd=tmp_path)
    assert proc.returncode == 4
    assert "e.csv: --id-column: column 'idx' is not in the file; set --id-column to one of: id, tenure, churn, tier" in " ".join(proc.stderr.split())


def test_an_import_record_naming_paths_outside_the_folder_deletes_nothing(tmp_path):
    """A hand-edited import.json can only name the table files an import writes."""
    _good_export(tmp_path / "e.csv")
    (tmp_path / "imp").mkdir()
    (tmp_path / "victim.txt").write_text("keep me")
    (tmp_path / "imp" / "import.json").write_text(
        '{"written_by": "churnml import-snapshot", "files": ["../e.csv", "%s", "../victim.txt", "subscriptions.csv"]}' % (tmp_path / "victim.txt"))
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "e.csv").exists() and (tmp_path / "victim.txt").read_text() == "keep me"


@pytest.mark.parametrize(("edit", "says"), [
    ("unfinished", "did not finish"),
    ("changed", "no longer match the import that wrote them"),
], ids=["unfinished", "changed"])
def test_a_folder_whose_tables_do_not_match_their_import_is_refused(tmp_path, edit, says):
    """A kill between the table renames, or a table replaced by hand, cannot pass for one export's dataset."""
    import json

    _good_export(tmp_path / "e.csv")
    assert run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path).returncode == 0
    assert run("validate", "--data", "imp", cwd=tmp_path).returncode == 0
    record = tmp_path / "imp" / "import.json"
    if edit == "unfinished":
        record.write_text(json.dumps({**json.loads(record.read_text()), "complete": False}))
    else:
        with (tmp_path / "imp" / "customers.csv").open("a") as f:
            f.write("zz9,t1\n")
    proc = run("validate", "--data", "imp", cwd=tmp_path)
    assert proc.returncode == 4 and says in " ".join(proc.stderr.split()), proc.stderr
    (tmp_path / "imp" / ".import.killed.tmp").mkdir()  # what a killed import leaves
    assert run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path).returncode == 0
    assert run("validate", "--data", "imp", cwd=tmp_path).returncode == 0
    assert not list((tmp_path / "imp").glob(".import.*"))


@pytest.mark.parametrize(("options", "says"), [
    (("--churn-window-days", "99999999"), "--churn-window-days"),
    (("--format", "xlsx"), "use csv or parquet"),
    (("--reference-date", "2199-12-31", "--churn-window-days", "3650"), "must lie between 1900 and 2200"),
], ids=["window", "format", "date_plus_window"])
def test_import_options_out_of_range_are_usage_errors(tmp_path, options, says):
    _good_export(tmp_path / "e.csv")
    base = list(_IMPORT)
    if "--reference-date" in options:
        base = base[2:]
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *base, *options, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in " ".join(proc.stderr.split())
    assert not (tmp_path / "imp").exists()


def test_a_dangling_out_link_is_a_usage_error(tmp_path):
    _good_export(tmp_path / "e.csv")
    (tmp_path / "imp").symlink_to(tmp_path / "missing")
    for args in (("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT), ("generate", "--out", "imp", "--customers", "500")):
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 2 and "which does not exist" in " ".join(proc.stderr.split()), proc.stderr


def test_numeric_ids_in_a_parquet_export_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = 30
    pq.write_table(pa.table({"id": [1000.0 + i for i in range(n)], "tenure": [i % 20 + 1 for i in range(n)],
                             "churn": [i % 4 == 0 for i in range(n)]}), tmp_path / "e.parquet")
    proc = run("import-snapshot", "--input", "e.parquet", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 4 and "column 'id' holds float64 numbers, not text" in " ".join(proc.stderr.split()), proc.stderr


def test_a_utf16_export_without_a_byte_order_mark_gets_utf16_advice(tmp_path):
    (tmp_path / "e.csv").write_bytes("id,tenure,churn\nA1,3,no\n".encode("utf-16-le"))
    proc = run("import-snapshot", "--input", "e.csv", "--out", "imp", *_IMPORT, cwd=tmp_path)
    assert proc.returncode == 4 and "UTF-16" in proc.stderr and "\x00" not in proc.stderr
