"""A dataset: the canonical frames of one input directory, with point-in-time and partition views."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnml.schemas import TABLES, empty_frame, event_tables


def _is_text(arrow_type: pa.DataType) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def positions_in(values: pd.Series | pd.Index, index: pd.Index) -> np.ndarray:
    """Position of each value (a customer or incident id) in the unique ``index``, ``-1`` where absent.

    Arrow's hash kernel is about three times faster than ``Index.get_indexer`` on string ids, which matters at
    tens of millions of rows; anything Arrow cannot take falls back to pandas.
    """
    if len(values) == 0 or len(index) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    try:
        arrow_values = pa.array(values.array)
        value_set = pa.array(index.array)
        if isinstance(value_set, pa.ChunkedArray):
            value_set = value_set.combine_chunks()
        if value_set.type != arrow_values.type:
            if not (_is_text(value_set.type) and _is_text(arrow_values.type)):
                raise TypeError("not both text: let pandas compare them as they are")
            value_set = value_set.cast(arrow_values.type)
        found = pc.index_in(arrow_values, value_set=value_set).fill_null(-1)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.int64)
    except (pa.ArrowException, TypeError, ValueError):
        return np.asarray(index.get_indexer(values), dtype=np.int64)


def isin_ids(values: pd.Series, ids) -> np.ndarray:
    """Membership of ids in a set, by the same hash kernel (pandas' isin builds a Python list for big sets)."""
    return positions_in(values, pd.Index(ids).unique()) >= 0


def as_timestamp(as_of: str | pd.Timestamp) -> pd.Timestamp:
    """Normalise an as-of date to a midnight ``Timestamp`` (timezone-naive, UTC)."""
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.normalize()


NS_PER_DAY = 86_400 * 10**9


def epoch_day(as_of: str | pd.Timestamp) -> int:
    """The as-of date as whole days since 1970-01-01 (how control-group holds are kept: a small integer a day)."""
    return int(as_timestamp(as_of).value // NS_PER_DAY)


def month_end(months: pd.Series) -> pd.Series:
    """The instant a usage month is over: the first day of the next month (at the same time of day)."""
    stamps = months.to_numpy(dtype="datetime64[ns]")
    day = stamps.astype("datetime64[D]")
    following = (stamps.astype("datetime64[M]") + 1).astype("datetime64[ns]") + (stamps - day)
    return pd.Series(following, index=months.index, name=months.name)


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def stable_hash(ids: pd.Series) -> np.ndarray:
    """FNV-1a 64 of each id's UTF-8 bytes, then the splitmix64 finaliser: the same on every machine, Python and
    process (unlike ``hash``), so a customer's bucket and an imported churner's end date never move. The loop runs
    over byte positions, not rows."""
    arr = pa.array(ids.to_numpy(dtype=object), type=pa.large_string()).cast(pa.large_binary())
    _, offs_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offs_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1] if len(arr) else np.zeros(1, np.int64)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(len(arr), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(int(lengths.max(initial=0))):
            live = lengths > j
            h[live] = (h[live] ^ data[starts[live] + j].astype(np.uint64)) * _FNV_PRIME
        # FNV's low bits mix poorly for ids that differ in one character; the finaliser spreads them.
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


def customer_bucket(ids: pd.Series, buckets: int) -> np.ndarray:
    """The partition (0 .. buckets - 1) of each customer id: :func:`stable_hash` modulo ``buckets``."""
    return (stable_hash(ids) % np.uint64(buckets)).astype(np.int64)



def _rows(frame: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame:
    """The kept rows; the frame itself when every row is kept (a nightly run at the end of its data drops none)."""
    return frame if keep.all() else frame[keep]


# Distinct customer ids, and per table one int32 code per row into them (-1: none).
CustomerCodes = tuple[pd.Series | pd.Index, Mapping[str, np.ndarray]]


class Dataset:
    """Canonical frames of every table of :data:`churnml.schemas.TABLES` (absent tables are empty frames), each
    read as an attribute (``dataset.usage``) or by name (``dataset.table("usage")``). A table added to the schema
    is a table of every dataset: nothing here lists them. Immutable: :meth:`replace` gives a new one."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], customer_codes: CustomerCodes | None = None):
        missing = [name for name in TABLES if name not in frames]
        unknown = [name for name in frames if name not in TABLES]
        if missing or unknown:
            raise TypeError(f"a Dataset holds exactly the tables of the schema: missing {missing}, unknown {unknown}")
        object.__setattr__(self, "_frames", {name: frames[name] for name in TABLES})
        object.__setattr__(self, "_codes", customer_codes)
        object.__setattr__(self, "_memo", {})

    @property
    def customer_codes(self) -> CustomerCodes | None:
        """The tables' ``customer_id`` as integer codes into one Series of distinct ids, as validation found them
        (or a chunk of customers as it was cut): a job places rows by code instead of hashing every id again. A
        replaced table, or a copy sent to another process, drops them; None otherwise."""
        return self._codes

    def positions(self, name: str, customers: pd.Index) -> np.ndarray:
        """The position of each row of table ``name`` in ``customers`` (-1: another customer's row), as
        :func:`positions_in` gives it: from the customer codes where the dataset has them (a lookup per distinct
        id, not a hash per row), and kept for the same ``customers`` object, since several builders read each
        table."""
        memo = self._memo  # "for": the customers it holds positions in; "lookup": theirs per coded id; a table's
        if memo.get("for") is not customers:
            memo.clear()
            memo["for"] = customers
        key = ("table", name)
        if key not in memo:
            codes = self._codes
            if codes is not None and name in codes[1]:
                if "lookup" not in memo:  # one more slot: -1 for a code of no id
                    memo["lookup"] = np.append(positions_in(codes[0], customers), -1).astype(np.int32)
                memo[key] = memo["lookup"][codes[1][name]]
            else:
                memo[key] = positions_in(self._frames[name]["customer_id"], customers).astype(np.int32)
        return memo[key]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_"):  # never a table; keeps copy and pickle from recursing before _frames exists
            raise AttributeError(name)
        try:
            return self._frames[name]
        except KeyError:
            raise AttributeError(f"no table {name!r}; tables: {', '.join(TABLES)}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a Dataset is immutable; use dataset.replace(table=frame)")

    def __getstate__(self) -> dict[str, pd.DataFrame]:
        return self._frames

    def __setstate__(self, state: dict[str, pd.DataFrame]) -> None:
        object.__setattr__(self, "_frames", state)
        object.__setattr__(self, "_codes", None)
        object.__setattr__(self, "_memo", {})

    def __repr__(self) -> str:
        return "Dataset(" + ", ".join(f"{name}={len(frame):,} rows" for name, frame in self._frames.items()) + ")"

    def replace(self, **changes: pd.DataFrame) -> Dataset:
        """The same dataset with some tables replaced."""
        return Dataset({**self._frames, **changes})

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], customer_codes: CustomerCodes | None = None) -> Dataset:
        """Build from a mapping of table name to canonical frame; missing optional tables become empty.
        ``customer_codes``: see :attr:`customer_codes` (a code per row of each table it names)."""
        unknown = set(frames) - set(TABLES)
        if unknown:
            raise KeyError(f"unknown tables {sorted(unknown)}; expected some of {sorted(TABLES)}")
        if "subscriptions" not in frames:
            raise KeyError("the subscriptions table is required")
        if customer_codes is not None and any(len(codes) != len(frames[name]) for name, codes in customer_codes[1].items()):
            raise ValueError("customer codes need one code per row of their table")
        return cls({name: frames.get(name, empty_frame(name)) for name in TABLES}, customer_codes)

    def table(self, name: str) -> pd.DataFrame:
        return self._frames[name]

    def items(self) -> Iterator[tuple[str, pd.DataFrame]]:
        yield from self._frames.items()

    @property
    def customer_ids(self) -> pd.Index:
        """Every customer with a subscription, sorted."""
        return pd.Index(self.subscriptions["customer_id"].unique()).sort_values()

    def for_customers(self, ids: pd.Index | list[str] | np.ndarray) -> Dataset:
        """All rows of these customers and nothing else: one partition, as Dask or a chunked job sees it."""
        ids = pd.Index(ids)
        return self.replace(**{name: frame[isin_ids(frame["customer_id"], ids)] for name, frame in self.items()})

    def known_at(self, as_of: str | pd.Timestamp) -> Dataset:
        """What could be known just before ``as_of``: the contract's point-in-time rule, applied to every table.

        Events dated at or after ``as_of`` are dropped, usage months count only once ended on or before ``as_of``,
        periods starting after ``as_of`` are dropped and end dates after ``as_of`` become unknown (still open).
        A period starting on ``as_of`` is kept: its customer is active at ``as_of``.
        """
        t = as_timestamp(as_of)
        keep = {"subscriptions": (self.subscriptions["start_date"] <= t).to_numpy()}
        for name in event_tables():
            when = self.table(name)[TABLES[name].time_column]
            # A usage month is known once it has ended (month_end <= T): for a month's first day, before T's month.
            keep[name] = (when < (t.replace(day=1) if name == "usage" else t)).to_numpy()
        changes = {name: _rows(self.table(name), mask) for name, mask in keep.items()}
        subs = changes["subscriptions"]
        if (subs["end_date"] > t).any():
            changes["subscriptions"] = subs.assign(end_date=subs["end_date"].where(~(subs["end_date"] > t)))
        codes = None
        if self._codes is not None:  # the kept rows keep their codes
            codes = (self._codes[0], {n: c if n not in keep or keep[n].all() else c[keep[n]] for n, c in self._codes[1].items()})
        return Dataset({**self._frames, **changes}, codes)

    def newest_date(self, as_of: str | pd.Timestamp | None = None) -> tuple[pd.Timestamp | None, str | None]:
        """The latest date any row records (event times, period starts and ends) and its table: how fresh the data
        is. With ``as_of``, only dates on or before it count: a known future end date says nothing of the feed.
        ``(None, None)`` when no row qualifies."""
        cutoff = None if as_of is None else as_timestamp(as_of)
        best: tuple[pd.Timestamp | None, str | None] = (None, None)
        for name, frame in self.items():
            cols = ["start_date", "end_date"] if name == "subscriptions" else [TABLES[name].time_column]
            for col in cols:
                if col and col in frame and len(frame):
                    values = frame[col] if cutoff is None else frame[col].where(frame[col] <= cutoff)
                    if not values.notna().any():
                        continue
                    value = pd.Timestamp(values.max())
                    if best[0] is None or value > best[0]:
                        best = (value, name)
        return best

    def row_counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.items()}

    def fingerprint(self) -> dict[str, object]:
        """Row counts, date range and a content hash: enough to tell whether two runs saw the same data."""
        digest = hashlib.sha256()
        lo, hi = [], []
        for name, frame in self.items():
            digest.update(name.encode())
            digest.update(",".join(frame.columns).encode())
            if len(frame):
                digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
            col = TABLES[name].time_column
            if col and len(frame):
                lo.append(frame[col].min())
                hi.append(frame[col].max())
        return {
            "rows": self.row_counts(),
            "first_date": str(min(lo).date()) if lo else None,
            "last_date": str(max(hi).date()) if hi else None,
            "sha256": digest.hexdigest(),
        }
