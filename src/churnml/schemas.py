"""The contract as data: every input table and every output file, their columns, kinds and rules.

Validation, loading, the generator and the feature builders all read these specs, so the contract is written
down once. After loading, every table is a *canonical frame*:

* ``customer_id`` and text columns: pandas string dtype ``str`` (never numbers: ``00123`` != ``123``);
* dates and timestamps: ``datetime64[ns]``, timezone-naive UTC, ``NaT`` for empty;
* numbers: ``float64`` (``NaN`` for empty where allowed); ``severity``: ``int64``; booleans: ``bool``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pandas as pd

ID_DTYPE = "str"
DATETIME_DTYPE = "datetime64[ns]"


class Kind(StrEnum):
    ID = "id"
    DATE = "date"  # a calendar date, no time of day
    MONTH = "month"  # first day of a month
    TIMESTAMP = "timestamp"  # date with optional time and offset; no offset = UTC
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    ENUM = "enum"
    TEXT = "text"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: Kind
    required: bool = True  # the column must exist
    nullable: bool = False  # an empty value is allowed
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    allowed: tuple[str, ...] | None = None
    empty_means: str = ""  # what an empty value stands for, for messages and docs

    @property
    def dtype(self) -> str:
        return {
            Kind.ID: ID_DTYPE,
            Kind.DATE: DATETIME_DTYPE,
            Kind.MONTH: DATETIME_DTYPE,
            Kind.TIMESTAMP: DATETIME_DTYPE,
            Kind.FLOAT: "float64",
            Kind.INT: "int64",
            Kind.BOOL: "bool",
            Kind.ENUM: ID_DTYPE,
            Kind.TEXT: ID_DTYPE,
        }[self.kind]


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    required: bool = False
    time_column: str | None = None  # the column that dates a row for point-in-time rules
    open_extra_columns: bool = False  # `customers`: every extra column is an attribute
    doc: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


_ID = ColumnSpec("customer_id", Kind.ID)

COMPLAINT_CATEGORIES = ("billing", "service", "technical", "product", "other")
# The remedy codes a CRM may record as done (churnml.remedies declares what each means; a test keeps the two equal).
RETENTION_ACTIONS = ("retention_offer", "plan_review", "senior_manager_call", "onboarding_care", "dedicated_contact",
                     "incident_update", "winback_offer", "winback_service_call")
FAULT_TYPES = ("outage", "degradation", "device", "app", "other")

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec(
            "subscriptions",
            (
                _ID,
                ColumnSpec("start_date", Kind.DATE),
                ColumnSpec("end_date", Kind.DATE, nullable=True, empty_means="still active"),
                ColumnSpec("plan", Kind.TEXT),
                ColumnSpec("monthly_price", Kind.FLOAT, ge=0),
            ),
            required=True,
            time_column="start_date",
            doc="One row per contiguous period of service; a customer may have several.",
        ),
        TableSpec(
            "customers",
            (_ID,),
            open_extra_columns=True,
            doc="Static attributes, one row per customer; numeric or categorical columns.",
        ),
        TableSpec(
            "support_contacts",
            (
                _ID,
                ColumnSpec("timestamp", Kind.TIMESTAMP),
                ColumnSpec("channel", Kind.TEXT),
                ColumnSpec("wait_minutes", Kind.FLOAT, ge=0),
                ColumnSpec("resolved", Kind.BOOL),
                ColumnSpec("topic", Kind.TEXT, required=False, nullable=True),
            ),
            time_column="timestamp",
        ),
        TableSpec(
            "complaints",
            (
                _ID,
                ColumnSpec("timestamp", Kind.TIMESTAMP),
                ColumnSpec("category", Kind.ENUM, allowed=COMPLAINT_CATEGORIES),
                ColumnSpec("severity", Kind.INT, ge=1, le=5),
            ),
            time_column="timestamp",
        ),
        TableSpec(
            "price_changes",
            (
                _ID,
                ColumnSpec("timestamp", Kind.TIMESTAMP),
                ColumnSpec("old_price", Kind.FLOAT, ge=0),
                ColumnSpec("new_price", Kind.FLOAT, ge=0),
                ColumnSpec("notice_days", Kind.FLOAT, ge=0, nullable=True, empty_means="unknown"),
            ),
            time_column="timestamp",
            doc="`timestamp` is when the new price takes effect.",
        ),
        TableSpec(
            "usage",
            (
                _ID,
                ColumnSpec("month", Kind.MONTH),
                ColumnSpec("used", Kind.FLOAT, ge=0),
                ColumnSpec("allowance", Kind.FLOAT, gt=0, nullable=True, empty_means="unlimited"),
            ),
            time_column="month",
            doc="One row per customer and month; a month counts once it has ended.",
        ),
        TableSpec(
            "tech_faults",
            (
                _ID,
                ColumnSpec("timestamp", Kind.TIMESTAMP),
                ColumnSpec("fault_type", Kind.ENUM, allowed=FAULT_TYPES),
                ColumnSpec("duration_minutes", Kind.FLOAT, ge=0),
                ColumnSpec("incident_id", Kind.TEXT, required=False, nullable=True, empty_means="no shared incident"),
            ),
            time_column="timestamp",
        ),
        TableSpec(
            "surveys",
            (
                _ID,
                ColumnSpec("timestamp", Kind.TIMESTAMP),
                ColumnSpec("score", Kind.FLOAT, ge=0, le=10),
            ),
            time_column="timestamp",
        ),
        TableSpec(
            "retention_actions",
            (
                _ID,
                ColumnSpec("timestamp", Kind.TIMESTAMP),
                ColumnSpec("action", Kind.ENUM, allowed=RETENTION_ACTIONS),
                ColumnSpec("cost", Kind.FLOAT, ge=0, required=False, nullable=True, empty_means="unknown"),
                ColumnSpec("channel", Kind.TEXT, required=False, nullable=True),
            ),
            time_column="timestamp",
            doc="What the CRM did: one row per remedy applied to a customer (a playbook code), when, at what cost.",
        ),
    )
}

def event_tables() -> tuple[str, ...]:
    """The dated log tables (every table but subscriptions and customers), read from :data:`TABLES` when called."""
    return tuple(n for n in TABLES if n not in ("subscriptions", "customers"))


@dataclass(frozen=True)
class OutputSpec:
    """One output file: the contract's columns in order, then optional columns after them.

    ``numbers`` are written as numbers (never formula-protected: a negative value stays a number), ``decimals`` the
    fixed decimals of each number in the CSV (empty text where a value is missing), ``flags`` true/false columns.
    """

    name: str
    contract: tuple[str, ...]
    extra: tuple[str, ...] = ()
    numbers: dict[str, str] = field(default_factory=dict)  # column -> printf format in the CSV
    flags: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [*self.contract, *self.extra]

    @property
    def texts(self) -> list[str]:
        return [c for c in self.columns if c not in self.numbers and c not in self.flags and c not in self.dates]


OUTPUTS: dict[str, OutputSpec] = {
    "scores": OutputSpec(
        "scores",
        contract=(
            "customer_id", "as_of_date", "churn_probability", "risk_rank", "risk_tier", "flagged", "lifecycle_stage",
            "primary_cause", "cause_share", "reason_1", "reason_2", "reason_3", "recommended_action", "model_version",
        ),
        # For analysts: how risk splits across the cause families; for the CRM: who to ask for a referral.
        # Since the previous run (empty on the first): its probability, the change, and for the flagged the cause
        # family that moved the risk most and why.
        # The control group: flagged customers held out to measure what the remedies save (shown their action all the same).
        # Flagging by uplift or value: how much the recommended action lowers the churn probability (empty by risk).
        extra=("price_share", "service_share", "other_share", "referral_candidate",
               "previous_probability", "risk_change", "change_cause", "change_reason", "control_group", "expected_uplift"),
        numbers={"churn_probability": "%.4f", "risk_rank": "%d", "cause_share": "%.4f", "price_share": "%.4f",
                 "service_share": "%.4f", "other_share": "%.4f", "previous_probability": "%.4f", "risk_change": "%.4f",
                 "expected_uplift": "%.4f"},
        flags=("flagged", "referral_candidate", "control_group"),
    ),
    "winback": OutputSpec(
        "winback",
        contract=(
            "customer_id", "as_of_date", "churn_date", "days_since_churn", "cause_at_churn", "cause_share", "reason_1",
            "reason_2", "reason_3", "return_probability", "expected_months", "expected_value", "recommended_action",
            "model_version",
        ),
        # What the value rule used, and why a customer gets no action.
        extra=("monthly_margin", "cost", "action_reason"),
        numbers={"days_since_churn": "%d", "cause_share": "%.4f", "return_probability": "%.4f", "expected_months": "%.1f",
                 "expected_value": "%.2f", "monthly_margin": "%.2f", "cost": "%.2f"},
        dates=("churn_date",),
    ),
}


def empty_frame(table: str) -> pd.DataFrame:
    """A canonical frame with no rows, for tables a dataset does not have."""
    spec = TABLES[table]
    return pd.DataFrame({c.name: pd.Series(dtype=c.dtype) for c in spec.columns})


def check_canonical(frame: pd.DataFrame, table: str) -> None:
    """Raise ``TypeError`` naming the column if a frame handed to the API is not canonical."""
    spec = TABLES[table]
    for c in spec.columns:
        if c.name not in frame.columns:
            if c.required:
                raise TypeError(f"{table}: column {c.name!r} is missing")
            continue
        actual = frame[c.name].dtype
        if c.dtype == ID_DTYPE:
            ok = pd.api.types.is_string_dtype(actual)
        elif c.dtype == DATETIME_DTYPE:
            ok = pd.api.types.is_datetime64_dtype(actual)
        else:
            ok = str(actual) == c.dtype
        if not ok:
            raise TypeError(f"{table}.{c.name}: dtype {actual} is not canonical ({c.dtype}); load tables with churnml.io")
