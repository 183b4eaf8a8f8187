"""Snapshot-table importer: one row per customer (a CRM export) mapped into the input contract.

Many CRMs export a single table taken on one day T (the *reference date*): one row per customer with tenure in
months, plan, monthly charge, services and a churned yes/no flag. :func:`import_snapshot` turns such a frame into
a :class:`~churnml.dataset.Dataset` with ``subscriptions`` and ``customers``, so the whole pipeline can run on it.
It is pure: the CLI reads the file with :func:`churnml.io.read_text_table` (every CSV value arrives as text) and
writes the result with :func:`churnml.io.write_dataset`.

Mapping rules (contract section 1):

* **One subscription period per customer.** ``start_date = T - tenure`` in calendar months, clipped to the end of
  a shorter month (T = 2024-03-31, tenure 1 -> 2024-02-29). Tenure 0 starts on T itself, which the contract
  counts as active at T.
* **Churners end just after T.** A churned customer's ``end_date`` falls in ``(T, T + churn_window_days]``,
  spread over those days by a stable hash of the id's UTF-8 bytes (FNV-1a 64 with a splitmix64 finaliser, never
  Python's per-process ``hash``): re-running gives identical files, and a customer's date does not depend on the
  other rows. Stayers get an empty ``end_date`` (still active).
* **Labels reproduce the file's flag.** Each customer has one period, so every end date is a churn date. With the
  default horizon H = 60 >= ``churn_window_days`` every churner is labelled 1 at T and every stayer 0: a model
  trained on this snapshot learns exactly the churn flag. ``suggested_config["labels"]`` raises H to the window
  when the window is longer, and ``suggested_config["snapshots"]`` keeps the reference date as the only training
  snapshot (earlier month starts rebuilt from tenure would be all stayers, a history the export never held).
* **Plan and price.** ``plan_column`` -> ``subscriptions.plan`` (``"default"`` when not set; an empty value is a
  reject). ``price_column`` -> ``subscriptions.monthly_price`` (empty, non-numeric or negative is a reject;
  ``0.0`` when not set, so price features carry no signal).
* **Attributes.** With ``attribute_columns=None`` every column except the id, tenure, churn, price, plan and
  ``exclude_columns`` becomes a static attribute in ``customers``. The price and plan columns are attributes too
  only when listed in ``attribute_columns``; the id, tenure and churn columns never are. Attribute values are
  typed exactly as the loader types a ``customers`` column (numeric when every present value is a number, else
  text; blanks are missing, never rejects), so the returned dataset equals what ``write_dataset`` then
  ``load_dataset`` gives back. ``attribute_families`` become ``suggested_config["static_attribute_families"]``
  for the columns imported as attributes; a family for another column of the file is ignored (so a preset
  still works after excluding a column), one for a column the file lacks is an error. Every other attribute gets
  the family its header (or its text levels) suggests, :func:`suggest_family`: service, support, complaint,
  call, fault... -> service; price, charge, bill, fee, payment... -> price; else other.
* **Ids.** ``customer_id`` is kept exactly as in the file (``00123`` stays ``00123``).
* **Rejects.** A row is rejected, with its source line, every reason and its raw values, when its id is empty
  or starts like a spreadsheet formula (``=``, ``+``, ``-``, ``@``, tab, CR: the rule ``validate`` applies),
  tenure is empty / not a whole number / negative / reaches before 1900, the churn flag is not yes/no,
  true/false or 1/0 (case-insensitive), price or plan is unusable, or its id appeared on an earlier accepted row.
  ``accepted + rejected == read`` always.
* **Configuration problems** (a configured column absent, a column given two roles) raise
  :class:`~churnml.errors.InputError` with one line per problem naming the column and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from churnml.config import Family, LabelConfig
from churnml.dataset import Dataset, stable_hash
from churnml.errors import InputError
from churnml.schemas import DATETIME_DTYPE, ID_DTYPE, TABLES
from churnml.validation import (
    RawTable,
    Reasons,
    empty_mask,
    parse_bool,
    parse_number,
    quoted,
    reject_unsafe_ids,
    show,
    validate_table,
)

DEFAULT_PLAN = "default"
# The loader accepts dates in [1900, 2200): keep every generated date inside so the written files load back.
_MIN_DATE = date(1900, 1, 1)
_MAX_DATE = date(2200, 1, 1)



class SnapshotImportSpec(BaseModel):
    """Which column of a one-row-per-customer table means what; see the module docstring for the rules."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_column: str = Field(description="Customer id; kept exactly as written.")
    tenure_column: str = Field(description="Whole months with the company at the reference date.")
    churn_column: str = Field(description="Churned flag: yes/no, true/false, 1/0 (case-insensitive).")
    reference_date: date = Field(description="T: the day the snapshot was taken.")
    price_column: str | None = Field(None, description="Monthly price -> subscriptions.monthly_price (None: 0).")
    plan_column: str | None = Field(None, description=f"Plan -> subscriptions.plan (None: {DEFAULT_PLAN!r}).")
    attribute_columns: list[str] | None = Field(
        None, description="Static attributes for `customers`; None = every column without another role."
    )
    exclude_columns: list[str] = Field(default_factory=list, description="Columns never imported (free text, PII).")
    churn_window_days: int = Field(30, gt=0, description="Churners end within this many days after T.")
    attribute_families: dict[str, Family] = Field(
        default_factory=dict, description="Suggested cause family per attribute (unlisted: other)."
    )
    attribute_references: dict[str, float | str | list[str]] = Field(
        default_factory=dict,
        description="Suggested healthy value (or levels) of a price or service attribute (unlisted: the most common).",
    )

    @model_validator(mode="after")
    def _dates_loadable(self) -> SnapshotImportSpec:
        if not (self.reference_date >= _MIN_DATE and self.reference_date + timedelta(days=self.churn_window_days) < _MAX_DATE):
            raise ValueError(f"reference_date {self.reference_date} (+ churn window) must lie between 1900 and 2200")
        return self

    @classmethod
    def telco(cls, reference_date: date | str) -> SnapshotImportSpec:
        """Preset for IBM's Telco Customer Churn export (``customerID, tenure, Churn, ...``).

        Roles: ``MonthlyCharges`` is the subscription price; ``InternetService`` (DSL, Fiber optic, No) is the
        plan, because it is what sets the price (median about 20, 56 and 92 a month) while ``Contract`` barely
        moves it, so "price against the median on the same plan" compares like with like. ``Contract`` and
        ``TotalCharges`` (blank for the 11 tenure-0 customers: missing, not a reject) stay attributes, as does
        every other column.

        Families say which remedy a risk calls for (contract: price = what the customer pays and how they are
        billed, service = their experience of care and faults, other = who they are and how much they use):

        * price: ``Contract`` (month-to-month churn is answered with a term or discount offer), ``PaymentMethod``
          and ``PaperlessBilling`` (billing arrangements, like billing complaints), and ``MonthlyCharges`` should
          it be listed as an attribute;
        * service: ``TechSupport``, ``OnlineSecurity``, ``OnlineBackup``, ``DeviceProtection``: without the care
          and protection add-ons problems go unresolved, a service experience that care, not a discount, fixes;
        * other: demographics (``gender``, ``SeniorCitizen``, ``Partner``, ``Dependents``), product mix or
          engagement (``PhoneService``, ``MultipleLines``, ``StreamingTV``, ``StreamingMovies``, and
          ``InternetService`` if listed as an attribute) and ``TotalCharges``: it is about tenure x price, so
          what it mostly measures is how long the customer has stayed (tenure is `other`); the price level
          itself is ``monthly_price``.
        """
        price, service, other = Family.PRICE, Family.SERVICE, Family.OTHER
        families = {
            "Contract": price,
            "MonthlyCharges": price,
            "PaymentMethod": price,
            "PaperlessBilling": price,
            "TechSupport": service,
            "OnlineSecurity": service,
            "OnlineBackup": service,
            "DeviceProtection": service,
            "gender": other,
            "SeniorCitizen": other,
            "Partner": other,
            "Dependents": other,
            "PhoneService": other,
            "MultipleLines": other,
            "InternetService": other,
            "StreamingTV": other,
            "StreamingMovies": other,
            "TotalCharges": other,
        }
        return cls(
            id_column="customerID",
            tenure_column="tenure",
            churn_column="Churn",
            reference_date=reference_date,
            price_column="MonthlyCharges",
            plan_column="InternetService",
            attribute_families=families,
            # Healthy states: a contract with commitment, automatic payment, the care add-ons (or no internet
            # service to need them). The monthly charge is measured against the most common one.
            attribute_references={
                "Contract": ["Two year", "One year"],
                "PaymentMethod": ["Credit card (automatic)", "Bank transfer (automatic)"],
                **{c: ["Yes", "No internet service"] for c in ("TechSupport", "OnlineSecurity", "OnlineBackup", "DeviceProtection")},
            },
        )


@dataclass(frozen=True)
class SnapshotImport:
    """The imported dataset, the rows that could not be mapped, and a config fragment to paste."""

    dataset: Dataset  # canonical subscriptions + customers; other tables empty
    rejects: pd.DataFrame  # line, reason, then the raw columns
    read: int
    accepted: int
    rejected: int
    suggested_config: dict[str, Any]  # {"static_attribute_families": {...}, "labels": {...}}
    attributes: tuple[str, ...] = ()  # the columns that became `customers` attributes, in order
    family_suggestions: dict[str, tuple[str, str]] = field(default_factory=dict)  # column -> (family, the word)

    def __post_init__(self) -> None:
        assert self.accepted + self.rejected == self.read, "rows lost in snapshot import"


def import_snapshot(
    frame: pd.DataFrame, spec: SnapshotImportSpec, *, lines: np.ndarray | None = None, malformed: pd.DataFrame | None = None
) -> SnapshotImport:
    """Map a one-row-per-customer frame into ``subscriptions`` and ``customers`` (rules: module docstring).

    ``lines`` are the source positions of the rows for the rejects file; by default CSV lines 2, 3, ... (the
    header is line 1). ``malformed`` holds rows the reader could not split (``line``, ``reason``, ``raw``, as
    :func:`churnml.io.read_text_table` gives them): they are rejected with the rest and counted as read.
    """
    frame = frame.reset_index(drop=True)
    n = len(frame)
    if lines is None:
        lines = np.arange(2, n + 2)
    lines = np.asarray(lines)
    if len(lines) != n:
        raise ValueError(f"lines has {len(lines)} entries for {n} rows")
    attributes = _resolve_columns(frame, spec)
    ids = frame[spec.id_column]
    if pd.api.types.is_numeric_dtype(ids.dtype) or pd.api.types.is_bool_dtype(ids.dtype):
        # A Parquet export with numeric ids: 00123 is already 123, and 1000.0 would become the id "1000.0".
        raise InputError([
            f"column '{spec.id_column}' holds {ids.dtype} numbers, not text: ids with leading zeros are already lost and "
            "floats would become ids such as '1000.0'; export the id column as text (a string column)"
        ])
    t = spec.reference_date

    reasons = Reasons(n)
    id_col, ten_col, churn_col = spec.id_column, spec.tenure_column, spec.churn_column
    raw_ids = frame[id_col]
    no_id = empty_mask(raw_ids)
    reasons.add(no_id, f"{id_col} is empty (every row needs a customer id)")
    # The same rule as validate: an id the dataset could not be scored with is rejected here, not one step later.
    reject_unsafe_ids(raw_ids, ~no_id, reasons)

    tenure = parse_number(frame[ten_col]).to_numpy()
    t_months = t.year * 12 + t.month - 1
    max_tenure = t_months - (_MIN_DATE.year * 12)
    tenure_ok = _check_number(frame[ten_col], tenure, reasons, "a whole number of months")
    with np.errstate(invalid="ignore"):
        reasons.add(tenure_ok & (tenure != np.round(tenure)), quoted(frame[ten_col], "is not a whole number of months"))
        reasons.add(tenure_ok & (tenure > max_tenure), quoted(frame[ten_col], f"months before {t} starts before 1900"))

    churned, unknown = _parse_flag(frame[churn_col])
    reasons.add(unknown, quoted(frame[churn_col], "is not a churn flag (yes/no, true/false, 1/0)"))

    if spec.price_column is not None:
        price = parse_number(frame[spec.price_column]).to_numpy()
        _check_number(frame[spec.price_column], price, reasons, "a monthly price (a number >= 0)")
    else:
        price = np.zeros(n)

    if spec.plan_column is not None:
        raw_plan = frame[spec.plan_column]
        reasons.add(empty_mask(raw_plan), f"{spec.plan_column} is empty (every subscription needs a plan)")
        plan = raw_plan.astype(ID_DTYPE)
    else:
        plan = pd.Series(DEFAULT_PLAN, index=frame.index, dtype=ID_DTYPE)

    # Keep the first usable row of an id; a later one would be a second, overlapping subscription.
    ids = raw_ids.astype(ID_DTYPE)
    usable = np.flatnonzero(~reasons.bad)
    again = np.zeros(n, dtype=bool)
    again[usable] = ids.iloc[usable].duplicated(keep="first").to_numpy()
    if again.any():
        first = np.zeros(n, dtype=np.int64)
        first[usable] = pd.Series(lines[usable]).groupby(ids.iloc[usable].to_numpy(), sort=False).transform("first")

        def _again(m: np.ndarray) -> np.ndarray:
            on_line = first[m].astype(str).astype(object)
            return f"{id_col} " + show(raw_ids[m]) + " appears again (first on line " + on_line + "); one row per customer"

        reasons.add(again, _again)

    ok = ~reasons.bad
    ok_ids = ids[ok].reset_index(drop=True)
    start = _months_before(t, tenure[ok].astype(np.int64))
    ends = np.full(int(ok.sum()), np.datetime64("NaT"), dtype=DATETIME_DTYPE)
    gone = churned[ok]
    offsets = 1 + (stable_hash(ok_ids[gone]) % np.uint64(spec.churn_window_days)).astype(np.int64)
    ends[gone] = (np.datetime64(t, "D") + offsets.astype("timedelta64[D]")).astype(DATETIME_DTYPE)
    subscriptions = pd.DataFrame(
        {
            "customer_id": ok_ids,
            "start_date": pd.Series(start, dtype=DATETIME_DTYPE),
            "end_date": pd.Series(ends, dtype=DATETIME_DTYPE),
            "plan": plan[ok].reset_index(drop=True),
            "monthly_price": pd.Series(price[ok], dtype="float64"),
        }
    )
    customers = _customers(frame.loc[ok, [id_col, *attributes]], id_col, lines[ok])

    rejects = frame.loc[~ok].astype(str)
    rejects.insert(0, "reason", reasons.of(~ok))
    rejects.insert(0, "line", lines[~ok])
    unsplit = 0 if malformed is None else len(malformed)
    if malformed is not None and unsplit:
        bad = malformed[["line", "reason", "raw"]].astype({"line": "int64", "reason": "str", "raw": "str"})
        rejects = pd.concat([rejects, bad], ignore_index=True).fillna("")
        rejects = rejects.sort_values("line", kind="stable")
    suggested = {a: suggest_family(a, frame[a]) for a in attributes if a not in spec.attribute_families}
    families = {
        a: (spec.attribute_families[a] if a in spec.attribute_families else suggested[a][0]).value for a in attributes
    }
    references = {a: spec.attribute_references[a] for a in attributes if a in spec.attribute_references}
    horizon = max(LabelConfig().horizon_days, spec.churn_window_days)
    return SnapshotImport(
        dataset=Dataset.from_frames({"subscriptions": subscriptions, "customers": customers}),
        rejects=rejects.reset_index(drop=True),
        read=n + unsplit,
        accepted=int(ok.sum()),
        rejected=int((~ok).sum()) + unsplit,
        # Only the reference date is a real snapshot: earlier dates rebuilt from tenure carry no churn history.
        suggested_config={
            "static_attribute_families": families,
            "static_attribute_references": references,
            "labels": {"horizon_days": horizon},
            "snapshots": {"max_snapshots": 1, "validation_snapshots": 1},
        },
        attributes=tuple(attributes),
        family_suggestions={a: (f.value, word) for a, (f, word) in suggested.items()},
    )


# Words in a header (or in a text column's values) that say which remedy its risk calls for. Service words come
# first: "customer service charge" is about care, and a care problem is not solved with a discount.
_FAMILY_WORDS: tuple[tuple[Family, frozenset[str]], ...] = (
    (Family.SERVICE, frozenset(
        ["service", "services", "support", "complaint", "complaints", "call", "calls", "care", "fault", "faults", "outage", "outages", "ticket", "tickets", "wait", "waits", "waiting", "helpdesk", "repair", "repairs", "incident", "incidents", "escalation", "escalations"]
    )),
    (Family.PRICE, frozenset(
        ["price", "prices", "pricing", "charge", "charges", "charged", "bill", "bills", "billing", "billed", "fee", "fees", "payment", "payments", "pay", "cost", "costs", "discount", "discounts", "tariff", "tariffs", "invoice", "invoices"]
    )),
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_VALUE_LEVELS = 50  # a text column with more distinct values is free text, not levels worth reading


def _words(text: str) -> set[str]:
    """Lower-case words of a header or value, camelCase and snake_case split (``PaymentMethod`` -> payment, method)."""
    return {w.lower() for w in _WORD.findall(str(text))}


def suggest_family(column: str, values: pd.Series | None = None) -> tuple[Family, str]:
    """The cause family a column's header (else its text values) suggests, and the word that decided it.

    ``Customer service calls`` -> service (``calls``); ``Total day charge`` -> price (``charge``); a column
    ``Method`` whose levels read ``Bank transfer``, ``Electronic payment`` -> price (``payment``). Nothing matching
    -> other, with an empty word. A suggestion only: the import prints it, and ``static_attribute_families`` in
    the config has the last word.
    """
    header = _words(column)
    for family, words in _FAMILY_WORDS:
        hit = sorted(header & words)
        if hit:
            return family, hit[0]
    if values is not None and not pd.api.types.is_numeric_dtype(values.dtype):
        levels = values.dropna().astype(str).unique()
        if 0 < len(levels) <= _VALUE_LEVELS:
            seen = set().union(*(_words(v) for v in levels))
            for family, words in _FAMILY_WORDS:
                hit = sorted(seen & words)
                if hit:
                    return family, hit[0]
    return Family.OTHER, ""


# ---------------------------------------------------------------------------------------------------- helpers


_NESTED_SAMPLE = 100  # values looked at per column to tell a nested Parquet column (lists are lists throughout)


def _resolve_columns(frame: pd.DataFrame, spec: SnapshotImportSpec) -> list[str]:
    """Check every configured column against the frame; return the attribute columns in order."""
    columns = list(frame.columns)
    have = set(columns)
    listing = ", ".join(map(str, columns))
    problems: list[str] = []
    roles = {
        "id_column": spec.id_column,
        "tenure_column": spec.tenure_column,
        "churn_column": spec.churn_column,
        "price_column": spec.price_column,
        "plan_column": spec.plan_column,
    }
    for role, col in roles.items():
        if col is not None and col not in have:
            problems.append(f"{role}: column '{col}' is not in the file; set {role} to one of: {listing}")
    seen: dict[str, str] = {}
    for role, col in roles.items():
        if col is None:
            continue
        if col in seen:
            problems.append(f"{role}: column '{col}' is already the {seen[col]}; give each role its own column")
        seen.setdefault(col, role)
    for col in spec.exclude_columns:
        if col not in have:
            problems.append(f"exclude_columns: column '{col}' is not in the file; remove it or fix the spelling")
        elif col in (spec.id_column, spec.tenure_column, spec.churn_column, spec.price_column, spec.plan_column):
            problems.append(f"exclude_columns: column '{col}' has a role ({seen.get(col)}); it cannot be excluded")

    core = {spec.id_column, spec.tenure_column, spec.churn_column}
    if spec.attribute_columns is None:
        mapped = core | {spec.price_column, spec.plan_column} | set(spec.exclude_columns)
        attributes = [c for c in columns if c not in mapped]
    else:
        attributes = list(spec.attribute_columns)
        for col in attributes:
            if col not in have:
                problems.append(f"attribute_columns: column '{col}' is not in the file; set it to some of: {listing}")
            elif col in core:
                problems.append(f"attribute_columns: column '{col}' is the {seen[col]}, never an attribute; remove it")
            elif col in spec.exclude_columns:
                problems.append(f"attribute_columns: column '{col}' is also in exclude_columns; keep it in one list")
        twice = sorted({c for c in attributes if attributes.count(c) > 1})
        if twice:
            problems.append(f"attribute_columns: {', '.join(twice)} listed twice; list each column once")
    if "customer_id" in attributes:
        problems.append(
            "column 'customer_id' would be an attribute but names the customers key; "
            "set id_column to it or add it to exclude_columns"
        )
    for col in [c for c in roles.values() if c in have] + [c for c in attributes if c in have]:
        sample = frame[col].dropna().head(_NESTED_SAMPLE)
        if sample.map(lambda v: isinstance(v, (list, tuple, dict, np.ndarray))).any():
            # Lists and records have no order or level to learn from; as text they would be one level per row.
            problems.append(
                f"column '{col}' holds lists or records (a nested Parquet column), not one value per customer; "
                f"flatten it into columns of their own or leave it out with --exclude '{col}'"
            )
    for option in ("attribute_families", "attribute_references"):
        for col in getattr(spec, option):
            if col not in have:
                problems.append(f"{option}: column '{col}' is not in the file; remove it or fix the spelling")
    if problems:
        raise InputError(problems)
    return attributes


def _check_number(raw: pd.Series, values: np.ndarray, reasons: Reasons, what: str) -> np.ndarray:
    """Record empty, non-numeric and negative values; return the mask of usable ones."""
    name = raw.name
    empty = empty_mask(raw)
    reasons.add(empty, f"{name} is empty (needs {what})")
    unparsed = ~empty & ~np.isfinite(values)
    reasons.add(unparsed, quoted(raw, f"is not {what}"))
    with np.errstate(invalid="ignore"):
        negative = ~empty & ~unparsed & (values < 0)
    reasons.add(negative, quoted(raw, "is negative"))
    return ~(empty | unparsed | negative)


def _parse_flag(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(churned, unrecognised) masks of a yes/no, true/false or 1/0 column."""
    values, unknown = parse_bool(raw)
    return values.to_numpy(dtype=bool), unknown


def _months_before(t: date, months: np.ndarray) -> np.ndarray:
    """``t`` minus whole calendar months, clipped to the last day of a shorter month (like DateOffset)."""
    month = np.datetime64(t, "M") - months.astype("timedelta64[M]")
    first = month.astype("datetime64[D]")
    days_in_month = ((month + 1).astype("datetime64[D]") - first).astype(np.int64)
    day = np.minimum(t.day, days_in_month)
    return (first + (day - 1).astype("timedelta64[D]")).astype(DATETIME_DTYPE)


def _customers(raw: pd.DataFrame, id_col: str, lines: np.ndarray) -> pd.DataFrame:
    """The `customers` table typed by the loader's own attribute rule, so writing and loading changes nothing."""
    raw = raw.rename(columns={id_col: "customer_id"}).reset_index(drop=True)
    canonical, _, _ = validate_table(RawTable("customers", raw, "<snapshot import>", lines), TABLES["customers"])
    return canonical.reset_index(drop=True)
