"""Row and table rules of the input contract, vectorised over whole columns.

Pure functions: raw frames in, canonical frames plus rejects out. Reading files is :mod:`churnml.io`'s job.
Every rejected row keeps its source line and every reason it failed, so accepted + rejected always equals read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnml.dataset import NS_PER_DAY, Dataset, as_timestamp, isin_ids, month_end
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
    # 1-based source position of each row (CSV: line, header = 1; Parquet: row); a number: that of the first row,
    # the others following one by one (no array of 8 bytes per row for a file read whole)
    lines: np.ndarray | int
    malformed: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"line": [], "raw": [], "reason": []}))

    @property
    def rows_read(self) -> int:
        return len(self.frame) + len(self.malformed)

    def line_numbers(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The source position of every row, or of the chosen ones (a boolean mask)."""
        if isinstance(self.lines, np.ndarray):
            return self.lines if rows is None else self.lines[rows]
        at = np.arange(len(self.frame), dtype=np.int64) if rows is None else np.flatnonzero(rows)
        return at + int(self.lines)


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
        self._text: np.ndarray | None = None  # made when a first row fails: a clean table builds no strings

    @property
    def text(self) -> np.ndarray:
        if self._text is None:
            self._text = np.full(len(self.bad), "", dtype=object)
        return self._text

    def of(self, mask: np.ndarray) -> np.ndarray:
        """The reasons of the rows in ``mask`` (empty text for rows that passed)."""
        if self._text is None:
            return np.full(int(np.count_nonzero(mask)), "", dtype=object)
        return self._text[mask]

    def add(self, mask: np.ndarray | pd.Series, message: Message) -> None:
        """``message``: one text, or a function of the mask giving the text of each selected row.

        A function is only called when some row fails, so clean columns cost no string building.
        """
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        msg = message if isinstance(message, str) else np.asarray(message(mask), dtype=object)
        text = self.text
        text[mask] = text[mask] + np.where(self.bad[mask], "; ", "") + msg
        self.bad |= mask


def show(raw: pd.Series) -> np.ndarray:
    """Raw values quoted for a message; long values are cut so a reject line stays readable."""
    return ("'" + raw.astype(str).str.slice(0, 40) + "'").to_numpy(dtype=object)


def quoted(raw: pd.Series, text: str) -> Callable[[np.ndarray], np.ndarray]:
    """Message "<column> '<value>' <text>", built only for the rows that fail."""
    return lambda mask: f"{raw.name} " + show(raw[mask]) + f" {text}"


@dataclass
class Factors:
    """A text column as integer codes (-1: missing) over its distinct values, so a rule over text runs once per
    distinct value and is spread back to the rows (tens of millions of usage rows hold one million customers).
    Tables may share ``values`` (every table's ids coded together) and then share what is learnt of them."""

    codes: np.ndarray
    values: pd.Series
    memo: dict[str, np.ndarray] = field(default_factory=dict)  # per-value results, shared with the same values

    def per_value(self, key: str, rule: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
        """``rule`` over the distinct values, computed once for everything sharing them."""
        if key not in self.memo:
            self.memo[key] = np.asarray(rule(self.values))
        return self.memo[key]

    def spread(self, per_value: np.ndarray, missing: bool) -> np.ndarray:
        """A mask over the distinct values as a mask over the rows (``missing`` for missing ones)."""
        per_value = np.asarray(per_value, dtype=bool)
        if not per_value.any() and (not missing or self.codes.min(initial=0) >= 0):
            return np.zeros(len(self.codes), dtype=bool)  # the usual case: no value breaks the rule
        return np.append(per_value, missing)[self.codes]


def _arrow_text(raw: pd.Series) -> pa.Array | pa.ChunkedArray | None:
    if isinstance(raw.dtype, pd.StringDtype) and raw.dtype.storage == "pyarrow":
        return pa.array(raw.array)
    return None


def _encoded(arrays: list[pa.Array | pa.ChunkedArray], dtype) -> tuple[np.ndarray, pd.Series]:
    """Arrow's dictionary encoding (about twice as fast as pandas' factorize on its own strings) of the arrays
    together: one code per value, the same code for the same text in every array."""
    chunks = [c for a in arrays for c in (a.chunks if isinstance(a, pa.ChunkedArray) else [a])]
    kind = pa.large_string() if any(pa.types.is_large_string(c.type) for c in chunks) else chunks[0].type
    encoded = pc.dictionary_encode(pa.chunked_array([c.cast(kind) for c in chunks], type=kind)).combine_chunks()
    indices = encoded.indices.fill_null(-1) if encoded.indices.null_count else encoded.indices
    codes = indices.to_numpy(zero_copy_only=False)  # int32: half the memory of int64 codes
    return codes, pd.Series(encoded.dictionary.to_pandas()).astype(dtype)


def factorize(raw: pd.Series) -> Factors | None:
    """The :class:`Factors` of a column; None for values that cannot be hashed (lists or structs in Parquet)."""
    arrow = _arrow_text(raw)
    if arrow is not None:
        codes, values = _encoded([arrow], raw.dtype)
        return Factors(codes, values.rename(raw.name))
    try:
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    except TypeError:
        return None
    return Factors(np.asarray(codes), pd.Series(uniques, name=raw.name))


def factorize_together(columns: dict[str, pd.Series]) -> dict[str, Factors]:
    """The same column of several tables coded together (shared values and memo), or each on its own where they
    are not all Arrow text."""
    arrows = [_arrow_text(c) for c in columns.values()]
    if not columns or any(a is None for a in arrows):
        return {name: f for name, c in columns.items() if (f := factorize(c)) is not None}
    codes, values = _encoded([a for a in arrows if a is not None], ID_DTYPE)
    memo: dict[str, np.ndarray] = {}
    bounds = np.cumsum([0, *(len(c) for c in columns.values())])
    return {name: Factors(codes[bounds[j] : bounds[j + 1]], values, memo) for j, name in enumerate(columns)}


def empty_mask(raw: pd.Series) -> np.ndarray:
    if pd.api.types.is_string_dtype(raw.dtype) or raw.dtype == object:
        return (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
    return raw.isna().to_numpy()


_UNSAFE_ID_CHARACTERS = "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]"
MAX_ID_CHARS = 256  # far beyond any CRM key; a longer "id" is a value that swallowed others, or an attack


def _unsafe_id_masks(text: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Formula-like, control-character and over-long ids among ``text`` (pandas ``str`` values)."""
    risky = text.str.startswith(FORMULA_PREFIXES).to_numpy(dtype=bool, na_value=False)
    # C0 and C1 controls, Unicode line breaks, zero-width marks and bidi overrides (U+202E shows an id reversed).
    control = text.str.contains(_UNSAFE_ID_CHARACTERS, regex=True).to_numpy(dtype=bool, na_value=False)
    long = (text.str.len() > MAX_ID_CHARS).to_numpy(dtype=bool, na_value=False)
    return risky, control, long


def reject_unsafe_ids(raw: pd.Series, present: np.ndarray, reasons: Reasons, factors: Factors | None = None) -> None:
    """Reject ids that would harm where they go unchanged (the scores file, CRM imports, file names): ids a
    spreadsheet would run as a formula, ids holding control characters (NUL, line breaks, escapes) and ids
    longer than :data:`MAX_ID_CHARS`. With ``factors`` (:func:`factorize` of ``raw``) each distinct id is checked
    once."""
    if factors is None:
        risky, control, long = (present & m for m in _unsafe_id_masks(raw.astype(ID_DTYPE)))
    else:
        masks = factors.per_value("unsafe", lambda v: np.vstack(_unsafe_id_masks(v.astype(ID_DTYPE))))
        risky, control, long = (present & factors.spread(m, False) for m in masks)
    reasons.add(risky, quoted(raw, "starts with =, +, -, @, tab or CR, which spreadsheets run as a formula"))
    reasons.add(control & ~risky, quoted(raw, "holds a control or invisible character (NUL, line break, escape, zero-width or "
                                                "direction mark); ids must be printable text"))
    reasons.add(long, lambda mask: (f"{raw.name} is " + raw[mask].astype(ID_DTYPE).str.len().astype(str)
                                    + f" characters long; ids may hold at most {MAX_ID_CHARS}").to_numpy(dtype=object))


_FULL_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:$|[T ])"
_NUMERIC_ATTRIBUTE_SHARE = 0.9  # a column this numeric is a numeric attribute; its few other values are errors
_NUMERIC_ATTRIBUTE_MIN_VALUES = 10


def _parse_datetime(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        out = raw
        if getattr(raw.dt, "tz", None) is not None:
            out = raw.dt.tz_convert("UTC").dt.tz_localize(None)
        out = out.astype(DATETIME_DTYPE)
        if out.isna().all() or (out.min() >= _MIN_DATE and out.max() < _MAX_DATE):
            return out  # typed as dates by the file, all in range: nothing to parse or clear
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


def _check_column(raw: pd.Series, col: ColumnSpec, reasons: Reasons, factors: dict[str, Factors]) -> pd.Series:
    """Parse one column to its canonical dtype, recording every rule it breaks. A text column's distinct values
    are checked once each; its :func:`factorize` is kept in ``factors`` for the rules across rows and tables."""
    name = col.name
    if col.kind in (Kind.ID, Kind.TEXT, Kind.ENUM):
        return _check_text(raw, col, reasons, factors)
    empty = empty_mask(raw)
    if not col.nullable:
        reasons.add(empty, f"{name} is empty (required)")
    present = ~empty

    if col.kind in (Kind.DATE, Kind.MONTH, Kind.TIMESTAMP):
        values = _parse_datetime(raw)
        unparsed = present & values.isna().to_numpy()
        what = "an ISO-8601 timestamp" if col.kind == Kind.TIMESTAMP else "an ISO-8601 date (YYYY-MM-DD)"
        reasons.add(unparsed, quoted(raw, f"is not {what} between 1900 and 2200"))
        parsed = present & ~unparsed
        if col.kind in (Kind.DATE, Kind.MONTH):
            stamps = values.to_numpy(dtype=DATETIME_DTYPE)
            timed = parsed & (stamps.view(np.int64) % NS_PER_DAY != 0)
            reasons.add(timed, quoted(raw, "has a time of day; give a date (YYYY-MM-DD)"))
        if col.kind == Kind.MONTH:
            not_first = parsed & ~timed & (stamps != stamps.astype("datetime64[M]"))
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


def _check_text(raw: pd.Series, col: ColumnSpec, reasons: Reasons, factors: dict[str, Factors]) -> pd.Series:
    """An id, text or enum column: every rule runs on the distinct values (see :class:`Factors`)."""
    found = factors.get(col.name) or factorize(raw) or factorize(raw.astype(ID_DTYPE))
    assert found is not None  # text always hashes
    factors[col.name] = found
    empty = found.spread(found.per_value("empty", empty_mask), True)
    if not col.nullable:
        reasons.add(empty, f"{col.name} is empty (required)")
    present = ~empty
    # Ids keep every character as given: '00123' and '123' are different customers.
    values = raw.astype(ID_DTYPE)
    if col.kind == Kind.ID:
        reject_unsafe_ids(raw, present, reasons, found)
        return values if present.all() else values.where(present, "")
    if col.kind == Kind.ENUM:
        folded = found.values.astype(ID_DTYPE).str.strip().str.lower()
        unknown = present & found.spread(~folded.isin(col.allowed or ()).to_numpy(), False)
        reasons.add(unknown, quoted(raw, f"is not one of {', '.join(col.allowed or ())}"))
        canonical = found.values.astype(ID_DTYPE)
        if not folded.equals(canonical):  # else every value is already folded: the column stays as read
            values = pd.Series(pd.array(folded, dtype=ID_DTYPE).take(found.codes, allow_fill=True), index=raw.index, name=raw.name)
    return values if present.all() else values.where(present)


def _overlapping_periods(subs: pd.DataFrame, usable: np.ndarray, ids: Factors) -> np.ndarray:
    """Periods that start before an earlier period of the same customer (``ids``: its codes) has ended."""
    pos = np.flatnonzero(usable)
    out = np.zeros(len(subs), dtype=bool)
    if len(pos) == 0:
        return out
    customer = ids.codes[pos]
    starts = subs["start_date"].to_numpy(dtype=DATETIME_DTYPE).view(np.int64)[pos]
    order = np.lexsort((pos, starts, customer))  # by customer, then start, then file order
    customer, starts, pos = customer[order], starts[order], pos[order]
    # An open period reaches forever.
    ends = subs["end_date"].to_numpy(dtype=DATETIME_DTYPE).view(np.int64)[pos]
    ends = np.where(ends == np.iinfo(np.int64).min, np.iinfo(np.int64).max, ends)
    first = np.r_[True, customer[1:] != customer[:-1]]
    # The latest end of the customer's earlier periods: a running maximum that restarts at each customer.
    latest = pd.Series(ends).groupby(np.cumsum(first)).cummax().to_numpy()
    earlier = np.r_[np.iinfo(np.int64).min, latest[:-1]]
    out[pos[~first & (starts < earlier)]] = True
    return out


def validate_table(
    raw: RawTable, spec: TableSpec, factors: dict[str, Factors] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, Reasons]:
    """Parse and check one table's own rules; returns (canonical frame of all rows, raw frame, reasons).

    ``factors``, when given, receives the :func:`factorize` of every text column, for rules across tables."""
    frame = raw.frame
    reasons = Reasons(len(frame))
    factors = {} if factors is None else factors
    out: dict[str, pd.Series] = {}
    for col in spec.columns:
        if col.name in frame.columns:
            out[col.name] = _check_column(frame[col.name], col, reasons, factors)
        else:  # optional column absent: all empty
            out[col.name] = pd.Series(np.nan, index=frame.index, dtype=col.dtype if col.dtype != "bool" else "float64")
    if spec.open_extra_columns:
        for name in frame.columns:
            if name not in out:
                out[name] = _attribute_column(frame[name], reasons)
    canonical = pd.DataFrame(out, index=frame.index, copy=False)  # the columns are new: no block copies
    if spec.name == "subscriptions":
        s, e = canonical["start_date"], canonical["end_date"]
        backwards = (e.notna() & s.notna() & (e <= s)).to_numpy()
        reasons.add(backwards, lambda m: "end_date " + show(frame["end_date"][m]) + " is not after start_date " + show(frame["start_date"][m]))
        usable = ~reasons.bad
        reasons.add(
            _overlapping_periods(canonical, usable, factors["customer_id"]),
            lambda m: "period starting " + show(frame["start_date"][m]) + " overlaps an earlier period of this customer",
        )
    if spec.time_column is not None and spec.name != "subscriptions" and len(frame):
        # An export that repeats a row would count one contact, fault or rise twice.
        keys = ["customer_id", spec.time_column]
        reasons.add(_exact_duplicates(frame, factors, keys), "exact duplicate of an earlier row (kept once)")
    if spec.name == "customers" and "customer_id" in factors:
        ids = factors["customer_id"]
        again = pd.Series(ids.codes).duplicated(keep="first").to_numpy() & ~ids.spread(ids.per_value("empty", empty_mask), True)
        reasons.add(again, "customer_id appears again (one row per customer)")
    return canonical, frame, reasons


_HASH_STEP = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection on 64-bit words


def _row_words(column: pd.Series, factors: Factors | None) -> np.ndarray | None:
    """One 64-bit word per value, equal for values :meth:`pandas.DataFrame.duplicated` finds equal; None for a
    column of lists or structs (left out of the comparison)."""
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(column.dt, "tz", None) is not None:
            column = column.dt.tz_convert("UTC").dt.tz_localize(None)
        return column.to_numpy(dtype="datetime64[ns]").view(np.uint64)
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan) + 0.0  # + 0.0: -0.0 == 0.0
        values[np.isnan(values)] = np.nan  # one NaN for every missing value
        return values.view(np.uint64)
    found = factors if factors is not None else factorize(column)
    return None if found is None else found.codes


def _row_hash(frame: pd.DataFrame, columns: list[str], factors: dict[str, Factors]) -> tuple[np.ndarray, list[str]]:
    """One 64-bit word per row mixing ``columns``' words, and the columns that took part."""
    row = np.zeros(len(frame), dtype=np.uint64)
    used = []
    with np.errstate(over="ignore"):
        for name in columns:
            words = _row_words(frame[name], factors.get(name))
            if words is None:
                continue
            used.append(name)
            row *= _HASH_STEP  # in place: a table of tens of millions of rows allocates no word per step
            np.add(row, words, out=row, casting="unsafe")  # codes are int32; -1 wraps, as it should
    return row, used


def _repeated_words(frame: pd.DataFrame, columns: list[str], factors: dict[str, Factors]) -> tuple[np.ndarray, list[str]]:
    """Rows whose mix of ``columns``' words repeats (a superset of the rows equal in them), and the columns used."""
    row, used = _row_hash(frame, columns, factors)
    row.sort()  # in place; the words are only made again when some repeat
    repeated = row[1:][row[1:] == row[:-1]]
    if len(repeated) == 0:
        return np.zeros(len(frame), dtype=bool), used
    row, _ = _row_hash(frame, used, factors)
    return pd.Series(row).isin(np.unique(repeated)).to_numpy(), used


def _exact_duplicates(frame: pd.DataFrame, factors: dict[str, Factors] | None = None, keys: list[str] | None = None) -> np.ndarray:
    """Rows equal to an earlier row in every column. Candidates first: rows whose ``keys`` (customer and time)
    repeat, found by sorting one 64-bit word per row (text by its :class:`Factors` code); only those are compared in
    full, so a clean table of tens of millions of rows costs one sort."""
    factors = factors or {}
    out = np.zeros(len(frame), dtype=bool)
    candidates, _ = _repeated_words(frame, [k for k in keys or frame.columns if k in frame.columns], factors)
    if not candidates.any():
        return out
    rows = np.flatnonzero(candidates)
    part = frame.iloc[rows]
    again, plain = _repeated_words(part, list(frame.columns), {})  # lists and structs are left out
    out[rows[again]] = part[again][plain].duplicated(keep="first").to_numpy()
    return out


def _attribute_column(raw: pd.Series, reasons: Reasons | None = None) -> pd.Series:
    """A static attribute: numeric when its present values are numbers, else text (a category later).

    A column whose values are numbers but for a few (at least 90% of 10 or more) stays numeric and the rows with
    the others are rejected: one stray ``n/a`` must not turn an age into 60 unrelated categories.
    """
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("float64")
    found = factorize(raw)
    if found is None:
        empty, as_num = empty_mask(raw), parse_number(raw)
    else:  # each distinct value parsed once
        empty = found.spread(empty_mask(found.values), True)
        as_num = pd.Series(np.append(parse_number(found.values).to_numpy(), np.nan)[found.codes], index=raw.index, name=raw.name)
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

    # Every table's ids coded together: whether a contact's customer has a valid period is then a lookup by code.
    ids = factorize_together({name: table.frame["customer_id"] for name, table in raw.items()})
    factors: dict[str, dict[str, Factors]] = {name: {"customer_id": ids[name]} if name in ids else {} for name in raw}
    parsed = {name: validate_table(table, TABLES[name], factors[name]) for name, table in raw.items()}
    subs_ids, subs_bad = factors["subscriptions"]["customer_id"], parsed["subscriptions"][2].bad

    frames: dict[str, pd.DataFrame] = {}
    kept_codes: dict[str, np.ndarray] = {}
    reports: dict[str, TableReport] = {}
    rejects: dict[str, pd.DataFrame] = {}
    for name, (canonical, frame, reasons) in parsed.items():
        spec = TABLES[name]
        if name != "subscriptions":
            mine = factors[name]["customer_id"]
            if mine.values is subs_ids.values:
                known = np.zeros(len(mine.values), dtype=bool)
                known[subs_ids.codes[~subs_bad & (subs_ids.codes >= 0)]] = True
            else:  # coded apart (ids that are not all Arrow text)
                valid = subs_ids.values.take(np.unique(subs_ids.codes[~subs_bad & (subs_ids.codes >= 0)]))
                known = isin_ids(mine.values.astype(ID_DTYPE), pd.Index(valid.astype(ID_DTYPE)))
            known |= mine.per_value("empty", empty_mask)
            reasons.add(mine.spread(~known, False), quoted(frame["customer_id"], "has no valid subscription"))
        dated = _date_of_rows(canonical, spec) if t is not None else None
        after = 0
        if t is not None and dated is not None:
            future = (dated > t).to_numpy()
            after = int((future & ~reasons.bad).sum())
            reasons.add(future, quoted(frame[spec.time_column], f"is after as-of {t.date()}"))
        table = raw[name]
        bad = reasons.bad
        frames[name] = canonical.loc[~bad].reset_index(drop=True) if bad.any() else canonical.reset_index(drop=True)
        if "customer_id" in factors[name]:
            codes = factors[name]["customer_id"].codes
            kept_codes[name] = codes[~bad] if bad.any() else codes
        rejected = (frame.loc[bad] if bad.any() else frame.iloc[:0]).astype(str)
        rejected.insert(0, "reason", reasons.of(bad))
        rejected.insert(0, "line", table.line_numbers(bad))
        if len(table.malformed):
            rejected = pd.concat([table.malformed, rejected], ignore_index=True).sort_values("line", kind="stable")
        rejects[name] = rejected.reset_index(drop=True)
        extra = [] if spec.open_extra_columns else [c for c in frame.columns if c not in spec.column_names]
        reports[name] = TableReport(name, table.source, table.rows_read, int((~bad).sum()), int(bad.sum()) + len(table.malformed), extra, after)
    shared = all(f["customer_id"].values is subs_ids.values for f in factors.values() if "customer_id" in f)
    return ValidationResult(Dataset.from_frames(frames, (subs_ids.values, kept_codes) if shared else None), reports, rejects)


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
