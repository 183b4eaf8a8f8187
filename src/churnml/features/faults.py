"""Technical faults: how many, how long, outages, and exposure to incidents shared by many customers (service)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig, Family, FeatureConfig
from churnml.dataset import Dataset, as_timestamp, isin_ids
from churnml.features._common import events_before, frame_of, positions_in, window_name
from churnml.features.spec import (
    COUNT,
    NONE_IS_HEALTHY,
    SHARED_INCIDENT,
    Builder,
    FeatureSpec,
    per_window,
    recent,
)


def incident_sizes(faults: pd.DataFrame, subscriptions: pd.DataFrame, as_of: str | pd.Timestamp) -> pd.Series:
    """Distinct customers per ``incident_id`` among faults before ``as_of`` (a population-wide fact).

    Only customers with a period started by ``as_of`` count: a customer first known later must not change what an
    incident looked like at ``as_of``.
    """
    t = as_timestamp(as_of)
    if "incident_id" not in faults.columns or len(faults) == 0:
        return pd.Series(dtype="int64", index=pd.Index([], dtype="str", name="incident_id"), name="customers")
    known = faults.loc[(faults["timestamp"] < t) & faults["incident_id"].notna(), ["incident_id", "customer_id"]]
    customers = pd.Index(subscriptions.loc[subscriptions["start_date"] <= t, "customer_id"].unique())
    known = known[isin_ids(known["customer_id"], customers)]
    # Distinct (incident, customer) pairs as integers, counted per incident: no frame of string pairs.
    incident, incidents = pd.factorize(known["incident_id"])
    customer, seen = pd.factorize(known["customer_id"])
    pairs = np.unique(incident.astype(np.int64) * (len(seen) + 1) + customer)
    sizes = np.bincount(pairs // (len(seen) + 1), minlength=len(incidents)).astype("int64")
    index = pd.Index(incidents, dtype=faults["incident_id"].dtype, name="incident_id")
    return pd.Series(sizes, index=index, name="customers").sort_index()


def tech_fault_features(
    faults: pd.DataFrame,
    customers: pd.Index,
    as_of: str | pd.Timestamp,
    cfg: FeatureConfig,
    incident_size: pd.Series,
    positions: np.ndarray | None = None,
) -> pd.DataFrame:
    """Faults before ``as_of``: counts per window, shared-incident faults per window, minutes, outages, recency.

    A fault is part of a shared incident when its ``incident_id`` reaches ``incident_min_customers`` customers in
    ``incident_size`` (from :func:`incident_sizes` over the whole population, so partitions agree).
    """
    t = as_timestamp(as_of)
    ev = events_before(faults, "timestamp", customers, t, positions=positions)
    longest = max(cfg.windows_days)
    in_longest = ev.within(longest)
    shared = np.zeros(len(ev.codes), dtype=bool)
    if "incident_id" in faults.columns and len(ev.codes) and len(incident_size):
        where = positions_in(faults["incident_id"].iloc[ev.pos], incident_size.index)
        size = np.where(where >= 0, incident_size.to_numpy(dtype=np.float64)[where], 0.0)
        shared = size >= cfg.incident_min_customers
    outage = (faults["fault_type"] == "outage").to_numpy(dtype=bool, na_value=False)[ev.pos]

    cols: dict[str, np.ndarray] = {}
    for w in cfg.windows_days:
        cols[window_name("faults", w)] = ev.count(ev.within(w))
    for w in cfg.windows_days:
        cols[window_name("faults_shared_incident", w)] = ev.count(ev.within(w) & shared)
    cols[window_name("faults_minutes", longest)] = ev.total(ev.column(faults, "duration_minutes"), in_longest)
    cols[window_name("faults_outages", longest)] = ev.count(in_longest & outage)
    cols["faults_days_since_last"] = ev.days_since_last()
    return frame_of(customers, cols)


# ---------------------------------------------------------------------------------------------- declarations


def fault_specs(config: ChurnConfig) -> list[FeatureSpec]:
    s, src, cfg = Family.SERVICE, "tech_faults", config.features
    longest = max(cfg.windows_days)
    specs = per_window(config, "faults", s, "technical fault{s}", src)
    specs += per_window(
        config,
        "faults_shared_incident",
        s,
        f"fault{{s}} from incidents hitting {cfg.incident_min_customers}+ customers",
        src,
        SHARED_INCIDENT,
    )
    specs += [
        FeatureSpec(
            window_name("faults_minutes", longest),
            s,
            f"{{value:.0f}} minutes of faults in the last {longest} days",
            src,
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            window_name("faults_outages", longest),
            s,
            f"{{value}} outage{{s}} in the last {longest} days",
            src,
            COUNT,
            **NONE_IS_HEALTHY,
        ),
        FeatureSpec(
            "faults_days_since_last",
            s,
            "last technical fault {value:.0f} days ago",
            src,
            missing="no technical fault on record",
            label="days since the last technical fault",
            **recent(longest),
        ),
    ]
    return specs


def _build(data: Dataset, customers: pd.Index, t: pd.Timestamp, config: ChurnConfig, context: Any) -> pd.DataFrame:
    return tech_fault_features(data.tech_faults, customers, t, config.features, context.incident_size, data.positions("tech_faults", customers))


BUILDER = Builder("faults", 70, _build, fault_specs)
