"""Price changes and price level: rises, their size and notice, and what the customer pays against new customers.

All of these are price-family features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features._common import events_before, frame_of, group_bounds, ratio, window_name
from churnml.features.spec import (
    COUNT,
    HIGHER,
    INF,
    LOWER,
    NO_EVENT,
    NONE_IS_HEALTHY,
    Builder,
    FeatureSpec,
    per_window,
    recent,
)
from churnml.lifecycle import current_periods, subscriptions_as_of


def recent_start_prices(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, reference_days: int) -> pd.DataFrame:
    """How many periods started in the ``reference_days`` up to ``as_of`` at each (``plan``, ``monthly_price``).

    Counts, not rows: what a partition contributes to :func:`median_prices`, a few rows per plan.
    """
    t = as_timestamp(as_of)
    subs = subscriptions_as_of(subscriptions, t)
    recent = subs.loc[(subs["start_date"] >= t - pd.Timedelta(days=reference_days)) & subs["monthly_price"].notna(), ["plan", "monthly_price"]]
    return recent.groupby(["plan", "monthly_price"], sort=True).size().rename("periods").reset_index()


def median_prices(counts: pd.DataFrame) -> pd.Series:
    """The median ``monthly_price`` per plan from (``plan``, ``monthly_price``, ``periods``) counts, partitions'
    counts concatenated: exact, as if every period were listed (the mean of the middle two for an even number)."""
    if counts.empty:
        return pd.Series(dtype="float64", index=pd.Index([], dtype="str", name="plan"), name="new_customer_price")
    totals = counts.groupby(["plan", "monthly_price"], sort=True)["periods"].sum().reset_index()
    plan = totals["plan"].to_numpy()
    price = totals["monthly_price"].to_numpy(dtype="float64")
    seen = totals["periods"].to_numpy(dtype="int64")
    starts = np.flatnonzero(np.r_[True, plan[1:] != plan[:-1]])
    n = np.add.reduceat(seen, starts)
    before = np.cumsum(seen) - seen  # periods of the plan at lower prices, plus those of earlier plans
    before -= np.repeat(before[starts], np.diff(np.r_[starts, len(seen)]))
    cumulative = before + seen

    def _at(k: np.ndarray) -> np.ndarray:  # the k-th (0-based) price of each plan, in price order
        rows = np.repeat(k, np.diff(np.r_[starts, len(seen)]))
        hit = (before <= rows) & (rows < cumulative)
        return price[np.flatnonzero(hit)]

    middle = (_at((n - 1) // 2) + _at(n // 2)) / 2.0
    return pd.Series(middle, index=pd.Index(plan[starts], name="plan"), name="new_customer_price")


def new_customer_prices(subscriptions: pd.DataFrame, as_of: str | pd.Timestamp, reference_days: int) -> pd.Series:
    """Median ``monthly_price`` per plan of periods started in the ``reference_days`` up to ``as_of``.

    What a new customer pays for the plan today: a population-wide fact, computed once and broadcast to partitions.
    """
    return median_prices(recent_start_prices(subscriptions, as_of, reference_days))


def price_change_features(
    price_changes: pd.DataFrame,
    subscriptions: pd.DataFrame,
    customers: pd.Index,
    as_of: str | pd.Timestamp,
    cfg: FeatureConfig,
    plan_new_price: pd.Series,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """What the customer pays now, price rises before ``as_of``, and the price against ``plan_new_price``.

    ``monthly_price`` is the price at ``as_of``: the newest price change since the current period started, else
    the period's own ``monthly_price`` (the contract's price at the start of the period). Cumulative change over
    the longest window is the last new price over the first old price (0 when the price did not change; NaN when
    it started from 0). The latest increase, whatever its age, gives its size in percent and its notice in days
    (NaN without an increase, a recorded notice or a non-zero old price; rises on the same day: the largest size
    and the shortest notice).
    """
    t = as_timestamp(as_of)
    ev = events_before(price_changes, "timestamp", customers, t, positions=positions)
    n = len(customers)
    old = ev.column(price_changes, "old_price")
    new = ev.column(price_changes, "new_price")
    notice = ev.column(price_changes, "notice_days")
    rise = new > old
    longest = max(cfg.windows_days)
    in_longest = ev.within(longest)

    current = current_periods(subscriptions, customers, t)
    # Days since the current period started: a price change in that span sets what the customer pays now.
    period_age = ((t - current["period_start"]) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64, na_value=np.nan)
    in_period = ev.age <= period_age[ev.codes]
    newest = ev.minimum(ev.age, in_period)
    newest_price = ev.maximum(new, in_period & (ev.age == newest[ev.codes]))
    price_now = np.where(np.isnan(newest_price), current["monthly_price"].to_numpy(dtype=np.float64), newest_price)

    cols: dict[str, np.ndarray] = {"monthly_price": price_now}
    for w in cfg.windows_days:
        cols[window_name("price_increases", w)] = ev.count(ev.within(w) & rise)
    cols[window_name("price_change_pct", longest)] = _cumulative_change_pct(ev.codes, ev.age, old, new, in_longest, n)
    rise_pct = np.full(len(old), np.nan)
    np.divide(new - old, old, out=rise_pct, where=rise & (old > 0))
    largest = ev.maximum(rise_pct * 100.0, in_longest & rise)
    cols[window_name("price_max_increase_pct", longest)] = np.where(np.isnan(largest), 0.0, largest)
    short = rise & (np.isnan(notice) | (notice < cfg.short_notice_days))
    cols[window_name("price_short_notice_increases", longest)] = ev.count(in_longest & short)
    last_rise_age = ev.days_since_last(rise)
    cols["price_days_since_last_increase"] = last_rise_age
    # The latest increase itself: how big it was and how much notice came with it (what the customer felt last).
    latest_rise = rise & (ev.age == last_rise_age[ev.codes])
    cols["price_last_increase_pct"] = ev.maximum(rise_pct * 100.0, latest_rise)
    cols["price_last_increase_notice_days"] = ev.minimum(notice, latest_rise)

    reference = plan_new_price.reindex(current["plan"].to_numpy()).to_numpy(dtype=np.float64)
    cols["price_vs_new_customers_ratio"] = ratio(price_now, reference)
    cols["price_vs_new_customers_diff"] = price_now - reference
    return frame_of(customers, cols)


def _cumulative_change_pct(
    codes: np.ndarray, age: np.ndarray, old: np.ndarray, new: np.ndarray, mask: np.ndarray, n: int
) -> np.ndarray:
    out = np.zeros(n)
    if not mask.any():
        return out
    c, a, o, w = codes[mask], age[mask], old[mask], new[mask]
    order = np.lexsort((w, o, -a, c))  # customer, then oldest first; ties broken by price, not row order
    c, o, w = c[order], o[order], w[order]
    firsts, lasts = group_bounds(c)
    first_old, last_new = o[firsts], w[lasts]
    pct = np.full(len(firsts), np.nan)
    np.divide(last_new - first_old, first_old, out=pct, where=first_old > 0)
    out[c[firsts]] = pct * 100.0
    return out


# ---------------------------------------------------------------------------------------------- declarations


def price_specs(config: ChurnConfig) -> list[FeatureSpec]:
    p, src, cfg = Family.PRICE, "price_changes", config.features
    longest = max(cfg.windows_days)
    specs = [FeatureSpec("monthly_price", p, "pays {value:.2f} a month", "subscriptions", label="monthly price")]
    specs += per_window(config, "price_increases", p, "price increase{s}", src)
    specs += [
        FeatureSpec(
            window_name("price_change_pct", longest),
            p,
            f"price {{up_down}} {{abs:.0f}}% in the last {longest} days",
            src,
            zero=f"price unchanged in the last {longest} days",
            label=f"price change (%, last {longest} days)",
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("price_max_increase_pct", longest),
            p,
            f"a price increase of {{value:.0f}}% in the last {longest} days",
            src,
            zero=f"no price increase in the last {longest} days",
            label=f"largest price increase (%, last {longest} days)",
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("price_short_notice_increases", longest),
            p,
            f"{{value}} price increase{{s}} with under {cfg.short_notice_days} days' or unknown notice "
            f"in the last {longest} days",
            src,
            COUNT,
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "price_days_since_last_increase",
            p,
            "last price increase {value} days ago",
            src,
            missing="no price increase on record",
            label="days since the last price increase",
            **recent(longest),
        ),
        FeatureSpec(
            "price_last_increase_pct",
            p,
            "the latest price increase was {value:.0f}%",
            src,
            missing="no price increase on record",
            reference=NO_EVENT,
            hurts=HIGHER,
            neutral=(-INF, 0.0),
            label="size of the latest price increase (%)",
        ),
        FeatureSpec(
            "price_last_increase_notice_days",
            p,
            "the latest price increase came with {value} days' notice",
            src,
            missing="no notice on record for the latest price increase",
            zero="the latest price increase came without notice",
            reference=NO_EVENT,
            hurts=LOWER,
            neutral=(float(cfg.short_notice_days), INF),
            label="days' notice of the latest price increase",
        ),
        FeatureSpec(
            "price_vs_new_customers_ratio",
            p,
            "pays {value:.0%} of what new customers pay for the same plan",
            src,
            missing="no recent new-customer price for the plan",
            reference=1.0,
            hurts=HIGHER,
            label="price as a share of what new customers pay",
        ),
        FeatureSpec(
            "price_vs_new_customers_diff",
            p,
            "pays {abs:.2f} a month {more_less} than new customers on the same plan",
            src,
            missing="no recent new-customer price for the plan",
            zero="pays the same as new customers on the same plan",
            label="monthly price above what new customers pay",
            **NONE_IS_HEALTHY,
        ),
    ]
    return specs


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return price_change_features(data.price_changes, data.subscriptions, customers, t, config.features, context.plan_new_price,
                                 data.positions("price_changes", customers))


BUILDER = Builder("prices", 20, _build, price_specs)
