"""Subscription lifecycle: who is active, when customers churn, and which lifecycle stage they are in.

Every definition follows the contract (section 1). Periods of one customer separated by at most G days (the grace
period) form one *run* of service; the end of a run is a churn date. Everything is computed with integer customer
codes and sorted arrays, never a Python loop over customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from churnml.config import LabelConfig
from churnml.dataset import as_timestamp, positions_in

STAGES: tuple[str, ...] = ("new", "established", "won_back")

# Day number standing for "no end date"; far beyond any real date but small enough to add grace days to.
_OPEN = np.int64(10**9)


def day_numbers(values: pd.Series) -> np.ndarray:
    """Whole days since 1970-01-01 as int64, with ``NaT`` as the open-ended marker."""
    arr = values.to_numpy(dtype="datetime64[ns]")
    days = arr.astype("datetime64[D]").astype(np.int64)
    days[np.isnat(arr)] = _OPEN
    return days


def _days_to_datetime(days: np.ndarray) -> np.ndarray:
    """Day numbers back to ``datetime64[ns]``, the open marker becoming ``NaT``."""
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    known = days < _OPEN
    out[known] = days[known].astype("datetime64[D]")
    return out


def subscriptions_as_of(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """Periods as they were known at ``as_of``: later starts dropped, end dates after ``as_of`` unknown (open)."""
    t = as_timestamp(as_of)
    subs = subscriptions[subscriptions["start_date"] <= t]
    later_end = subs["end_date"] > t
    if later_end.any():
        subs = subs.assign(end_date=subs["end_date"].where(~later_end))
    return subs


def active_customers(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.Index:
    """Sorted ids of customers with a period covering ``as_of`` (start <= T, end empty or after T)."""
    t = as_timestamp(as_of)
    start, end = subscriptions["start_date"], subscriptions["end_date"]
    covering = (start <= t) & (end.isna() | (end > t))
    ids = pd.Index(subscriptions.loc[covering, "customer_id"].unique(), name="customer_id")
    return ids.sort_values()


@dataclass(frozen=True)
class Runs:
    """Runs of service: periods of a customer joined when the next starts at most G days after the last end.

    ``code`` indexes the ``customers`` the runs were built for; ``start``/``end`` are day numbers, ``end`` equal
    to the open marker for a run still going. Runs are sorted by customer, then start.
    """

    code: np.ndarray
    start: np.ndarray
    end: np.ndarray
    period_order: np.ndarray  # positions of the input periods, sorted by customer then start

    @property
    def is_open(self) -> np.ndarray:
        return self.end >= _OPEN


def find_runs(codes: np.ndarray, start_days: np.ndarray, end_days: np.ndarray, grace_days: int) -> Runs:
    """Group periods into runs (contract: a return within G days of an end date is not churn)."""
    order = np.lexsort((end_days, start_days, codes))
    c, s = codes[order], start_days[order]
    # An end before its start is invalid input; treating it as the start keeps the run maths monotone.
    e = np.maximum(end_days[order], s)
    n = len(c)
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return Runs(empty, empty, empty, order)
    # Latest end seen so far within the customer: a period starting after it + G starts a new run.
    reach = pd.Series(e).groupby(c, sort=False).cummax().to_numpy()
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (c[1:] != c[:-1]) | (s[1:] - reach[:-1] > grace_days)
    first = np.flatnonzero(new_run)
    return Runs(
        code=c[first],
        start=s[first],
        end=np.maximum.reduceat(e, first),
        period_order=order,
    )


def _customer_runs(subscriptions: pd.DataFrame, grace_days: int) -> tuple[pd.Index, Runs]:
    """The runs of every customer, with the sorted customer ids their ``code`` indexes."""
    codes, uniques = pd.factorize(subscriptions["customer_id"], sort=True)
    runs = find_runs(
        codes.astype(np.int64),
        day_numbers(subscriptions["start_date"]),
        day_numbers(subscriptions["end_date"]),
        grace_days,
    )
    return pd.Index(uniques), runs


def churn_events(subscriptions: pd.DataFrame, grace_days: int) -> pd.DataFrame:
    """Every churn date in the data: the end of a period after which the customer starts nothing within G days.

    Returns columns ``customer_id`` and ``churn_date`` sorted by both. A return exactly G days after the end is
    still within the grace period (not churn).
    """
    ids, runs = _customer_runs(subscriptions, grace_days)
    closed = ~runs.is_open
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids.take(runs.code[closed]), dtype=subscriptions["customer_id"].dtype),
            "churn_date": _days_to_datetime(runs.end[closed]),
        }
    )


def service_runs(subscriptions: pd.DataFrame, grace_days: int) -> pd.DataFrame:
    """Every run of service in the data, sorted by customer and start.

    Columns ``customer_id``, ``run_start``, ``run_end`` (its churn date; missing while the run is open),
    ``earlier_runs`` (runs of the customer before it: each ended in a churn) and ``next_start`` (start of the
    customer's next run, missing if none). Pass :func:`subscriptions_as_of` T to see the runs as known at T.
    """
    ids, runs = _customer_runs(subscriptions, grace_days)
    n = len(runs.code)
    next_start = np.full(n, _OPEN, dtype=np.int64)
    next_start[:-1] = np.where(runs.code[1:] == runs.code[:-1], runs.start[1:], _OPEN)
    firsts, _ = group_bounds(runs.code)
    earlier = np.arange(n) - np.repeat(firsts, np.diff(np.append(firsts, n)))
    return pd.DataFrame(
        {
            "customer_id": pd.Series(ids.take(runs.code), dtype=subscriptions["customer_id"].dtype),
            "run_start": _days_to_datetime(runs.start),
            "run_end": _days_to_datetime(np.where(runs.is_open, _OPEN, runs.end)),
            "earlier_runs": earlier.astype(np.int64),
            "next_start": _days_to_datetime(next_start),
        }
    )


def churn_history(subscriptions: pd.DataFrame, grace_days: int) -> pd.DataFrame:
    """Every churn in the data with what followed it: one row per run of service that ended.

    Columns ``customer_id``, ``churn_date`` (the run's end), ``run_start`` (when that run began), ``earlier_churns``
    (runs of the customer before it) and ``next_start`` (start of the customer's next run, missing if none), sorted
    by customer and churn date. Pass :func:`subscriptions_as_of` T to see the history as it was known at T.
    """
    runs = service_runs(subscriptions, grace_days)
    closed = runs[runs["run_end"].notna().to_numpy()].reset_index(drop=True)
    return closed.rename(columns={"run_end": "churn_date", "earlier_runs": "earlier_churns"})[
        ["customer_id", "churn_date", "run_start", "earlier_churns", "next_start"]
    ]


def current_periods(subscriptions: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp) -> pd.DataFrame:
    """The period each customer is in at ``as_of``: the latest-starting one still open in the as-of view.

    Columns ``plan``, ``monthly_price`` (the period's own price, before any later price change) and
    ``period_start``; rows of ``customers`` in that order, missing where the customer is not active.
    """
    t = as_timestamp(as_of)
    subs = subscriptions_as_of(subscriptions, t)
    subs = subs[subs["end_date"].isna()]
    codes = positions_in(subs["customer_id"], customers)
    mine = codes >= 0
    subs, codes = subs[mine], codes[mine]
    n = len(customers)
    start = day_numbers(subs["start_date"])
    price = subs["monthly_price"].to_numpy(dtype=np.float64)
    plan = np.full(n, None, dtype=object)
    cur_price = np.full(n, np.nan)
    period_start = np.full(n, _OPEN, dtype=np.int64)
    if len(codes):
        # Ties on the start date are broken by price so that row order never matters.
        order = np.lexsort((price, start, codes))
        rows = order[group_bounds(codes[order])[1]]
        cur = codes[rows]
        plan[cur] = subs["plan"].to_numpy(dtype=object)[rows]
        cur_price[cur] = price[rows]
        period_start[cur] = start[rows]
    return pd.DataFrame(
        {
            "plan": pd.Series(plan, index=customers, dtype=subs["plan"].dtype),
            "monthly_price": cur_price,
            "period_start": _days_to_datetime(period_start),
        },
        index=customers,
    )


def run_summary(
    subscriptions: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, grace_days: int
) -> pd.DataFrame:
    """Per customer, the subscription history known at ``as_of`` (rows of ``customers``, in that order).

    Columns: ``first_start`` (first period ever), ``run_start`` (start of the current run), ``previous_churns``
    (earlier runs: each ended in a churn, confirmed because a later run started more than G days after it),
    ``last_churn`` (end of the latest earlier run), ``plan_changes`` (consecutive periods on different plans),
    and the :func:`current_periods` columns. Customers not active at ``as_of`` get missing values.
    """
    t = as_timestamp(as_of)
    subs = subscriptions_as_of(subscriptions, t)
    codes = positions_in(subs["customer_id"], customers)
    mine = codes >= 0
    subs, codes = subs[mine], codes[mine]
    n = len(customers)
    runs = find_runs(codes, day_numbers(subs["start_date"]), day_numbers(subs["end_date"]), grace_days)

    first_start = np.full(n, _OPEN, dtype=np.int64)
    run_start = np.full(n, _OPEN, dtype=np.int64)
    runs_per_customer = np.zeros(n, dtype=np.float64)
    last_churn = np.full(n, _OPEN, dtype=np.int64)
    active = np.zeros(n, dtype=bool)
    if len(runs.code):
        firsts, lasts = group_bounds(runs.code)
        first_start[runs.code[firsts]] = runs.start[firsts]
        run_start[runs.code[lasts]] = runs.start[lasts]
        active[runs.code[lasts]] = runs.is_open[lasts]
        runs_per_customer = np.bincount(runs.code, minlength=n).astype(np.float64)
        with_earlier = lasts[lasts > firsts]  # the run before the current one ended in a churn
        last_churn[runs.code[with_earlier]] = runs.end[with_earlier - 1]

    oc = codes[runs.period_order]
    plan_codes = pd.factorize(subs["plan"])[0][runs.period_order]
    changed = np.zeros(len(oc), dtype=bool)
    changed[1:] = (oc[1:] == oc[:-1]) & (plan_codes[1:] != plan_codes[:-1])
    plan_changes = np.bincount(oc[changed], minlength=n).astype(np.float64)

    summary = pd.DataFrame(
        {
            "first_start": _days_to_datetime(first_start),
            "run_start": _days_to_datetime(run_start),
            "previous_churns": np.where(active, runs_per_customer - 1.0, np.nan),
            "last_churn": _days_to_datetime(last_churn),
            "plan_changes": np.where(active, plan_changes, np.nan),
        },
        index=customers,
    )
    return summary.join(current_periods(subs, customers, t))


def group_bounds(sorted_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last position of each group of equal values in a sorted array."""
    if len(sorted_codes) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    change = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    firsts = np.concatenate(([0], change))
    lasts = np.concatenate((change - 1, [len(sorted_codes) - 1]))
    return firsts, lasts


def lifecycle_stage(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, labels_cfg: LabelConfig) -> pd.Series:
    """``new``, ``established`` or ``won_back`` for each customer active at ``as_of`` (contract section 1).

    ``won_back``: an earlier run ended in a churn and the customer came back; else ``new`` if the current run
    started fewer than ``new_customer_days`` before ``as_of``; else ``established``.
    """
    t = as_timestamp(as_of)
    customers = active_customers(subscriptions, t)
    summary = run_summary(subscriptions, customers, t, labels_cfg.grace_days)
    return stage_from_summary(summary, t, labels_cfg)


def stage_from_summary(summary: pd.DataFrame, as_of: pd.Timestamp, labels_cfg: LabelConfig) -> pd.Series:
    """Lifecycle stage from a :func:`run_summary` of active customers."""
    run_age = (as_of - summary["run_start"]).dt.days.to_numpy()
    stage = np.where(
        summary["previous_churns"].to_numpy() > 0,
        "won_back",
        np.where(run_age < labels_cfg.new_customer_days, "new", "established"),
    )
    return pd.Series(stage, index=summary.index, name="lifecycle_stage", dtype="str")
