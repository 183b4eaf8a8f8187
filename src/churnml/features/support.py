"""Support contacts: how often customers call, how long they wait and whether their issue gets solved (service).

Contacts about the bill are counted in :mod:`churnml.features.billing` (how often: price; left unresolved or
repeated: service) and left out of the counts, unresolved and repeat contacts here; every contact's wait is read here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.features._common import Events, events_before, frame_of, group_quantile, ratio, window_name
from churnml.features.billing import billing_topic
from churnml.features.spec import (
    HIGHER,
    INF,
    NO_EVENT,
    NONE_IS_HEALTHY,
    Builder,
    FeatureSpec,
    per_window,
    recent,
)

# Contact trend is expressed per this many days so that recent and baseline windows of any length compare.
TREND_PER_DAYS = 30
# The wait most contacts stay under: 1 in 10 waits longer.
WAIT_QUANTILE = 0.9


def support_contact_features(
    contacts: pd.DataFrame, customers: pd.Index, as_of: str | pd.Timestamp, cfg: FeatureConfig,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Contact counts, waits, unresolved and repeat contacts, recency and trend, from contacts before ``as_of``.

    Counts, unresolved and repeat contacts (and their shares) leave out billing-topic contacts; waits, recency and
    trend read every contact.

    Windows ``w`` cover ``as_of - w days <= timestamp < as_of``; counts (contacts, long waits, unresolved, repeats)
    come per window, so that a recent problem reads differently from an old one; wait statistics and shares use the
    longest window and are NaN for customers without contacts in it.
    """
    t = as_timestamp(as_of)
    ev = events_before(contacts, "timestamp", customers, t, positions=positions)
    n = len(customers)
    wait = ev.column(contacts, "wait_minutes")
    long_wait = wait > cfg.long_wait_minutes
    service = ~billing_topic(contacts, ev.pos)
    unresolved = service & ~ev.column(contacts, "resolved", bool)
    longest = max(cfg.windows_days)
    in_longest = ev.within(longest)
    contacts_longest = ev.count(in_longest)

    cols: dict[str, np.ndarray] = {}
    for w in cfg.windows_days:
        cols[window_name("support_contacts", w)] = ev.count(ev.within(w) & service)
    for w in cfg.windows_days:
        cols[window_name("support_long_waits", w)] = ev.count(ev.within(w) & long_wait)
    cols[window_name("support_wait_mean", longest)] = ev.mean(wait, in_longest)
    cols[window_name("support_wait_p90", longest)] = group_quantile(
        ev.codes[in_longest], wait[in_longest], WAIT_QUANTILE, n
    )
    cols[window_name("support_wait_max", longest)] = ev.maximum(wait, in_longest)
    cols[window_name("support_long_wait_share", longest)] = ratio(ev.count(in_longest & long_wait), contacts_longest)
    for w in cfg.windows_days:
        cols[window_name("support_unresolved", w)] = ev.count(ev.within(w) & unresolved)
    unresolved_longest = cols[window_name("support_unresolved", longest)]
    cols[window_name("support_unresolved_share", longest)] = ratio(unresolved_longest, ev.count(in_longest & service))
    # Windows nest inside the longest one, so a contact's repeat status found there holds in every window.
    repeat = service & repeat_contacts(ev, in_longest, cfg.repeat_contact_days)
    for w in cfg.windows_days:
        cols[window_name("support_repeat_contacts", w)] = ev.count(ev.within(w) & repeat)
    cols["support_days_since_last_contact"] = ev.days_since_last()
    cols["support_contact_trend"] = _contact_trend(ev, cfg.trend_recent_days, cfg.trend_baseline_days)
    return frame_of(customers, cols)


def repeat_contacts(ev: Events, in_window: np.ndarray, repeat_days: int) -> np.ndarray:
    """Per event: in the window and at most ``repeat_days`` after the customer's previous contact.

    The previous contact of the first one in the window may lie before the window, so it is looked up among the
    older contacts (their latest per customer) instead of sorting the whole history.
    """
    latest_before = ev.minimum(ev.age, ~in_window)  # age of the latest contact older than the window
    where = np.flatnonzero(in_window)
    order = np.lexsort((-ev.age[where], ev.codes[where]))  # customer, then oldest first
    where = where[order]
    codes, age = ev.codes[where], ev.age[where]
    previous_age = np.empty_like(age)
    previous_age[1:] = age[:-1]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    previous_age[first] = latest_before[codes[first]]
    repeat = np.zeros(len(in_window), dtype=bool)
    repeat[where] = (previous_age - age) <= repeat_days  # NaN (no previous contact) compares False
    return repeat


def _contact_trend(ev: Events, recent_days: int, baseline_days: int) -> np.ndarray:
    """Contacts per 30 days in the recent window minus the same rate in the baseline window just before it.

    A difference of rates (not a ratio) stays defined when the baseline is empty.
    """
    recent = ev.within(recent_days)
    baseline = ev.within(recent_days + baseline_days) & ~recent
    return ev.count(recent) * (TREND_PER_DAYS / recent_days) - ev.count(baseline) * (TREND_PER_DAYS / baseline_days)


# ---------------------------------------------------------------------------------------------- declarations


def support_specs(config: ChurnConfig) -> list[FeatureSpec]:
    s, src, cfg = Family.SERVICE, "support_contacts", config.features
    longest = max(cfg.windows_days)
    last = f"in the last {longest} days"
    span = f"last {longest} days"
    wait = f"{cfg.long_wait_minutes:g} min"
    specs = per_window(config, "support_contacts", s, "support contact{s}", src)
    specs += per_window(config, "support_long_waits", s, f"support contact{{s}} with waits over {wait}", src)
    no_contact = f"no support contact {last}"
    slow: dict[str, Any] = {"reference": NO_EVENT, "hurts": HIGHER, "neutral": (0.0, float(cfg.long_wait_minutes))}
    none_failed: dict[str, Any] = {"reference": NO_EVENT, "hurts": HIGHER, "neutral": (-INF, 0.0)}
    specs += [
        FeatureSpec(
            window_name("support_wait_mean", longest),
            s,
            f"average support wait {{value:.0f}} min {last}",
            src,
            missing=no_contact,
            label=f"average support wait in minutes ({span})",
            **slow,
        ),
        FeatureSpec(
            window_name("support_wait_p90", longest),
            s,
            f"1 in 10 support waits over {{value:.0f}} min {last}",
            src,
            missing=no_contact,
            label=f"support wait 1 in 10 contacts exceed, in minutes ({span})",
            **slow,
        ),
        FeatureSpec(
            window_name("support_wait_max", longest),
            s,
            f"longest support wait {{value:.0f}} min {last}",
            src,
            missing=no_contact,
            label=f"longest support wait in minutes ({span})",
            **slow,
        ),
        FeatureSpec(
            window_name("support_long_wait_share", longest),
            s,
            f"{{value:.0%}} of support contacts waited over {wait} {last}",
            src,
            missing=no_contact,
            label=f"share of support contacts waiting over {wait} ({span})",
            **none_failed,
        ),
    ]
    specs += per_window(config, "support_unresolved", s, "unresolved support contact{s}", src)
    specs.append(
        FeatureSpec(
            window_name("support_unresolved_share", longest),
            s,
            f"{{value:.0%}} of support contacts unresolved {last}",
            src,
            missing=no_contact,
            label=f"share of support contacts unresolved ({span})",
            **none_failed,
        )
    )
    specs += per_window(
        config,
        "support_repeat_contacts",
        s,
        f"repeat support contact{{s}} within {cfg.repeat_contact_days} days of the previous one",
        src,
    )
    specs += [
        FeatureSpec(
            "support_days_since_last_contact",
            s,
            "last support contact {value:.0f} days ago",
            src,
            missing="no support contact on record",
            label="days since the last support contact",
            **recent(longest),
        ),
        FeatureSpec(
            "support_contact_trend",
            s,
            f"support contacts {{up_down}} by {{abs:.1f}} per {TREND_PER_DAYS} days in the last "
            f"{cfg.trend_recent_days} days against the {cfg.trend_baseline_days} days before",
            src,
            zero=f"support contacts steady in the last {cfg.trend_recent_days} days",
            label=f"change in support contacts per {TREND_PER_DAYS} days (last {cfg.trend_recent_days} days against "
            f"the {cfg.trend_baseline_days} before)",
            **NONE_IS_HEALTHY,
        ),
    ]
    return specs


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return support_contact_features(data.support_contacts, customers, t, config.features, data.positions("support_contacts", customers))


BUILDER = Builder("support", 40, _build, support_specs)
