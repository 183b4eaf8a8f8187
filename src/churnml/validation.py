"""Row and table rules of the input contract, vectorised over whole columns.

Pure functions: raw frames in, canonical frames plus rejects out. Reading files is :mod:`churnml.io`'s job.
Every rejected row keeps its source line and every reason it failed, so accepted + rejected always equals read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnml.dataset import Dataset, as_timestamp, isin_ids, month_end
from churnml.errors import InputError
from churnml.schemas import DATETIME_DTYPE, ID_DTYPE, TABLES, ColumnSpec, Kind, TableSpec

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
# datetime64[ns] spans 1677..2262; anything outside is a typo, not a customer event.
_MIN_DATE = pd.Timestamp("1900-01-01")
_MAX_DATE = pd.Timestamp("2200-01-01")


@dataclass
class RawTable:
    """A table as read from disk: every value as found, plus the source line (or row) of each record."""

    name: str
    frame: pd.DataFrame
    source: str
    lines: np.ndarray  # 1-based source position of each row (CSV: line, header = 1; Parquet: row)
    malformed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"line": [], "raw": [], "reason": []}))

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.malformed)


@dataclass
class TableReport:
    table: str
    source: str
    read: int
    accepted: int
    rejected: int
    ignored_columns: list[str] = field(default_factory=list)
    after_as_of: int = 0  # rejected only because they are dated after --as-of: not errors of the export

    def __post_init__(self) -> None:
        assert self.accepted + self.rejected == self.read, f"{self.table}: rows lost in validation"

    @property
    def error_share(self) -> float:
        """Rejected rows as a share of the rows read, leaving out those rejected only for lying after --as-of."""
        judged = self.read - self.after_as_of
        return (self.rejected - self.after_as_of) / judged if judged > 0 else 0.0


@dataclass
class ValidationResult:
    dataset: Dataset | None  # None when the rows stay on disk (a partitioned dataset checked bucket by bucket)
    reports: dict[str, TableReport]
    rejects: dict[str, pd.DataFrame]  # per table: line, reason, then the raw columns
    newest: tuple[pd.Timestamp | None, str | None] = (None, None)  # latest date by the as-of asked for, and its table

    @property
    def total_rejected(self) -> int:
        return sum(r.rejected for r in self.reports.values())

    @property
    def accepted(self) -> Dataset:
        """The accepted rows; only a dataset validated in memory has them here."""
        if self.dataset is None:
            raise ValueError("this dataset was validated bucket by bucket: its accepted rows stay on disk")
        return self.dataset


Message = str | Callable[[np.ndarray], np.ndarray]


class Reasons:
    """Every reason a row fails, joined with '; ', accumulated rule by rule without a loop over rows."""

    def __init__(self, n: int):
        self.bad = np.zeros(n, dtype=bool)
        self.text = np.full(n, "", dtype=object)

    def add(self, mask: np.ndarray | pd.Series, message: Message) -> None:
        """``message``: one text, or a function of the mask giving the text of each selected row.

        A function is only called when some row fails, so clean columns cost no string building.
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        msg = message if isinstance(message, str) else np.asarray(message(mask), dtype=object)
        self.text[mask] = self.text[mask] + np.where(self.bad[mask], "; ", "") + msg
        self.bad |= mask


def show(raw: pd.Series) -> np.ndarray:
    """Raw values quoted for a message; long values are cut so a reject line stays readable."""
    return ("'" + raw.astype(str).str.slice(0, 40) + "'").to_numpy(dtype=object)


def quoted(raw: pd.Series, text: str) -> Callable[[np.ndarray], np.ndarray]:
    """Message "<column> '<value>' <text>", built only for the rows that fail."""
    return lambda mask: f"{raw.name} " + show(raw[mask]) + f" {text}"


def empty_mask(raw: pd.Series) -> np.ndarray:
    if pd.api.types.is_string_dtype(raw.dtype) or raw.dtype == object:
        return (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
    return raw.isna().to_numpy()


_UNSAFE_ID_CHARACTERS = "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
MAX_ID_CHARS = 256  # far beyond any CRM key; a longer "id" is a value that swallowed others, or an attack


def reject_unsafe_ids(raw: pd.Series, present: np.ndarray, reasons: Reasons) -> None:
    """Reject ids that would harm where they go unchanged (the scores file, CRM imports, file names): ids a
    spreadsheet would run as a formula, ids holding control characters (NUL, line breaks, escapes) and ids
    longer than :data:`MAX_ID_CHARS`."""
    text = raw.astype(ID_DTYPE)
    risky = present & text.str.startswith(FORMULA_PREFIXES).to_numpy(dtype=bool, na_value=False)
    reasons.add(risky, quoted(raw, "starts with =, +, -, @, tab or CR, which spreadsheets run as a formula"))
    # C0 and C1 controls, Unicode line breaks, zero-width marks and bidi overrides (U+202E shows an id reversed).
    control = present & text.str.contains(_UNSAFE_ID_CHARACTERS, regex=True).to_numpy(dtype=bool, na_value=False)
    reasons.add(control & ~risky, quoted(raw, "holds a control or invisible character (NUL, line break, escape, zero-width or "
                                                "direction mark); ids must be printable text"))
    long = present & (text.str.len() > MAX_ID_CHARS).to_numpy(dtype=bool, na_value=False)
    reasons.add(long, lambda mask: (f"{raw.name} is " + text[mask].str.len().astype(str)
                                    + f" characters long; ids may hold at most {MAX_ID_CHARS}").to_numpy(dtype=object))


_FULL_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:$|[T ])"
_NUMERIC_ATTRIBUTE_SHARE = 0.9  # a column this numeric is a numeric attribute; its few other values are errors
_NUMERIC_ATTRIBUTE_MIN_VALUES = 10


def _parse_datetime(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        out = raw
        if getattr(raw.dt, "tz", None) is not None:
            out = raw.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        text = raw.astype(str).str.strip()
        # Only a full calendar date (with an optional time) is a date: pandas would read 2019 or 20190101 as one.
        full = text.str.match(_FULL_ISO_DATE).to_numpy(dtype=bool, na_value=False)
        out = pd.to_datetime(text.where(full), format="ISO8601", utc=True, errors="coerce")
        out = out.dt.tz_localize(None)
    out = out.where((out >= _MIN_DATE) & (out < _MAX_DATE))
    return out.astype(DATETIME_DTYPE)


def parse_number(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("float64")
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype("float64")
    return pd.to_numeric(raw.astype(str).str.strip(), errors="coerce").astype("float64")


def parse_bool(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.fillna(False).astype(bool), raw.isna().to_numpy()
    if pd.api.types.is_numeric_dtype(raw.dtype):
        ok = raw.isin([0, 1]).to_numpy()
        return (raw == 1).astype(bool), ~ok
    s = raw.astype(str).str.strip().str.lower()
    truthy, falsy = s.isin(_TRUE).to_numpy(), s.isin(_FALSE).to_numpy()
    return pd.Series(truthy, index=raw.index), ~(truthy | falsy)


def _check_column(raw: pd.Series, col: ColumnSpec, reasons: Reasons) -> pd.Series:
    """Parse one column to its canonical dtype, recording every rule it breaks."""
    name = col.name
    empty = empty_mask(raw)
    if not col.nullable:
        reasons.add(empty, f"{name} is empty (required)")
    present = ~empty

    if col.kind in (Kind.ID, Kind.TEXT, Kind.ENUM):
        # Ids keep every character as given: '00123' and '123' are different customers.
        values = raw.astype(ID_DTYPE)
        if col.kind == Kind.ID:
            values = values.where(present, "")
            reject_unsafe_ids(raw, present, reasons)
        else:
            values = values.where(present)
        if col.kind == Kind.ENUM:
            values = values.str.strip().str.lower()
            unknown = present & ~values.isin(col.allowed).to_numpy()
            reasons.add(unknown, quoted(raw, f"is not one of {', '.join(col.allowed or ())}"))
        return values

    if col.kind in (Kind.DATE, Kind.MONTH, Kind.TIMESTAMP):
        values = _parse_datetime(raw)
        unparsed = present & values.isna().to_numpy()
        what = "an ISO-8601 timestamp" if col.kind == Kind.TIMESTAMP else "an ISO-8601 date (YYYY-MM-DD)"
        reasons.add(unparsed, quoted(raw, f"is not {what} between 1900 and 2200"))
        parsed = present & ~unparsed
        if col.kind in (Kind.DATE, Kind.MONTH):
            timed = parsed & (values != values.dt.normalize()).to_numpy()
            reasons.add(timed, quoted(raw, "has a time of day; give a date (YYYY-MM-DD)"))
        if col.kind == Kind.MONTH:
            not_first = parsed & (values.dt.day != 1).to_numpy()
            reasons.add(not_first, quoted(raw, "is not the first day of a month"))
        return values

    if col.kind == Kind.BOOL:
        values, unknown = parse_bool(raw)
        reasons.add(present & unknown, quoted(raw, "is not a boolean (true/false, 1/0, yes/no)"))
        return values

    values = parse_number(raw)
    unparsed = present & ~np.isfinite(values.to_numpy())
    reasons.add(unparsed, quoted(raw, "is not a number"))
    ok = present & ~unparsed
    v = values.to_numpy()
    with np.errstate(invalid="ignore"):
        if col.ge is not None:
            reasons.add(ok & (v < col.ge), quoted(raw, f"is below {col.ge:g} (must be >= {col.ge:g})"))
        if col.gt is not None:
            reasons.add(ok & (v <= col.gt), quoted(raw, f"must be > {col.gt:g}"))
        if col.le is not None:
            reasons.add(ok & (v > col.le), quoted(raw, f"is above {col.le:g} (must be <= {col.le:g})"))
        if col.kind == Kind.INT:
            reasons.add(ok & (v != np.round(v)), quoted(raw, "is not a whole number"))
    return values


def _overlapping_periods(subs: pd.DataFrame, usable: np.ndarray) -> np.ndarray:
    """Periods that start before an earlier period of the same customer has ended."""
    pos = np.flatnonzero(usable)
    if len(pos) == 0:
        return np.zeros(len(subs), dtype=bool)
    part = subs.iloc[pos][["customer_id", "start_date", "end_date"]].copy()
    part["_pos"] = pos
    part = part.sort_values(["customer_id", "start_date", "_pos"], kind="stable")
    ends = part["end_date"].fillna(pd.Timestamp.max).astype(DATETIME_DTYPE)
    # The latest end seen so far within the customer; an open period reaches forever.
    prev_end = ends.groupby(part["customer_id"], sort=False).cummax().groupby(part["customer_id"], sort=False).shift(1)
    overlap = (part["start_date"] < prev_end).to_numpy()
    out = np.zeros(len(subs), dtype=bool)
    out[part["_pos"].to_numpy()[overlap]] = True
    return out


def validate_table(raw: RawTable, spec: TableSpec) -> tuple[pd.DataFrame, pd.DataFrame, Reasons]:
    """Parse and check one table's own rules; returns (canonical frame of all rows, raw frame, reasons)."""
    frame = raw.frame
    reasons = Reasons(len(frame))
    out: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name in frame.columns:
            out[col.name] = _check_column(frame[col.name], col, reasons)
        else:  # optional column absent: all empty
            out[col.name] = pd.Series(np.nan, index=frame.index, dtype=col.dtype if col.dtype != "bool" else "float64")
    if spec.open_extra_columns:
        for name in frame.columns:
            if name not in out:
                out[name] = _attribute_column(frame[name], reasons)
    canonical = pd.DataFrame(out, index=frame.index)
    if spec.name == "subscriptions":
        s, e = canonical["start_date"], canonical["end_date"]
        backwards = (e.notna() & s.notna() & (e <= s)).to_numpy()
        reasons.add(backwards, lambda m: "end_date " + show(frame["end_date"][m]) + " is not after start_date " + show(frame["start_date"][m]))
        usable = ~reasons.bad
        reasons.add(
            _overlapping_periods(canonical, usable),
            lambda m: "period starting " + show(frame["start_date"][m]) + " overlaps an earlier period of this customer",
        )
    if spec.time_column is not None and spec.name != "subscriptions" and len(frame):
        # An export that repeats a row would count one contact, fault or rise twice.
        reasons.add(_exact_duplicates(frame), "exact duplicate of an earlier row (kept once)")
    if spec.name == "customers":
        ids = canonical["customer_id"]
        reasons.add((ids.duplicated(keep="first") & (ids != "")).to_numpy(), "customer_id appears again (one row per customer)")
    return canonical, frame, reasons


def _exact_duplicates(frame: pd.DataFrame) -> np.ndarray:
    """Rows equal to an earlier row in every column. One 64-bit hash per row finds the candidates; only those are
    compared in full, so memory follows the table's row count, not its row count times its columns."""
    try:
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # a Parquet column of lists or structs: compare the columns that hold plain values
        plain = [c for c in frame.columns if not (frame[c].dtype == object and frame[c].map(np.ndim).gt(0).any())]
        frame = frame[plain]
        hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    candidates = np.flatnonzero(pd.Series(hashes).duplicated(keep=False).to_numpy())
    out = np.zeros(len(frame), dtype=bool)
    if len(candidates):
        out[candidates] = frame.iloc[candidates].duplicated(keep="first").to_numpy()
    return out


def _attribute_column(raw: pd.Series, reasons: Reasons | None = None) -> pd.Series:
    """A static attribute: numeric when its present values are numbers, else text (a category later).

    A column whose values are numbers but for a few (at least 90% of 10 or more) stays numeric and the rows with
    the others are rejected: one stray ``n/a`` must not turn an age into 60 unrelated categories.
    """
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("float64")
    empty = empty_mask(raw)
    as_num = parse_number(raw)
    number = as_num.notna().to_numpy() & np.isfinite(as_num.to_numpy())
    present = int((~empty).sum())
    if present and (number | empty).all():
        return as_num
    if reasons is not None and present >= _NUMERIC_ATTRIBUTE_MIN_VALUES and number.sum() >= _NUMERIC_ATTRIBUTE_SHARE * present:
        bad = ~empty & ~number
        reasons.add(bad, quoted(raw, f"is not a number, and the column is numeric ({int(number.sum()):,} of {present:,} values are)"))
        return as_num.where(number)
    return raw.astype(ID_DTYPE).where(~empty)


def _date_of_rows(canonical: pd.DataFrame, spec: TableSpec) -> pd.Series | None:
    if spec.time_column is None:
        return None
    when = canonical[spec.time_column]
    # A usage month is dated by its last day: it is only known once it has ended.
    return month_end(when) - pd.Timedelta(days=1) if spec.name == "usage" else when


def _fatal_problems(raw: dict[str, RawTable], part: bool = False) -> list[str]:
    problems = []
    if "subscriptions" not in raw:
        problems.append("subscriptions: required table is missing; add subscriptions.csv or subscriptions.parquet")
    elif raw["subscriptions"].rows_read == 0 and not part:
        problems.append(f"{raw['subscriptions'].source}: has a header but no rows; without subscription periods there "
                        "are no customers: export the periods too")
    for name, table in raw.items():
        spec = TABLES[name]
        ids = table.frame.get("customer_id")
        if ids is not None and (pd.api.types.is_numeric_dtype(ids.dtype) or pd.api.types.is_bool_dtype(ids.dtype)):
            problems.append(
                f"{table.source}: customer_id is stored as {ids.dtype} numbers, which drops leading zeros (00123 would "
                "become 123, another customer); write it as text (a string column)"
            )
        missing = [c for c in spec.required_columns if c not in table.frame.columns]
        for c in missing:
            problems.append(
                f"{table.source}: required column '{c}' is missing (table {name}; expected columns: "
                f"{', '.join(spec.required_columns)})"
            )
    return problems


def validate_dataset(raw: dict[str, RawTable], as_of: str | pd.Timestamp | None = None, *, part: bool = False) -> ValidationResult:
    """Check every table and the rules across tables; raise :class:`InputError` for problems no row fix can cure.

    With ``part``, ``raw`` holds every row of some customers (one bucket): the rules are the same, since each
    looks at one customer's rows, but an empty subscriptions table is no fault of a bucket.
    """
    problems = _fatal_problems(raw, part)
    if problems:
        raise InputError(problems)
    t = as_timestamp(as_of) if as_of is not None else None

    parsed = {name: validate_table(table, TABLES[name]) for name, table in raw.items()}
    subs, _, subs_reasons = parsed["subscriptions"]
    known_customers = pd.Index(subs.loc[~subs_reasons.bad, "customer_id"].unique())

    frames: dict[str, pd.DataFrame] = {}
    reports: dict[str, TableReport] = {}
    rejects: dict[str, pd.DataFrame] = {}
    for name, (canonical, frame, reasons) in parsed.items():
        spec = TABLES[name]
        if name != "subscriptions":
            orphan = ~isin_ids(canonical["customer_id"], known_customers) & (canonical["customer_id"] != "").to_numpy()
            reasons.add(orphan, quoted(frame["customer_id"], "has no valid subscription"))
        dated = _date_of_rows(canonical, spec)
        after = 0
        if t is not None and dated is not None:
            future = (dated > t).to_numpy()
            after = int((future & ~reasons.bad).sum())
            reasons.add(future, quoted(frame[spec.time_column], f"is after as-of {t.date()}"))
        table = raw[name]
        bad = reasons.bad
        frames[name] = canonical.loc[~bad].reset_index(drop=True)
        rejected = frame.loc[bad].astype(str)
        rejected.insert(0, "reason", reasons.text[bad])
        rejected.insert(0, "line", table.lines[bad])
        if len(table.malformed):
            rejected = pd.concat([table.malformed, rejected], ignore_index=True).sort_values("line", kind="stable")
        rejects[name] = rejected.reset_index(drop=True)
        extra = [] if spec.open_extra_columns else [c for c in frame.columns if c not in spec.column_names]
        reports[name] = TableReport(name, table.source, table.rows_read, int((~bad).sum()), int(bad.sum()) + len(table.malformed), extra, after)
    return ValidationResult(Dataset.from_frames(frames), reports, rejects)


def merge_results(parts: list[ValidationResult], sources: dict[str, str], dataset: Dataset | None) -> ValidationResult:
    """The result of validating every bucket of one dataset, as validating it whole gives: counts added up, rejects
    in bucket (so line) order, each table named by ``sources``; ``dataset`` stands for the accepted rows."""
    reports: dict[str, TableReport] = {}
    rejects: dict[str, pd.DataFrame] = {}
    for name in parts[0].reports if parts else ():
        mine = [p.reports[name] for p in parts]
        reports[name] = TableReport(
            name, sources[name], sum(r.read for r in mine), sum(r.accepted for r in mine), sum(r.rejected for r in mine),
            mine[0].ignored_columns, sum(r.after_as_of for r in mine),
        )
        found = [p.rejects[name] for p in parts if len(p.rejects[name])]
        rejects[name] = pd.concat(found, ignore_index=True) if found else parts[0].rejects[name]
    return ValidationResult(dataset, reports, rejects)
