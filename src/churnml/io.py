"""File input and output: the only module besides the CLI that touches disk.

Reads a dataset directory (each table ``NAME.csv`` or ``NAME.parquet``), writes tables, rejects and outputs
atomically (temporary file, then rename), and neutralises spreadsheet formulas in CSV text fields.

The scores file and its manifest are one unit (:func:`publish_scores`): each run writes both into a fresh run
folder ``.NAME.csv.runs/<run>/``; ``NAME.csv`` and ``NAME.manifest.json`` are fixed links into ``.NAME.csv.current``, itself
a link to the latest complete run folder, and a run is published by renaming one new ``.NAME.current`` link over
the old. A reader therefore always finds the old pair or the new pair, never one of each, whatever moment the
writer dies at; the manifest also records the CSV's sha256 (:func:`verify_scores_pair`).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from churnml.dataset import Dataset
from churnml.errors import BusyError, CannotWriteError, InputError, ModelError, NotFoundError
from churnml.schemas import OUTPUTS, TABLES, OutputSpec
from churnml.validation import FORMULA_PREFIXES, RawTable, ValidationResult, validate_dataset

if TYPE_CHECKING:
    from churnml.modeling.bundle import ModelBundle

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _file_mode() -> int:
    # mkstemp creates 0600 files; outputs are read by other users and tools (CRM imports), so honour the umask.
    return 0o666 & ~_umask()


def _dir_mode() -> int:
    return 0o777 & ~_umask()  # mkdtemp creates 0700 folders: the same reason


# ---------------------------------------------------------------------------------------------------- writing


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _file_mode())
        os.replace(tmp_path, path)
    except OSError as exc:
        if exc.filename is None:  # a write into an open file names no path: name the output it was for
            exc.filename = str(path)
        raise
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def neutralise_formulas(values: pd.Series) -> pd.Series:
    """Prefix text that a spreadsheet would run as a formula with a quote, so it is shown, never executed."""
    s = values.astype("str")
    risky = s.str.startswith(FORMULA_PREFIXES).fillna(False)
    return s.where(~risky, "'" + s).where(values.notna())


_CSV_CHUNK_ROWS = 250_000  # rows formatted and written at a time: a scores file of 10M rows is never copied whole


def write_csv(
    frame: pd.DataFrame, path: Path | str, *, protect: list[str] | None = None, float_format: str | None = None,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> None:
    """Write a UTF-8 CSV atomically; text columns (or ``protect``) are neutralised against formula injection.

    Rows are formatted (``transform``), neutralised and written a chunk at a time, the same bytes as one pass.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        for start in range(0, max(len(frame), 1), _CSV_CHUNK_ROWS):
            out = frame.iloc[start : start + _CSV_CHUNK_ROWS]
            out = transform(out) if transform is not None else out.copy()
            columns = protect if protect is not None else [c for c in out.columns if pd.api.types.is_string_dtype(out[c].dtype)]
            for c in columns:
                out[c] = neutralise_formulas(out[c])
            # Headers too: a rejects file repeats the input's column names, which an export may have started with "=".
            out.columns = neutralise_formulas(pd.Series([str(c) for c in out.columns], dtype="str")).tolist()
            out.to_csv(handle, index=False, header=start == 0, lineterminator="\n", float_format=float_format)


def _format_for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as ISO dates, timestamps as ISO timestamps, so a written dataset reads back identically."""
    out = frame.copy()
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_datetime64_any_dtype(col.dtype):
            valid = col.dropna()
            if len(valid) and (valid == valid.dt.normalize()).all() and c != "timestamp":
                out[c] = col.dt.strftime("%Y-%m-%d")
            else:
                out[c] = col.dt.strftime("%Y-%m-%dT%H:%M:%S")
        elif pd.api.types.is_bool_dtype(col.dtype):
            out[c] = np.where(col, "true", "false")
    return out


def write_table(frame: pd.DataFrame, directory: Path | str, name: str, fmt: str = "csv") -> Path:
    """Write one table in the input contract's format (``csv`` or ``parquet``), atomically."""
    directory = Path(directory)
    path = directory / f"{name}.{fmt}"
    if fmt == "parquet":
        with atomic_path(path) as tmp:
            frame.to_parquet(tmp, index=False)
    elif fmt == "csv":
        # Input tables are written as data, not for spreadsheets: formulas are not rewritten here.
        text = _format_for_csv(frame)
        if name == "customers":
            # Attributes are read back as numbers whatever their spelling: flags and counts stay 0, 1, 7, not 0.0.
            for c in text.columns:
                values = text[c]
                if pd.api.types.is_float_dtype(values.dtype):
                    present = values.dropna()
                    if len(present) and (present % 1 == 0).all() and present.abs().max() < 2**53:
                        text[c] = values.astype("Int64")
        with atomic_path(path) as tmp:
            text.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    else:
        raise ValueError(f"unknown table format {fmt!r}; use csv or parquet")
    return path


def write_dataset(dataset: Dataset, directory: Path | str, fmt: str = "csv", *, skip_empty: bool = True) -> list[Path]:
    """Write every table of a dataset; empty optional tables are skipped unless asked."""
    paths = []
    for name, frame in dataset.items():
        if skip_empty and name != "subscriptions" and frame.empty:
            continue
        paths.append(write_table(frame, directory, name, fmt))
    return paths


IMPORT_RECORD = "import.json"
IMPORT_REJECTS = Path("rejects") / "snapshot.csv"
# A refused import keeps the folder's earlier dataset; its rejects go beside, not over, that dataset's own.
REFUSED_IMPORT_REJECTS = Path("rejects") / "snapshot.refused.csv"


def _imported_names(directory: Path) -> set[str]:
    """The table files an earlier ``import-snapshot`` wrote into ``directory`` (from its record)."""
    try:
        record = json.loads((directory / IMPORT_RECORD).read_text(encoding="utf-8"))
        names = {str(n) for n in record["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    # Only the table files an import writes: a hand-edited record naming "../x.csv" or /etc/x deletes nothing.
    return names & {f"{t}.{ext}" for t in ("subscriptions", "customers") for ext in ("csv", "parquet")}


def import_conflicts(directory: Path | str) -> list[Path]:
    """Files in a dataset folder that are (or look like) tables an earlier import did not write.

    A new import writes subscriptions and customers only; beside someone else's event tables, or beside an
    earlier import in the other format, the folder would read as one dataset made from two sources.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    ours = _imported_names(directory)
    return sorted(p for p in directory.iterdir() if table_name_like(p.name) is not None and p.name not in ours)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_import(dataset: Dataset, directory: Path | str, fmt: str, rejects: pd.DataFrame) -> list[Path]:
    """Write an imported dataset, replacing every table an earlier import wrote there (in either format).

    The tables are written into a staging folder first (the slow part), then renamed into place; the record,
    written last, holds each table's sha256. Until then it says the import is unfinished, and a reader refuses a
    folder whose tables do not match their record (:func:`check_import`): a run killed between two renames can
    never pass for one dataset made of two exports. Rejects are written after the tables they belong to.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    earlier = _imported_names(directory)
    names = [f"{name}.{fmt}" for name, frame in dataset.items() if name == "subscriptions" or not frame.empty]

    def record(files: set[str], sha256: dict[str, str] | None) -> None:
        body = {"written_by": "churnml import-snapshot", "files": sorted(files), "complete": sha256 is not None, "sha256": sha256 or {}}
        atomic_write_text(directory / IMPORT_RECORD, json.dumps(body, indent=2) + "\n")

    for leftover in directory.glob(".import.*.tmp"):  # staging of an import that was killed
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=".import.", suffix=".tmp", dir=directory))
    try:
        staged = write_dataset(dataset, staging, fmt)
        record(earlier | set(names), None)
        for path in staged:
            os.replace(path, directory / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if len(rejects):
        write_csv(rejects, directory / IMPORT_REJECTS, protect=[c for c in rejects.columns if c != "line"])
    else:
        (directory / IMPORT_REJECTS).unlink(missing_ok=True)
    (directory / REFUSED_IMPORT_REJECTS).unlink(missing_ok=True)
    for stale in sorted(earlier - set(names)):
        (directory / stale).unlink(missing_ok=True)
    record(set(names), {n: _sha256_file(directory / n) for n in names})
    return [directory / n for n in names]


def check_import(directory: Path | str) -> None:
    """Refuse a dataset folder whose import did not finish, or whose tables are not the ones its import wrote."""
    directory = Path(directory)
    path = directory / IMPORT_RECORD
    if not path.is_file():
        return
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        complete, sums = bool(record.get("complete", True)), dict(record.get("sha256") or {})
    except (OSError, ValueError, TypeError, AttributeError):
        raise InputError([f"{path}: not an import record; rerun churnml import-snapshot into this folder"]) from None
    if not complete:
        raise InputError([f"{directory}: an import-snapshot into this folder did not finish ({path} says so), so its tables may come from two exports; rerun the import"])
    ours = _imported_names(directory)
    changed = sorted(n for n, digest in sums.items() if n in ours and (not (directory / n).is_file() or _sha256_file(directory / n) != digest))
    if changed:
        raise InputError([f"{directory}: {', '.join(changed)} no longer match the import that wrote them ({path}); rerun churnml import-snapshot, or remove {IMPORT_RECORD} if the tables were edited on purpose"])


def write_rejects(result: ValidationResult, directory: Path | str) -> list[Path]:
    """Write ``<directory>/<table>.csv`` for each table with rejects; remove stale files of clean tables."""
    directory = Path(directory)
    written = []
    for name, rejects in result.rejects.items():
        path = directory / f"{name}.csv"
        if len(rejects):
            write_csv(rejects, path, protect=[c for c in rejects.columns if c != "line"])
            written.append(path)
        else:
            path.unlink(missing_ok=True)
    return written


# ---------------------------------------------------------------------------------------------------- reading


# A line ends at LF, CRLF or a bare CR (old Mac exports), as the CSV reader and editors count them.
def _breaks_in(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _line_breaks_per_row(table: pa.Table) -> np.ndarray:
    """How many line breaks each parsed row holds inside its quoted values."""
    counts = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        for pattern, sign in (("\n", 1), ("\r", 1), ("\r\n", -1)):
            counts += sign * pc.count_substring(column, pattern).to_numpy(zero_copy_only=False).astype(np.int64)
    return counts


def _physical_lines(path: Path) -> int:
    """Lines in a file, read block by block (a last line without a line break counts)."""
    count, last = 0, b"\n"
    with path.open("rb") as fh:
        while block := fh.read(_CSV_BLOCK_BYTES):
            count += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            if last == b"\r" and block[:1] == b"\n":
                count -= 1  # a CRLF split across two blocks
            last = block[-1:]
    return count + (last not in (b"\n", b"\r"))


def _record_lines(
    table: pa.Table, bad_records: np.ndarray, breaks_in_values: bool, bad_breaks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Source lines (header = 1) of the parsed rows and of the malformed ones, given the malformed rows' record
    positions (and the line breaks inside each): every record starts one line after the previous one ends, so line
    breaks inside values count."""
    n_records = table.num_rows + len(bad_records)
    spans = np.ones(n_records, dtype=np.int64)
    is_bad = np.zeros(n_records, dtype=bool)
    is_bad[bad_records] = True
    if breaks_in_values:
        spans[~is_bad] += _line_breaks_per_row(table)
        if bad_breaks is not None:
            spans[bad_records] += bad_breaks
    starts = 2 + np.concatenate([[0], np.cumsum(spans)[:-1]])
    return starts[~is_bad], starts[is_bad]


def _swallows_rows(text: str, expected_fields: int) -> bool:
    """Whether a malformed row looks like a quote left open: a quoted value whose text after a line break holds a
    whole row's worth of delimiters. A closed multi-line note in a row with one field too many does not."""
    if not _breaks_in(text):
        return False
    try:
        fields = next(csv.reader([text.replace("\r\n", "\n").replace("\r", "\n") + "\n"], strict=False), [])
    except csv.Error:
        return True
    for value in fields:
        rest = re.split(r"\n", value, maxsplit=1)
        if len(rest) == 2 and rest[1].count(",") >= max(1, expected_fields - 1):
            return True
    return False


def _not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits, by line: the message a user can act on."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        return f"{path}: not UTF-8 text; save it as UTF-8 CSV"
    except UnicodeDecodeError as exc:
        head = data[: exc.start]
        line = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1
        if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4096]:
            # Excel's "Unicode text" and many Windows tools write UTF-16: every other byte is zero.
            return f"{path}: UTF-16 text, not UTF-8; save the file as UTF-8 CSV (e.g. re-export it, or iconv -f utf-16 -t utf-8)"
        return f"{path}, line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8 CSV (e.g. re-export it, or iconv -f cp1252 -t utf-8 for a Windows export)"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


_CSV_BLOCK_BYTES = 16 << 20  # the longest line (row) the CSV reader takes; a longer one is named in the error


def _quote_hint(path: Path) -> str:
    """Name the line that stops the parser: an unbalanced quote, or a line longer than the reader's block."""
    # Universal newlines: LF, CRLF and bare CR end a line, as they do for the reader's line numbers.
    with path.open(encoding="utf-8", errors="replace", newline=None) as fh:
        for number, line in enumerate(fh, start=1):
            if len(line) > _CSV_BLOCK_BYTES:
                return (f"; line {number} is {len(line):,} characters long (rows may hold at most {_CSV_BLOCK_BYTES:,} bytes): "
                        "a value that swallowed other rows or binary data; remove it")
            if line.count('"') % 2:
                return f"; line {number} opens a quote that never closes: close it or remove the stray quote"
    return "; check quoting and that values hold no line breaks"


def _refuse_repeated_names(path: Path, names: list[str], how: str) -> None:
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        shown = [
            (repr(n) if n else "(blank)") + f" in columns {', '.join(str(i + 1) for i, m in enumerate(names) if m == n)}"
            for n in dupes
        ]
        raise InputError([f"{path}: column names appear more than once{how}: {'; '.join(shown)}; rename or remove them"])


def _read_csv(path: Path, name: str) -> RawTable:
    malformed: list[tuple[str, int, int, int]] = []

    def _on_bad_row(row: pacsv.InvalidRow) -> str:
        malformed.append((row.text, row.expected_columns, row.actual_columns, row.number or 0))
        return "skip"

    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader([fh.readline()], skipinitialspace=True), [])
    except UnicodeDecodeError:
        raise InputError([_not_utf8(path)]) from None
    except OSError as exc:
        raise InputError([f"{path}: cannot read as CSV ({exc.strerror}); check the path and its permissions"]) from None
    if not header:
        raise InputError([f"{path}: the file is empty; a table needs a header row naming its columns"])
    if any("\x00" in h for h in header):
        # UTF-16 without a byte-order mark decodes as UTF-8 with a zero byte beside every character.
        raise InputError([f"{path}, line 1: the header holds zero bytes: UTF-16 text (or binary data), not UTF-8; save the file as UTF-8 CSV (e.g. iconv -f utf-16le -t utf-8)"])
    names = [h.replace("\ufeff", "").strip() for h in header]
    _refuse_repeated_names(path, names, "")
    physical_lines = _physical_lines(path)  # one pass over the file, for both checks below
    if physical_lines == 1:
        # A header alone (often without a final line break, which the block reader cannot skip): no rows.
        empty = pd.DataFrame({n: pd.Series([], dtype=object) for n in names})
        return RawTable(name, empty, str(path), np.zeros(0, dtype=np.int64), pd.DataFrame({"line": [], "reason": [], "raw": []}))

    def _parse(newlines_in_values: bool, use_threads: bool = True) -> pa.Table:
        malformed.clear()
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=_CSV_BLOCK_BYTES, use_threads=use_threads
            ),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=_on_bad_row, ignore_empty_lines=False, newlines_in_values=newlines_in_values
            ),
            # Every value stays text until validation: ids keep leading zeros, bad values reach the rejects file.
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=False),
        )

    def _fail(exc: Exception) -> InputError:
        if "utf8" in str(exc).lower() or "utf-8" in str(exc).lower():
            return InputError([_not_utf8(path)])
        return InputError([f"{path}: cannot read as CSV ({_first_line(exc)}){_quote_hint(path)}"])

    # The fast reader splits blocks at every line break. A quoted value that holds one (legal CSV, common in CRM
    # notes) needs the quote-aware split, and the rows after it start on later lines than their position says.
    newlines_in_values = False
    try:
        table = _parse(newlines_in_values)
    except (pa.ArrowInvalid, OSError, ValueError):
        table = None
    # Counting line breaks in the file is far cheaper than searching every value; equal counts mean none is quoted.
    if table is None or malformed or physical_lines != table.num_rows + 1:
        newlines_in_values = True
        try:
            table = _parse(newlines_in_values)
        except (pa.ArrowInvalid, OSError, ValueError) as exc:
            raise _fail(exc) from None
    if malformed:
        table = _parse(newlines_in_values, use_threads=False)  # single-threaded, the reader numbers the bad rows
    good, bad = _record_lines(
        table, np.array([m[3] - 2 for m in malformed], dtype=np.int64), newlines_in_values,
        np.array([_breaks_in(m[0]) for m in malformed], dtype=np.int64),
    )
    swallowed = [(line, m) for line, m in zip(bad, malformed) if _swallows_rows(m[0], m[1])]
    if swallowed:
        # A quote left open swallows the lines after it into one field: no row count could be trusted.
        line, m = swallowed[0]
        raise InputError([
            f"{path}: rows cannot be told apart; the row that starts on line {line} runs over "
            f"{_breaks_in(m[0]) + 1} lines and has {m[2]} fields where the header has {m[1]}: a quote on that "
            "line (or one before it) is probably never closed; close it or remove the stray quote"
        ])
    frame = table.to_pandas()
    bad_frame = pd.DataFrame(
        {
            "line": bad,
            "reason": [f"row has {m[2]} fields, the header has {m[1]}" for m in malformed],
            "raw": [m[0] for m in malformed],
        }
    )
    return RawTable(name, frame, str(path), good, bad_frame)


def _is_text_type(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or getattr(pa.types, "is_string_view", lambda _: False)(kind)


def _is_binary_type(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)


def _read_parquet(path: Path, name: str) -> RawTable:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError([f"{path}: cannot read as Parquet ({_first_line(exc)}); rewrite the file"]) from None
    return _raw_from_arrow(table, path, name)


def _raw_from_arrow(table: pa.Table, path: Path, name: str) -> RawTable:
    """A Parquet table as a :class:`RawTable`: column names stripped, ids refused unless text, no raw bytes."""
    names = [str(c).strip() for c in table.schema.names]
    _refuse_repeated_names(path, names, " (spaces around them removed)")
    ids = table.schema.field(table.schema.names[names.index("customer_id")]).type if "customer_id" in names else None
    if ids is not None and not _is_text_type(ids) and not (pa.types.is_null(ids) and table.num_rows == 0):
        what = "bytes" if _is_binary_type(ids) else (
            f"{ids} numbers, which drops leading zeros (00123 would become 123, another customer)"
            if pa.types.is_integer(ids) or pa.types.is_floating(ids) or pa.types.is_decimal(ids) else str(ids))
        raise InputError([f"{path}: customer_id is stored as {what}, not text; write it as a string column"])
    binary = [n for n, f in zip(names, table.schema, strict=True) if _is_binary_type(f.type)]
    if binary:
        raise InputError([f"{path}: column {n!r} holds raw bytes, not text or numbers; write it as a string column, or drop it" for n in binary])
    try:
        frame = table.to_pandas(split_blocks=True)  # one block per column: no copy to stack same-typed columns
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise InputError([f"{path}: cannot read as Parquet ({_first_line(exc)}); rewrite the file"]) from None
    frame.columns = names
    return RawTable(name, frame.reset_index(drop=True), str(path), 1)


def _table_stem(stem: str) -> str:
    """A file stem folded for near-miss matching: lower case, ``-`` and spaces as ``_``, no plural ``s``."""
    folded = stem.strip().lower().replace("-", "_").replace(" ", "_")
    return folded[:-1] if folded.endswith("s") else folded


_DATA_SUFFIXES = (".csv", ".parquet", ".txt", ".tsv", ".gz", ".zip", ".bz2", ".xz", ".pq")
# Copies and dated exports: "complaints (1)", "complaints_copy", "complaints_2025-10-01", "complaints-20251001".
_DECORATION = re.compile(r"(\s*\(\d+\)|[ _-]copy|[ _.-]\d{4}-?\d{2}-?\d{2}|[ _.-]v?\d+)$")


def table_name_like(file_name: str) -> str | None:
    """The contract table a file of this name would be read as, or taken for: ``Surveys.CSV``, ``tech_fault.csv``,
    ``complaints.csv.csv``, ``complaints.csv.gz``, ``complaints (1).csv``, ``complaints_2025-10-01.csv``."""
    name = file_name.strip()
    stem, found = name, False
    while Path(stem).suffix.lower() in _DATA_SUFFIXES:
        stem, found = stem[: -len(Path(stem).suffix)].strip(), True
    if not found:
        return None
    tables = {_table_stem(n): n for n in TABLES}
    for candidate in (stem, _DECORATION.sub("", stem)):
        if _table_stem(candidate) in tables:
            return tables[_table_stem(candidate)]
    return None


def find_tables(directory: Path | str) -> dict[str, Path]:
    """The contract tables present in a directory.

    An error, not an absence, where a table is meant but cannot be used: both CSV and Parquet given, a table name
    that is a folder or a broken link, or a file whose name misses a table's by case, a plural ``s`` or a
    separator (``tech_fault.csv``, ``Complaints.CSV``): an absent optional table would silently change the scores.
    """
    directory = Path(directory)
    if not directory.is_dir():
        if not directory.exists():
            raise NotFoundError(f"{directory}: no such folder; pass --data with the folder that holds subscriptions.csv")
        raise InputError([f"{directory}: not a directory; pass --data with the folder that holds subscriptions.csv"])
    found: dict[str, Path] = {}
    problems = []
    for name in TABLES:
        exact = [directory / f"{name}.csv", directory / f"{name}.parquet"]
        for p in exact:
            if p.is_symlink() and not p.exists():
                problems.append(f"{p}: a link to {os.readlink(p)}, which does not exist; fix the link or remove it")
            elif p.exists() and not p.is_file():
                problems.append(f"{p}: not a file (a folder?); the {name} table must be one CSV or Parquet file")
        candidates = [p for p in exact if p.is_file()]
        if len(candidates) > 1:
            problems.append(f"{directory}: both {name}.csv and {name}.parquet exist; keep one")
        elif candidates:
            found[name] = candidates[0]
    known = {f"{n}{ext}" for n in TABLES for ext in (".csv", ".parquet")}
    for p in sorted(directory.iterdir()):
        like: str | None = None if p.name in known else table_name_like(p.name)
        if like is not None:
            problems.append(
                f"{p}: looks like the {like} table but is not named {like}{p.suffix.lower()}; rename it "
                f"(table names are exact and lower case)" + (", or remove it" if like in found else "")
            )
    if problems:
        raise InputError(problems)
    return found


# ------------------------------------------------------------------------------------ partitioned datasets

PARTITIONING_FILE = "partitioning.json"
BUCKET_KEY = "customer_bucket"


def partitioning(directory: Path | str) -> dict | None:
    """The layout record of a partitioned dataset (``partitioning.json``), or None for a folder of table files."""
    path = Path(directory) / PARTITIONING_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        buckets, tables = int(record["buckets"]), dict(record["tables"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError([f"{path}: not a partitioning record ({_first_line(exc)}); rewrite the dataset with churnml partition"]) from None
    unknown = sorted(set(tables) - set(TABLES))
    if buckets < 1 or unknown or "subscriptions" not in tables:
        raise InputError([f"{path}: buckets must be at least 1 and tables contract tables, subscriptions among them "
                          f"(got buckets {buckets}, unknown tables {unknown}); rewrite the dataset with churnml partition"])
    return {**record, "buckets": buckets, "tables": tables}


def _bucket_parts(folder: Path) -> list[tuple[int, Path]]:
    """The part files of one partitioned table, in bucket order (``customer_bucket=K/part-0.parquet``)."""
    parts = []
    for sub in folder.glob(f"{BUCKET_KEY}=*"):
        value = sub.name.split("=", 1)[1]
        if not value.isdigit():
            raise InputError([f"{sub}: not a bucket folder ({BUCKET_KEY}=K with K a whole number); remove it"])
        parts += [(int(value), p) for p in sorted(sub.glob("*.parquet"))]
    return sorted(parts)


def _read_part(part: Path) -> pa.Table:
    try:
        return pq.read_table(part)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError([f"{part}: cannot read as Parquet ({_first_line(exc)}); rewrite the dataset with churnml partition"]) from None


@dataclass(frozen=True)
class PartitionedData:
    """A handle on a partitioned dataset that reads one bucket at a time: what a worker is given, a few kilobytes.

    Every part's schema and row count are read once (Parquet footers, no rows) by :func:`open_partitioned`; a bucket
    is then read with its tables cast to the schema all parts share and its rows numbered as in the whole table,
    so validating bucket by bucket gives the rows, reasons and line numbers one whole read gives.
    """

    directory: str
    bucket_count: int  # the N of the layout: a customer's bucket is customer_bucket(id, N)
    tables: tuple[str, ...]
    buckets: tuple[int, ...]  # bucket numbers holding any row, ascending
    parts: Mapping[str, Mapping[int, tuple[str, ...]]]  # table -> bucket -> part files
    first_row: Mapping[str, Mapping[int, int]]  # table -> bucket -> row number of its first row in the whole table
    rows: Mapping[str, int]  # table -> rows in all buckets
    schemas: Mapping[str, pa.Schema]  # table -> the schema its parts unify to

    def source(self, name: str) -> str:
        return str(Path(self.directory) / name)

    def read_all(self) -> dict[str, RawTable]:
        """Every table whole, every bucket in bucket order, rows numbered across the parts in that order."""
        out = {}
        for name in self.tables:
            schema = self.schemas[name]
            pieces = [_conform(_read_part(Path(f)), schema) for k in self.buckets for f in self.parts[name].get(k, ())]
            out[name] = _raw_from_arrow(pa.concat_tables(pieces) if pieces else schema.empty_table(), Path(self.source(name)), name)
        return out

    def read_bucket(self, bucket: int, customers: Sequence[str] | None = None) -> dict[str, RawTable]:
        """Every table's rows of one bucket (a table without rows there is empty, with the shared schema), or only
        the log and subscription rows of ``customers``: those rules look at one customer's rows, so validating them
        alone accepts and rejects what validating the whole bucket would, at a fraction of the cost. ``customers``
        stays whole, since its attributes' types are read from whole columns."""
        out = {}
        wanted = None if customers is None else pa.array(list(customers), pa.string())
        for name in self.tables:
            files = self.parts[name].get(bucket, ())
            schema = self.schemas[name]
            pieces = [_conform(_read_part(Path(f)), schema) for f in files]
            table = pa.concat_tables(pieces) if pieces else schema.empty_table()
            first = self.first_row[name].get(bucket, 1)
            lines: np.ndarray | int = first
            if wanted is not None and name != "customers" and "customer_id" in table.schema.names:
                keep = pc.fill_null(pc.is_in(pc.cast(table["customer_id"], pa.string()), value_set=wanted), False)
                rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
                table = table.take(pa.array(rows, pa.int64()))
                lines = rows + first
            raw = _raw_from_arrow(table, Path(self.source(name)), name)
            raw.lines = lines
            out[name] = raw
        return out


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns, in its order, cast as a whole read would promote them."""
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.schema.names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def open_partitioned(directory: Path | str) -> PartitionedData | None:
    """A :class:`PartitionedData` for a partitioned dataset, or None for a folder of table files. Reads only the
    parts' footers; raises :class:`InputError` for a layout or schema no whole read would accept either."""
    layout = partitioning(directory)
    if layout is None:
        return None
    tables = tuple(name for name in TABLES if name in layout["tables"])
    parts: dict[str, dict[int, tuple[str, ...]]] = {}
    first_row: dict[str, dict[int, int]] = {}
    rows: dict[str, int] = {}
    schemas: dict[str, pa.Schema] = {}
    for name in tables:
        folder = Path(directory) / name
        if not folder.is_dir():
            raise InputError([f"{folder}: the partitioning record lists table {name}, but its folder is missing; rewrite the dataset with churnml partition"])
        per: dict[int, list[str]] = {}
        counts: dict[int, int] = {}
        found = []
        for k, part in _bucket_parts(folder):
            try:
                meta = pq.read_metadata(part)
                found.append(meta.schema.to_arrow_schema())
            except (pa.ArrowInvalid, OSError) as exc:
                raise InputError([f"{part}: cannot read as Parquet ({_first_line(exc)}); rewrite the dataset with churnml partition"]) from None
            per.setdefault(k, []).append(str(part))
            counts[k] = counts.get(k, 0) + meta.num_rows
        try:
            schemas[name] = pa.unify_schemas([s.remove_metadata() for s in found], promote_options="default") if found else None
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InputError([f"{folder}: its parts disagree on column types ({_first_line(exc)}); rewrite the dataset with churnml partition"]) from None
        parts[name] = {k: tuple(v) for k, v in per.items()}
        first = 1
        first_row[name] = {}
        for k in sorted(counts):
            first_row[name][k] = first
            first += counts[k]
        rows[name] = first - 1
    # A table without parts reads as the empty table a whole read gives: its contract columns, as text.
    for name in tables:
        if schemas[name] is None:
            schemas[name] = pa.schema([(c, pa.string()) for c in TABLES[name].column_names])
    buckets = tuple(sorted({k for per in parts.values() for k in per}))
    return PartitionedData(str(directory), layout["buckets"], tables, buckets, parts, first_row, rows, schemas)


class PartitionWriter:
    """Writes a partitioned dataset piece by piece (one :meth:`add` per group of customers, each group's rows split
    into every bucket as ``part-<piece>.parquet``), atomically as a whole: nothing appears at ``directory`` before
    :meth:`commit`, and a failure leaves nothing. Memory follows one piece, not the dataset. Use as a context manager.

    Extra files (a generator's truth and oracle) are appended piece by piece with :meth:`append_extra`.
    """

    def __init__(self, directory: Path | str, buckets: int):
        self.final = Path(directory)
        self.buckets = buckets
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", suffix=".tmp", dir=self.final.parent))
        self.counts: dict[str, dict[str, int]] = {}
        self.pieces = 0
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._csv_started: set[str] = set()

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        for writer in self._writers.values():
            writer.close()
        if kind is not None:
            shutil.rmtree(self.staging, ignore_errors=True)

    def add(self, dataset: Dataset) -> None:
        from churnml.dataset import customer_bucket

        piece = self.pieces
        self.pieces += 1
        for name, frame in dataset.items():
            if name != "subscriptions" and frame.empty:
                continue
            bucket = customer_bucket(frame["customer_id"], self.buckets)
            order = np.argsort(bucket, kind="stable")
            edges = np.flatnonzero(np.diff(bucket[order])) + 1
            per = self.counts.setdefault(name, {})
            for rows in np.split(order, edges):  # one slice per bucket present, not per row
                if not len(rows):
                    continue
                k = int(bucket[rows[0]])
                folder = self.staging / name / f"{BUCKET_KEY}={k}"
                folder.mkdir(parents=True, exist_ok=True)
                frame.iloc[rows].to_parquet(folder / f"part-{piece}.parquet", index=False)
                per[str(k)] = per.get(str(k), 0) + len(rows)

    def append_extra(self, frame: pd.DataFrame, file_name: str) -> None:
        """Append rows to a file beside the tables (``.parquet`` or ``.csv``), in the order the pieces come."""
        path = self.staging / file_name
        if file_name.endswith(".parquet"):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if file_name not in self._writers:
                self._writers[file_name] = pq.ParquetWriter(path, table.schema)
            self._writers[file_name].write_table(table.cast(self._writers[file_name].schema))
        else:
            _format_for_csv(frame).to_csv(path, mode="a", header=file_name not in self._csv_started, index=False)
            self._csv_started.add(file_name)

    def commit(self) -> dict:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
        counts = {name: dict(sorted(per.items(), key=lambda kv: int(kv[0]))) for name, per in self.counts.items()}
        record = {
            "buckets": self.buckets, "key": BUCKET_KEY,
            "hash": "FNV-1a 64 of the UTF-8 customer_id, splitmix64 finaliser, modulo buckets",
            "tables": {name: sum(per.values()) for name, per in counts.items()},
            "rows_per_bucket": counts,
        }
        (self.staging / PARTITIONING_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        os.chmod(self.staging, _dir_mode())  # mkdtemp makes 0700; what mkdir and to_parquet made inside follows the umask
        os.rename(self.staging, self.final)  # the folder appears whole, or not at all
        return record


def write_partitioned(dataset: Dataset, directory: Path | str, buckets: int) -> dict:
    """Write a dataset as one Parquet part per table and bucket of customers, atomically as a whole.

    ``DIR/<table>/customer_bucket=K/part-0.parquet`` (hive style, readable by pyarrow, Dask, Spark or DuckDB) and
    ``DIR/partitioning.json``; every row of a customer lands in the bucket :func:`~churnml.dataset.customer_bucket`
    gives its id, so one bucket is a complete dataset for its customers. The folder must not exist yet.
    """
    with PartitionWriter(directory, buckets) as writer:
        writer.add(dataset)
        return writer.commit()


def read_raw_tables(directory: Path | str) -> dict[str, RawTable]:
    """Read every contract table of a directory as raw text (CSV) or as stored (Parquet); a partitioned dataset
    (``partitioning.json``) is read whole, every bucket of every table (:meth:`PartitionedData.read_all`)."""
    handle = open_partitioned(directory)
    if handle is not None:
        return handle.read_all()
    check_import(directory)
    out = {}
    for name, path in find_tables(directory).items():
        out[name] = _read_parquet(path, name) if path.suffix == ".parquet" else _read_csv(path, name)
    return out


def load_dataset(directory: Path | str, as_of: str | pd.Timestamp | None = None) -> ValidationResult:
    """Read and validate a dataset directory: canonical frames, per-table counts and rejected rows."""
    return validate_dataset(read_raw_tables(directory), as_of=as_of)


def read_text_table(path: Path | str) -> RawTable:
    """Read any CSV or Parquet file with every value as text (CSV) or as stored (Parquet), e.g. a CRM export.

    The result keeps each row's source line (quoted line breaks counted) and the rows that could not be split into
    the header's fields, for the caller's rejects file.
    """
    path = Path(path)
    if not path.is_file():
        if not path.exists():
            raise NotFoundError(f"{path}: file not found; check the path")
        raise InputError([f"{path}: not a file (a folder?); give the export file itself"])
    return _read_parquet(path, path.stem) if path.suffix.lower() == ".parquet" else _read_csv(path, path.stem)


# ---------------------------------------------------------------------------------------------- model bundles


def write_bundle(
    bundle: ModelBundle, models_dir: Path | str, *, update_latest: bool = True, key: bytes | None = None
) -> Path:
    """Write ``models_dir/<version>/`` (model.txt + bundle.json) atomically, signed with ``key`` when given; point
    ``models_dir/latest`` at it."""
    models_dir = Path(models_dir)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CannotWriteError(f"{models_dir}: the model folder cannot be created ({exc.strerror}: {exc.filename}); choose another --model-dir") from None
    base = bundle.version
    # Versions are never overwritten. A training finishing in the same second as another (a second run, or the same
    # data retrained) takes the next free suffix; its bundle.json records the version it got.
    for attempt in range(1, 1000):
        version = base if attempt == 1 else f"{base}-{attempt}"
        final = models_dir / version
        if os.path.lexists(final):
            continue
        bundle.meta["version"] = version
        if _write_bundle_folder(bundle, models_dir, final, key):
            break
    else:
        raise CannotWriteError(f"{models_dir}: no free bundle version after {base}-999; remove old bundles or choose another --model-dir")
    if update_latest:
        point_latest(final)
    return final


def _write_bundle_folder(bundle: ModelBundle, models_dir: Path, final: Path, key: bytes | None) -> bool:
    """Write the bundle into a private folder and rename it to ``final``; ``False`` when another run took it first."""
    model_text, bundle_json = bundle.to_files(key)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=models_dir))
    try:
        (tmp / "model.txt").write_text(model_text, encoding="utf-8")
        (tmp / "bundle.json").write_text(bundle_json, encoding="utf-8")
        for name, text in bundle.attachments.items():
            (tmp / name).write_text(text, encoding="utf-8")
        os.chmod(tmp, _dir_mode())  # mkdtemp makes 0700: a scheduler running as another user must read the model
        try:
            os.rename(tmp, final)  # refuses (on a non-empty folder) rather than replaces: a bundle is never overwritten
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) or final.exists():
                return False
            raise
        return True
    except OSError as exc:
        exc.filename = exc.filename or str(final)
        raise
    finally:
        if tmp.exists():
            for p in tmp.iterdir():
                p.unlink()
            tmp.rmdir()


def point_latest(bundle_dir: Path | str) -> None:
    """Point ``latest`` beside a bundle folder at it: a new symlink renamed over the old one, so readers see the old
    bundle or the new, never neither. Call it once everything of the bundle (its evaluation too) is written."""
    bundle_dir = Path(bundle_dir)
    _link_over(bundle_dir.parent / "latest", bundle_dir.name)


def _bundle_text(file: Path) -> str:
    """One file of a bundle as text; unreadable bytes or permissions are a :class:`ModelError` naming it."""
    try:
        return file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"{file}: not UTF-8 text (byte {exc.start} of the file); retrain or restore the bundle") from None
    except OSError as exc:
        raise ModelError(f"{file}: cannot be read ({exc.strerror}); check its permissions") from None


def read_bundle(path: Path | str, *, key: bytes | None = None) -> ModelBundle:
    """Load a bundle directory (or ``models/latest``), verifying its checksums (and its signature, given ``key``)."""
    from churnml.modeling.bundle import ATTACHMENT_NAMES, ModelBundle

    path = Path(path)
    model_file, meta_file = path / "model.txt", path / "bundle.json"
    if not model_file.is_file() or not meta_file.is_file():
        raise ModelError(f"{path}: not a model bundle (needs model.txt and bundle.json); pass --model models/latest after training")
    model_text, meta_text = _bundle_text(model_file), _bundle_text(meta_file)
    attachments = {name: _bundle_text(path / name) for name in ATTACHMENT_NAMES if (path / name).is_file()}
    return ModelBundle.from_files(model_text, meta_text, str(path), key=key, attachments=attachments)


def save_figures(figures: dict, directory: Path | str) -> list[Path]:
    """Save matplotlib figures as PNG files named after their keys, atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        path = directory / f"{name}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        paths.append(path)
    return paths


def read_oracle(directory: Path | str) -> pd.DataFrame | None:
    """The generator's oracle probabilities (``oracle.parquet``), if the dataset has them."""
    path = Path(directory) / "oracle.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    frame["as_of_date"] = frame["as_of_date"].astype("datetime64[ns]")
    return frame


def decimals_or_empty(values: np.ndarray, fmt: str) -> np.ndarray:
    """Numbers as fixed-decimal text (``fmt``), missing values as empty text."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return np.array([], dtype=str)
    present = ~np.isnan(values)
    text = np.char.mod(fmt, values[present])  # only present values: most share columns are empty but for the flagged
    out = np.full(len(values), "", dtype=text.dtype)
    out[present] = text
    return out


def format_output(frame: pd.DataFrame, spec: OutputSpec) -> pd.DataFrame:
    """An output frame as its CSV shows it (the spec's formats): fixed decimals, empty where missing, whole numbers
    as integers, true/false flags, ISO dates."""
    out = frame.copy()
    for col, fmt in spec.numbers.items():
        if col in out:
            values = out[col].to_numpy(dtype=float)
            out[col] = values.astype(np.int64).astype(str) if fmt == "%d" else decimals_or_empty(values, fmt)
    for col in spec.flags:
        if col in out:
            out[col] = np.where(out[col].to_numpy(dtype=bool), "true", "false")
    for col in spec.dates:
        if col in out:
            out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    return out


def _write_output(frame: pd.DataFrame, path: Path | str, spec: OutputSpec, round_parquet: bool) -> str:
    if Path(path).suffix.lower() == ".parquet":
        typed = frame.copy()
        for c in typed.columns:
            if c in spec.texts:
                typed[c] = typed[c].astype("string")
            elif round_parquet and spec.numbers.get(c) == "%.4f":
                typed[c] = typed[c].astype(float).round(4)
        with atomic_path(path) as tmp:
            typed.to_parquet(tmp, index=False)
    else:
        write_csv(frame, path, protect=[c for c in frame.columns if c in spec.texts], transform=lambda part: format_output(part, spec))
    return _sha256_file(Path(path))


def write_scores(scores: pd.DataFrame, path: Path | str) -> str:
    """Write the scores file atomically and return its sha256: CSV with every text field formula-safe, or, for a
    ``.parquet`` path, typed Parquet (ids and texts as strings, probabilities rounded as in the CSV, flags as
    booleans)."""
    return _write_output(scores, path, OUTPUTS["scores"], round_parquet=True)


def write_winback(table: pd.DataFrame, path: Path | str) -> str:
    """Write the win-back file atomically and return its sha256: CSV with every text field formula-safe (numbers,
    negative expected values too, stay numbers), or typed Parquet for a ``.parquet`` path."""
    return _write_output(table, path, OUTPUTS["winback"], round_parquet=False)


def manifest_path(scores_path: Path | str) -> Path:
    """``scores.csv`` -> ``scores.manifest.json`` beside it."""
    p = Path(scores_path)
    return p.with_name(p.stem + ".manifest.json")


KEEP_RUNS = 3  # complete run folders kept beside the current one, for a look back at recent nights
HISTORY = "history"  # the folder of a scores run that keeps what later runs need


@dataclass
class ScoresRun:
    """Where one run writes its pair before it is published: paths inside a private, incomplete run folder.
    ``keep``: how many earlier complete runs stay after publication; ``history_root``: where run histories go when
    not inside the run folders (:func:`history_folder`). The run may set both once its configuration is read."""

    folder: Path
    scores: Path
    manifest: Path
    keep: int = KEEP_RUNS
    history_root: Path | None = None

    def keep_history_in(self, root: Path | None) -> None:
        """Keep this run's history under ``root`` (None: in the run folder); what killed runs left there goes (the
        output's lock is held, and the root is this output's alone)."""
        self.history_root = root
        if root is not None and root.is_dir():
            for p in root.iterdir():
                if p.name.endswith(".tmp"):
                    shutil.rmtree(p, ignore_errors=True)

    @property
    def history(self) -> Path:
        """This run's history folder: inside its run folder, or ``<history_root>/<run id>.tmp/history`` until published."""
        if self.history_root is None:
            return self.folder / HISTORY
        return self.history_root / self.folder.name / HISTORY


def _run_names(out_file: Path) -> tuple[Path, Path, Path]:
    """``(.NAME.runs, .NAME.current, .NAME.lock)`` beside ``out_file`` (NAME with its suffix: ``scores.csv``)."""
    d, name = out_file.parent, out_file.name
    return d / f".{name}.runs", d / f".{name}.current", d / f".{name}.lock"


def is_publication_file(path: Path) -> bool:
    """Whether ``path`` is part of how another output is published (its lock, ``.current`` link, run folders or
    temporaries): writing an output there would break that output's pair or its lock."""
    hidden = [part for part in (path.name, path.parent.name, path.parent.parent.name) if part.startswith(".")]
    return any(part.endswith((".lock", ".current", ".runs", ".tmp")) for part in hidden)


def _clean_leftovers(out_file: Path, runs: Path) -> None:
    """Remove what killed runs left behind: incomplete run folders and temporary files of this output."""
    if runs.is_dir():
        for p in runs.iterdir():
            if p.name.endswith(".tmp"):
                shutil.rmtree(p, ignore_errors=True)
    for name in (out_file.name, manifest_path(out_file).name):
        for p in out_file.parent.glob(f".{name}.*.tmp"):
            p.unlink(missing_ok=True)


def _link_over(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` with one rename, so readers see the old target or the new, never neither."""
    hidden = link.name if link.name.startswith(".") else f".{link.name}"
    tmp = link.with_name(f"{hidden}.{uuid.uuid4().hex}.tmp")  # the name _clean_leftovers removes after a kill
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _adopt_pair(out_file: Path, runs: Path, current: Path) -> None:
    """Turn both names of the pair into links through ``current`` without changing what either name shows.

    Plain files (from an older churnml, or copied in) are copied into a run folder of their own first, so every step
    shows the old pair and publication stays one rename of ``current``: converting the names one by one after it
    would let a kill leave the new scores beside the old manifest.
    """
    names = (out_file.name, manifest_path(out_file).name)
    links = [out_file.parent / n for n in names]
    wanted = [f"{current.name}/{n}" for n in names]
    ours = [link.is_symlink() and os.readlink(link) == w for link, w in zip(links, wanted)]
    if all(ours):
        return
    if any(os.path.lexists(link) and not mine for link, mine in zip(links, ours)):
        _adopt_shown(links, runs, current)
    for link, w in zip(links, wanted):
        if not (link.is_symlink() and os.readlink(link) == w):
            _link_over(link, w)  # shows the same bytes as before; a name that was absent stays absent


def _adopt_shown(links: list[Path], runs: Path, current: Path) -> None:
    """Copy what each name shows now into a run folder of its own and point ``current`` at it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(max((p.lstat().st_mtime for p in links if os.path.lexists(p)), default=0)))
    adopted = runs / f"{stamp}-adopted-{uuid.uuid4().hex[:8]}"
    folder = adopted.with_name(adopted.name + ".tmp")
    folder.mkdir()
    for link in links:
        if link.exists():  # what the name shows now, plain file or link
            shutil.copyfile(link, folder / link.name)
            os.chmod(folder / link.name, _file_mode())
    os.chmod(folder, _dir_mode())
    os.replace(folder, adopted)
    _link_over(current, f"{runs.name}/{adopted.name}")


@contextlib.contextmanager
def publish_scores(out_file: Path | str, *, keep: int = KEEP_RUNS) -> Iterator[ScoresRun]:
    """Yield a private run folder for the scores file and its manifest; publish both at once if the block succeeds.

    A second run on the same output while this one holds it raises :class:`~churnml.errors.BusyError` at once.
    Leftovers of killed runs are removed first; after publishing, only the ``keep`` newest earlier runs remain.
    A failed block publishes nothing and leaves the previous pair as it was.
    """
    out_file = Path(out_file)
    runs, current, lock_path = _run_names(out_file)
    try:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_path, "a+b")  # noqa: SIM115 - held open until the run is published or fails
    except OSError as exc:
        raise CannotWriteError(f"{out_file}: cannot be written ({exc.strerror}: {exc.filename}); choose another --out") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"{out_file}: another churnml run is writing this output now (lock {lock_path}); wait for it to finish, "
                "or give this run another --out"
            ) from None
        _clean_leftovers(out_file, runs)
        run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        folder = runs / f"{run_id}.tmp"
        try:
            runs.mkdir(exist_ok=True)
            os.chmod(runs, _dir_mode())
            folder.mkdir()
        except OSError as exc:
            raise CannotWriteError(f"{out_file}: cannot be written ({exc.strerror}: {exc.filename}); choose another --out") from None
        run = ScoresRun(folder, folder / out_file.name, folder / manifest_path(out_file).name, keep)
        try:
            yield run
            keep = run.keep
            for p in folder.rglob("*"):
                os.chmod(p, _dir_mode() if p.is_dir() else _file_mode())
            os.chmod(folder, _dir_mode())
            final = runs / run_id
            if run.history_root is not None and (run.history_root / folder.name).exists():
                # The history elsewhere is in place before the pair is published: a reader never finds a published
                # run without it.
                os.replace(run.history_root / folder.name, run.history_root / run_id)
            os.replace(folder, final)
            _adopt_pair(out_file, runs, current)
            _link_over(current, f"{runs.name}/{run_id}")  # the moment of publication
            for root, this in ((runs, final), (run.history_root, None)):
                if root is None or not root.is_dir():
                    continue
                done = sorted(p for p in root.iterdir() if not p.name.endswith(".tmp") and p != this)
                for old in done[: max(0, len(done) - keep - (this is None))]:
                    shutil.rmtree(old, ignore_errors=True)
        finally:
            for leftover in (folder, None if run.history_root is None else run.history_root / folder.name):
                if leftover is not None and leftover.exists():
                    shutil.rmtree(leftover, ignore_errors=True)


# ------------------------------------------------------------------------------------------------ run history



@dataclass(frozen=True)
class FeatureSink:
    """Writes each part's feature vectors into a run's history as ``features/part-K.parquet`` (one file per part,
    from whichever process scored it, so no part crosses to the driver). Picklable: a Dask task carries it."""

    folder: str

    def __call__(self, k: int, features: pd.DataFrame) -> None:
        target = Path(self.folder) / "features"
        target.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(features.reset_index(), preserve_index=False)
        pq.write_table(table, target / f"part-{int(k):05d}.parquet", compression="zstd")


@contextlib.contextmanager
def written_behind(sink: Callable[[int, pd.DataFrame], None]) -> Iterator[Callable[[int, pd.DataFrame], None]]:
    """``sink`` on one writer thread: while Arrow encodes and compresses a part (outside the GIL), this process
    builds the next part's features. One part waits at most, so memory still follows a part; a failed write is
    raised at the next part or on leaving, and every write has ended when the block does."""
    from concurrent.futures import Future, ThreadPoolExecutor

    pending: list[Future] = []

    def settle() -> None:
        while pending:
            pending.pop().result()

    def behind(k: int, features: pd.DataFrame) -> None:
        settle()
        pending.append(writer.submit(sink, k, features))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="churnml-history") as writer:
        try:
            yield behind
        except BaseException:
            for job in pending:  # the run failed: its folder is discarded; let the writes end, unheeded
                job.cancel()
            raise
        settle()


def write_history(folder: Path | str, customers: pd.DataFrame, run: Mapping[str, object]) -> None:
    """The rest of a run's history: one row per active customer (probability, log-odds, flag, cause, the families'
    contributions of the flagged) and ``run.json`` (date, model, drift counts, feed volumes)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(customers, preserve_index=False), folder / "customers.parquet", compression="zstd")
    (folder / "run.json").write_text(json.dumps(run, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value: object) -> object:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return str(value)


@dataclass(frozen=True)
class PastRun:
    """A published run's history: its ``run.json`` and readers of its customers and feature vectors."""

    folder: Path
    run: dict

    @property
    def as_of(self) -> pd.Timestamp:
        return pd.Timestamp(self.run["as_of"])

    def columns(self) -> list[str]:
        """The columns its customers table holds (a run from an older churnml holds fewer)."""
        return pq.read_schema(self.folder / "customers.parquet").names

    def customers(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The run's customers table (only ``columns``, where given)."""
        return pq.read_table(self.folder / "customers.parquet", columns=list(columns) if columns is not None else None).to_pandas()

    def features(self, ids: Sequence[str]) -> pd.DataFrame:
        """The feature vectors this run scored for ``ids`` (those it had), indexed by customer."""
        parts = sorted((self.folder / "features").glob("part-*.parquet"))
        if not parts or len(ids) == 0:
            return pd.DataFrame(index=pd.Index([], name="customer_id", dtype="str"))
        wanted = pa.array([str(i) for i in ids], pa.string())
        # A whole part read and filtered in memory: half the time of a dataset scan with the same filter pushed down.
        tables = []
        for part in parts:
            table = pq.read_table(part)
            tables.append(table.filter(pc.is_in(table["customer_id"], value_set=wanted.cast(table["customer_id"].type))))
        return pa.concat_tables(tables).to_pandas().set_index("customer_id")


def past_runs(runs_dir: Path | str) -> list[PastRun]:
    """Every published run with a history in a scores output's run folders (``.NAME.runs``), oldest as-of first
    (the latest publication of a date stands for it)."""
    runs_dir = Path(runs_dir)
    by_date: dict[str, PastRun] = {}
    if not runs_dir.is_dir():
        return []
    for folder in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.endswith(".tmp")):
        meta = folder / HISTORY / "run.json"
        if meta.is_file():
            try:
                run = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue  # a damaged history is skipped, not trusted
            by_date[str(run.get("as_of"))] = PastRun(folder / HISTORY, run)
    return [by_date[d] for d in sorted(by_date)]


def previous_run(out_file: Path | str, as_of: pd.Timestamp, history: Path | None = None) -> PastRun | None:
    """The latest published run of this scores output dated before ``as_of``, if it kept a history (in
    ``history``: :func:`history_folder`; default its run folders)."""
    earlier = [r for r in past_runs(history or runs_folder(out_file)) if r.as_of < as_of]
    return earlier[-1] if earlier else None


def runs_folder(out_file: Path | str) -> Path:
    """Where a scores output keeps its run folders (and, by default, their histories)."""
    return _run_names(Path(out_file))[0]


def history_folder(out_file: Path | str, history_dir: Path | str | None = None) -> Path:
    """Where a scores output's run histories live: its run folders, or, with ``monitoring.history_dir``, a folder
    of its own there (``<dir>/<file name>-<hash of its absolute path>``: two outputs of one name never share it)."""
    out_file = Path(out_file)
    if history_dir is None:
        return runs_folder(out_file)
    digest = hashlib.sha256(str(out_file.absolute()).encode("utf-8")).hexdigest()[:8]
    return Path(history_dir) / f"{out_file.name}-{digest}"


def recorded_history_folder(scores_path: Path | str) -> Path:
    """Where the run that wrote ``scores_path`` kept the histories, as its manifest records (its run folders when
    the manifest names none)."""
    recorded = (read_manifest(scores_path).get("monitoring") or {}).get("history_folder")
    return Path(recorded) if recorded else runs_folder(scores_path)


def output_target(out_file: Path | str) -> Path:
    """Where ``--out`` really writes: a symlink the user made is followed to its target (written through), while
    the links this module keeps for the scores pair stay as they are."""
    out_file = Path(out_file)
    if out_file.is_symlink():
        _, current, _ = _run_names(out_file)
        if os.readlink(out_file) != f"{current.name}/{out_file.name}":
            return Path(os.path.realpath(out_file))
    return out_file


def verify_scores_pair(scores_path: Path | str, manifest: dict) -> None:
    """Refuse a scores file whose manifest records another file's sha256 (the pair is from different runs)."""
    import hashlib

    claimed = (manifest.get("output") or {}).get("sha256")
    if claimed and hashlib.sha256(Path(scores_path).read_bytes()).hexdigest() != claimed:
        raise InputError(
            [f"{scores_path}: its manifest {manifest_path(scores_path)} records another file (sha256 differs); "
             "the pair was mixed by hand or copied apart; rerun churnml score"]
        )


def read_scores(path: Path | str) -> pd.DataFrame:
    """A scores CSV as written by ``churnml score``: ids as text, numbers as numbers, flags as booleans."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: scores file not found; run churnml score first")
    try:
        if path.suffix.lower() == ".parquet":
            columns = pq.read_schema(path).names
        else:
            with path.open(encoding="utf-8", newline="") as fh:
                columns = next(csv.reader([fh.readline()]), [])
    except (OSError, UnicodeDecodeError, pa.ArrowInvalid) as exc:
        raise InputError([f"{path}: cannot be read as a scores file ({_first_line(exc)}); pass the file churnml score wrote"]) from None
    missing = [c for c in OUTPUTS["scores"].contract if c not in columns]
    if missing:
        raise InputError([f"{path}: not a scores file (columns missing: {', '.join(missing)}); pass the file churnml score wrote"])
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        frame["customer_id"] = frame["customer_id"].astype("str")
        for c in ("primary_cause", "reason_1", "reason_2", "reason_3"):
            frame[c] = frame[c].fillna("").astype("str")
        return frame
    spec = OUTPUTS["scores"]
    # Texts stay text ("" where empty); an empty number is missing, so optional columns read as numbers too.
    frame = pd.read_csv(path, dtype={c: "str" for c in spec.texts if c in columns}, keep_default_na=False,
                        na_values={c: [""] for c in spec.numbers if c in columns})
    for c in spec.flags:
        if c in frame:
            frame[c] = frame[c].astype(str).str.lower().eq("true")
    return frame


def read_winback(path: Path | str) -> pd.DataFrame:
    """A win-back CSV (or Parquet) as written by ``churnml winback``: ids and texts as text, numbers as numbers."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: win-back file not found; run churnml winback first")
    texts = ["customer_id", "cause_at_churn", "reason_1", "reason_2", "reason_3", "recommended_action", "model_version", "action_reason"]
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={c: "str" for c in texts}, keep_default_na=False, na_values={"cause_share": [""]})
    except (OSError, UnicodeDecodeError, ValueError, pa.ArrowInvalid) as exc:
        raise InputError([f"{path}: cannot be read as a win-back file ({_first_line(exc)}); pass the file churnml winback wrote"]) from None
    missing = [c for c in OUTPUTS["winback"].contract if c not in frame.columns]
    if missing:
        raise InputError([f"{path}: not a win-back file (columns missing: {', '.join(missing)}); pass the file churnml winback wrote"])
    for c in texts:
        if c in frame:
            frame[c] = frame[c].fillna("").astype("str")
    return frame


def read_manifest(scores_path: Path | str) -> dict:
    """The run manifest written beside a scores file (empty if there is none)."""
    import json

    path = manifest_path(scores_path)
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError([f"{path}: not a run manifest (not JSON: {exc}); rerun churnml score"]) from None
    if not isinstance(manifest, dict):
        raise InputError([f"{path}: not a run manifest (JSON, but not an object); rerun churnml score"])
    return manifest


def write_report(files: Mapping[str, bytes | str], out_dir: Path | str) -> Path:
    """Write a report's files into a fresh directory, then swap it in for ``out_dir``; return index.html.

    Paths must be relative and stay inside the report: customer pages are named by the report builder from
    sanitised ids, and this check refuses anything that would escape the folder.
    """
    import shutil

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        root = staging.resolve()
        for rel, content in files.items():
            target = (staging / rel).resolve()
            if root not in target.parents:
                raise ValueError(f"report file {rel!r} would be written outside the report folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode("utf-8") if isinstance(content, str) else content
            target.write_bytes(data)
            os.chmod(target, _file_mode())
        os.chmod(staging, _dir_mode())
        old = out_dir.with_name(f".{out_dir.name}.old")
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        exc.filename = exc.filename or str(out_dir)
        raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir / "index.html"
