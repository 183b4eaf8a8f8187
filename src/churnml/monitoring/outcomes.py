"""Do the remedies work? Churn of the treated against the control group of every matured run.

Each run holds out a random control group of its flagged customers (:func:`churnml.remedies.held_out`). Once the run's
horizon and grace have passed, its flagged customers split three ways: the control group (not to be treated), the
treated (a remedy recorded in ``retention_actions`` within ``window_days`` of the run) and the rest (flagged, not held
out, but nothing recorded). The control group is a random draw from the same flagged population, so the churn rate
of its customers of a cause, stage and risk is what the treated of that cause, stage and risk would have done
untreated, and the difference is the remedy's uplift (positive: fewer leave). Comparing within risk strata keeps a
CRM that reaches the riskiest flagged customers first from passing their higher churn off as a failed remedy.
Intervals are the normal approximation of a difference of two proportions; a cell with few controls says so through
its width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import as_timestamp
from churnml.labels import build_labels
from churnml.remedies import REMEDY_FAMILY

Z95 = 1.959963984540054
CELL_KEYS = ("action", "primary_cause", "lifecycle_stage")
CELL_COLUMNS = [*CELL_KEYS, "treated", "treated_compared", "treated_churn_rate", "control", "control_churn_rate", "uplift", "uplift_low",
                "uplift_high", "customers_saved", "cost", "cost_per_customer_saved"]
RISK_STRATA = 5  # the treated are compared with control customers of the same risk quintile
# What outcome_rows reads of a run's customers table (its history).
HISTORY_COLUMNS = ["customer_id", "churn_probability", "flagged", "control_group", "recommended_action", "primary_cause",
                   "lifecycle_stage", "expected_uplift"]


def treated_rows(flagged: pd.DataFrame, actions: pd.DataFrame, t: pd.Timestamp, window_days: int) -> pd.DataFrame:
    """The first remedy each flagged customer got in ``[t, t + window_days)``: ``customer_id``, ``action``, ``cost``."""
    end = t + pd.Timedelta(days=window_days)
    mine = actions[(actions["timestamp"] >= t) & (actions["timestamp"] < end) & actions["customer_id"].isin(flagged["customer_id"])]
    mine = mine.sort_values(["customer_id", "timestamp"], kind="stable").drop_duplicates("customer_id")
    cost = mine["cost"] if "cost" in mine else pd.Series(np.nan, index=mine.index)
    return pd.DataFrame({"customer_id": mine["customer_id"].to_numpy(), "action": mine["action"].astype(str).to_numpy(),
                         "cost": cost.to_numpy(dtype=float)})


def outcome_rows(runs: Sequence[tuple[dict[str, Any], pd.DataFrame]], subscriptions: pd.DataFrame, actions: pd.DataFrame,
                 newest: pd.Timestamp, config: ChurnConfig, window_days: int, washout_days: int = 0) -> pd.DataFrame:
    """One row per flagged customer of every matured run: ``run``, ``customer_id``, ``group`` (control, treated,
    untreated), ``action`` (the recorded remedy; for the others the recommended one), ``recommended_action``,
    ``primary_cause``, ``lifecycle_stage``, ``churn_probability``, ``left`` (the training label: churned within the
    horizon, confirmed after the grace period), ``cost`` and ``expected_uplift`` (NaN where the run had no uplift
    model). A run matures when T + horizon + grace <= ``newest``.
    Customers with a remedy recorded in the ``washout_days`` before T, or held out as control by a run in them, are
    left out on both sides (decided by what happened before the run, so the comparison stays fair): a remedy still
    working would blur the comparison, and a customer held out again would count the same outcome twice, so the
    interval would claim more customers than were measured."""
    frames = []
    held: list[tuple[pd.Timestamp, pd.Series]] = []  # each earlier run's control customers
    for run, customers in sorted(runs, key=lambda r: as_timestamp(r[0]["as_of"])):
        t = as_timestamp(run["as_of"])
        horizon = int(run.get("horizon_days") or config.labels.horizon_days)
        grace = int(run.get("grace_days") or config.labels.grace_days)
        if "control_group" not in customers:
            continue  # a run from before control groups
        flagged = customers[customers["flagged"].to_numpy(dtype=bool)]
        control_now = flagged.loc[flagged["control_group"].to_numpy(dtype=bool), "customer_id"]
        if washout_days:
            since = t - pd.Timedelta(days=washout_days)
            recent = actions[(actions["timestamp"] >= since) & (actions["timestamp"] < t)]
            was_held = [ids for when, ids in held if since <= when < t]
            out = flagged["customer_id"].isin(recent["customer_id"])
            if was_held:
                out |= flagged["customer_id"].isin(pd.concat(was_held))
            flagged = flagged[~out.to_numpy()]
        held.append((t, control_now))
        if t + pd.Timedelta(days=horizon + grace) > newest:
            continue  # not matured
        labels = build_labels(subscriptions, t, config.labels.model_copy(update={"horizon_days": horizon, "grace_days": grace}))
        y = labels.reindex(flagged["customer_id"]).to_numpy(dtype=float)
        done = treated_rows(flagged, actions, t, window_days).set_index("customer_id")
        control = flagged["control_group"].to_numpy(dtype=bool)
        recorded = done["action"].reindex(flagged["customer_id"]).to_numpy(dtype=object)
        has = pd.notna(recorded) & ~control  # a remedy recorded for a control customer is not counted as treatment
        frames.append(pd.DataFrame({
            "run": str(t.date()),
            "customer_id": flagged["customer_id"].to_numpy(),
            "group": np.where(control, "control", np.where(has, "treated", "untreated")),
            "action": np.where(has, recorded, flagged["recommended_action"].astype(str).to_numpy()),
            "recommended_action": flagged["recommended_action"].astype(str).to_numpy(),
            "primary_cause": flagged["primary_cause"].astype(str).to_numpy(),
            "lifecycle_stage": flagged["lifecycle_stage"].astype(str).to_numpy(),
            "churn_probability": flagged["churn_probability"].to_numpy(dtype=float),
            "expected_uplift": (flagged["expected_uplift"].to_numpy(dtype=float) if "expected_uplift" in flagged
                                else np.full(len(flagged), np.nan)),
            "left": y,
            "cost": np.where(has, done["cost"].reindex(flagged["customer_id"]).to_numpy(dtype=float), 0.0),
            "control_recorded": control & pd.notna(recorded),
        }))
    columns = ["run", "customer_id", "group", "action", "recommended_action", "primary_cause", "lifecycle_stage", "churn_probability",
               "expected_uplift", "left", "cost", "control_recorded"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return out[out["left"].notna()].reset_index(drop=True)


def uplift_table(rows: pd.DataFrame, keys: Sequence[str], strata: int = RISK_STRATA, peers: Sequence[str] | None = None) -> pd.DataFrame:
    """Per group of ``keys``: the treated customers, their churn rate, and what they would have done untreated:
    the churn rate of the control customers of the same cause and stage (whatever action was recommended to them)
    in the same risk stratum (``strata`` quantiles of ``churn_probability``), weighted as the treated are spread
    over the strata. Whoever the CRM chose to reach, a treated customer is compared with control customers as risky
    as they were. The uplift (control minus treated) has a 95% interval (normal approximation, summed over strata);
    treated customers in a stratum without control customers are left out of it (``treated_compared``). Also the
    customers saved (uplift x treated), the cost and the cost per customer saved. ``peers``: what a control customer
    must share with a treated one (default: the ``keys`` but the action: a control customer stands for any remedy of
    its cause and stage)."""
    keys = list(keys)
    peers = [k for k in keys if k != "action"] if peers is None else list(peers)
    fine = list(dict.fromkeys([*keys, *peers]))
    base = rows[rows["group"].isin(["treated", "control"])]
    if base.empty:
        return pd.DataFrame(columns=[*keys, *CELL_COLUMNS[len(CELL_KEYS):]])
    p = base["churn_probability"].to_numpy(dtype=float)
    edges = np.unique(np.quantile(p, np.linspace(0, 1, strata + 1)[1:-1])) if len(p) else np.array([])
    base = base.assign(stratum=np.searchsorted(edges, p, side="right"), left=base["left"].astype(float))
    treated, control = base[base["group"].eq("treated")], base[base["group"].eq("control")]
    by_t = treated.groupby([*fine, "stratum"], observed=True)["left"].agg(nt="size", pt="mean").reset_index()
    by_c = control.groupby([*peers, "stratum"], observed=True)["left"].agg(nc="size", pc="mean").reset_index()
    cells = by_t.merge(by_c, on=[*peers, "stratum"], how="left")
    usable = cells["nc"].fillna(0).to_numpy() > 0
    cells = cells.assign(nt_used=np.where(usable, cells["nt"], 0))
    total = cells.groupby(keys, observed=True)["nt_used"].transform("sum").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(usable, cells["nt"].to_numpy(dtype=float) / total, 0.0)
        pc, pt = cells["pc"].to_numpy(dtype=float), cells["pt"].to_numpy(dtype=float)
        nc, nt = cells["nc"].to_numpy(dtype=float), cells["nt"].to_numpy(dtype=float)
        var = np.where(usable, w**2 * (pc * (1 - pc) / nc + pt * (1 - pt) / nt), 0.0)
    cells = cells.assign(wpc=np.where(usable, w * pc, 0.0), wpt=np.where(usable, w * pt, 0.0), var=var,
                         nc_used=np.where(usable, nc, 0.0))
    out = cells.groupby(keys, sort=True, observed=True).agg(
        treated=("nt", "sum"), treated_compared=("nt_used", "sum"), control=("nc_used", "sum"), wpc=("wpc", "sum"),
        wpt=("wpt", "sum"), var=("var", "sum")).reset_index()
    raw = treated.groupby(keys, observed=True).agg(treated_churn_rate=("left", "mean"), cost=("cost", "sum")).reset_index()
    out = out.merge(raw, on=keys, how="left")
    compared = out["treated_compared"].to_numpy(dtype=float) > 0
    out["control_churn_rate"] = np.where(compared, out["wpc"], np.nan)
    out["uplift"] = np.where(compared, out["wpc"] - out["wpt"], np.nan)
    se = np.sqrt(out["var"].to_numpy(dtype=float))
    out["uplift_low"] = out["uplift"] - Z95 * se
    out["uplift_high"] = out["uplift"] + Z95 * se
    out["customers_saved"] = out["uplift"] * out["treated"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["cost_per_customer_saved"] = np.where(out["customers_saved"] > 0, out["cost"] / out["customers_saved"], np.nan)
    for c in ("treated", "treated_compared", "control"):
        out[c] = out[c].astype(int)
    return out[[*keys, *CELL_COLUMNS[len(CELL_KEYS):]]]


def assigned_table(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Intention to treat: every flagged customer outside the control group counts as treated, whether the CRM
    recorded a remedy or not, by the action the run recommended. Immune to which customers the CRM chose to reach
    (the assignment is the random draw), diluted by those it did not."""
    assigned = rows.assign(group=np.where(rows["group"].eq("control"), "control", "treated"), action=rows["recommended_action"])
    return uplift_table(assigned, keys)


def on_treated_table(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The effect on the customers the CRM did treat, by the run's recommendation: the intention-to-treat uplift
    (:func:`assigned_table`) divided by the share of the assigned that were treated (Bloom's estimator). The control
    group is never treated, so whichever customers the CRM chose to reach, and however it chose them, this is the
    average effect on them: no comparison of the reached with the unreached, who differ. The interval is the
    intention-to-treat one scaled by the same share, widened for the share's own sampling error (delta method)."""
    itt = assigned_table(rows, keys)
    assigned = rows[~rows["group"].eq("control")].assign(action=rows["recommended_action"])
    share = (assigned.assign(reached=assigned["group"].eq("treated").astype(float))
             .groupby(list(keys), observed=True)["reached"].agg(reached_share="mean", assigned="size").reset_index())
    out = itt.merge(share, on=list(keys), how="left")
    c = out["reached_share"].to_numpy(dtype=float)
    n = out["assigned"].to_numpy(dtype=float)
    u = out["uplift"].to_numpy(dtype=float)
    se_itt = (out["uplift_high"].to_numpy(dtype=float) - u) / Z95
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = np.where(c > 0, u / c, np.nan)
        se = np.sqrt(se_itt**2 / c**2 + u**2 * (c * (1 - c) / n) / c**4)
    return pd.DataFrame({**{k: out[k] for k in keys}, "assigned": n.astype(int), "reached_share": c, "itt_uplift": u,
                         "uplift": effect, "uplift_low": effect - Z95 * se, "uplift_high": effect + Z95 * se,
                         "control": out["control"].astype(int)})


def matched_remedies(rows: pd.DataFrame) -> pd.DataFrame:
    """Uplift of remedies that address the customer's cause (an offer for price, a call for service) against
    those that address another family."""
    fam = rows["action"].map(REMEDY_FAMILY).fillna("other")
    kind = np.where(fam.eq(rows["primary_cause"]), "matched", "mismatched")
    return uplift_table(rows.assign(remedy=kind), ["remedy"], peers=["primary_cause", "lifecycle_stage"])


def qini(rows: pd.DataFrame, score: str = "churn_probability") -> dict[str, float]:
    """Qini coefficient of ranking the treated and control customers by ``score`` (highest first), and of the
    ranking by the realised outcome that no model can beat (the oracle's); area between the Qini curve and the
    straight line from no one to everyone, per customer; and their ratio. The outcome counted is a customer kept.

    Written here rather than taken from a library: scikit-uplift's metrics fit (its ``qini_auc_score`` is this
    ratio) but it has had no release since 2022, and causalml brings xgboost, statsmodels, seaborn and more for
    the same thirty lines; the ratio was checked against scikit-uplift 0.5.1 on simulated data (within 3%)."""
    base = rows[rows["group"].isin(["treated", "control"])]
    if base.empty or base["group"].eq("treated").all() or base["group"].eq("control").all():
        return {"qini": float("nan"), "qini_oracle": float("nan"), "qini_normalised": float("nan"), "customers": len(base)}
    stay = 1.0 - base["left"].to_numpy(dtype=float)
    treated = base["group"].eq("treated").to_numpy()

    def coefficient(order: np.ndarray) -> float:
        t, s = treated[order], stay[order]
        nt, nc = np.cumsum(t), np.cumsum(~t)
        kept_t, kept_c = np.cumsum(s * t), np.cumsum(s * ~t)
        with np.errstate(divide="ignore", invalid="ignore"):
            curve = kept_t - np.where(nc > 0, kept_c * nt / nc, 0.0)
        n = len(order)
        line = curve[-1] * np.arange(1, n + 1) / n
        return float(np.mean(curve - line) / n)

    by_score = np.argsort(-base[score].to_numpy(dtype=float), kind="stable")
    # The best possible order: treated who stayed, control who left, treated who left, control who stayed.
    place = np.select([treated & (stay == 1), ~treated & (stay == 0), treated], [0, 1, 2], 3)
    best = np.lexsort((np.arange(len(base)), place))
    q, oracle = coefficient(by_score), coefficient(best)
    # Normalised by the best order, as scikit-uplift's qini_auc_score is (within 3% of it on simulated data).
    return {"qini": q, "qini_oracle": oracle, "qini_normalised": q / oracle if oracle else float("nan"), "customers": len(base)}


def uplift_ranking(rows: pd.DataFrame) -> dict[str, float]:
    """Qini coefficients, on the treated and control customers whose runs carried an ``expected_uplift``, of ranking
    them by it and by risk, beside the best possible: how flagging by uplift would have done against flagging by
    risk, measured against the control group (NaN where no run carried it)."""
    rows = rows[rows["expected_uplift"].notna()] if "expected_uplift" in rows else rows.iloc[:0]
    by_uplift, by_risk = qini(rows, "expected_uplift"), qini(rows, "churn_probability")
    return {"qini_uplift": by_uplift["qini"], "qini_risk": by_risk["qini"], "qini_oracle": by_uplift["qini_oracle"],
            "customers": by_uplift["customers"]}


def overall_uplift(rows: pd.DataFrame) -> dict[str, float]:
    """Every treated customer against every control customer (within risk strata): uplift, interval, saved."""
    table = uplift_table(rows.assign(all="all"), ["all"])
    if table.empty:
        return {"uplift": float("nan"), "uplift_low": float("nan"), "uplift_high": float("nan"), "customers_saved": 0.0,
                "treated": 0.0, "control": 0.0}
    r = table.iloc[0]
    return {k: float(r[k]) for k in ("uplift", "uplift_low", "uplift_high", "customers_saved", "treated", "control")}


@dataclass(frozen=True)
class Outcomes:
    """What the remedies did: ``rows`` (:func:`outcome_rows`), ``cells`` (uplift per action x cause x stage),
    ``by_action`` (per action x cause), ``matched`` (matched against mismatched remedies), ``runs`` (per run and
    group: customers and churn rate), ``qini`` (of the risk ranking, beside the best possible), ``overall``,
    and intention to treat: ``assigned`` (per recommended action x cause) and ``assigned_overall``; ``on_treated``
    (per recommended action x cause, :func:`on_treated_table`); ``uplift_ranking`` (:func:`uplift_ranking`)."""

    rows: pd.DataFrame
    cells: pd.DataFrame
    by_action: pd.DataFrame
    matched: pd.DataFrame
    runs: pd.DataFrame
    qini: dict[str, float]
    overall: dict[str, float]
    assigned: pd.DataFrame
    assigned_overall: dict[str, float]
    on_treated: pd.DataFrame  # per recommended action x cause: the effect on those reached (on_treated_table)
    uplift_ranking: dict[str, float] = field(default_factory=dict)  # the expected uplift's Qini beside risk's (uplift_ranking)


def summarise_outcomes(rows: pd.DataFrame) -> Outcomes:
    """Every table and figure of :class:`Outcomes` from the outcome rows."""
    per_run = (rows.groupby(["run", "group"], sort=True)["left"].agg(customers="size", churn_rate="mean").reset_index()
               if len(rows) else pd.DataFrame(columns=["run", "group", "customers", "churn_rate"]))
    assigned = rows.assign(group=np.where(rows["group"].eq("control"), "control", "treated"))
    return Outcomes(rows, uplift_table(rows, CELL_KEYS), uplift_table(rows, ["action", "primary_cause"]), matched_remedies(rows),
                    per_run, qini(rows), overall_uplift(rows), assigned_table(rows, ["action", "primary_cause"]),
                    overall_uplift(assigned), on_treated_table(rows, ["action", "primary_cause"]), uplift_ranking(rows))


def outcomes_of(runs: Sequence[tuple[dict[str, Any], pd.DataFrame]], subscriptions: pd.DataFrame, actions: pd.DataFrame,
                newest: pd.Timestamp, config: ChurnConfig) -> Outcomes:
    """:class:`Outcomes` of the runs matured by ``newest``, with the treatment window and washout of
    ``config.monitoring``: what the ``outcomes`` command and the report both show."""
    return summarise_outcomes(outcome_rows(runs, subscriptions, actions, newest, config, config.monitoring.treatment_window_days,
                                           config.monitoring.treatment_washout_days))
