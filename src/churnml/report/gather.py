"""Everything the analysts' report shows, computed once from a scoring run: :class:`ReportInputs`.

The work is bounded whatever the population: the scores file is aggregated in vectorised passes, full
explanations are computed for at most ``max_customer_pages`` flagged customers (by rank) plus fixed-size samples
for the driver views, and the leavers-vs-stayers profile stacks training snapshots of a customer sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.explain import Explanations, explain_customers
from churnml.features import FeatureSpec, feature_registry, population_context
from churnml.labels import training_snapshots
from churnml.lifecycle import current_periods
from churnml.modeling.bundle import ModelBundle
from churnml.report.labels import feature_label, format_feature_value

CAUSES = ("price", "service", "other")
STAGES = ("new", "established", "won_back")
META_COLUMNS = ("snapshot_date", "customer_id", "lifecycle_stage", "label")
MAX_SEGMENTS = 12  # plans (or attribute values) shown per dimension; the rest are summed as "other plans"


@dataclass(frozen=True)
class ReportInputs:
    """The data behind every section of the report; :func:`churnml.report.render_report` only presents it.

    Frames (all plain pandas, deterministic for the same run):

    - ``risk_histogram``: ``lo``, ``hi``, ``customers``, ``flagged`` per probability bin of the population;
    - ``flagged_mix``: ``primary_cause``, ``lifecycle_stage``, ``recommended_action``, ``customers``,
      ``mean_probability`` over every flagged customer;
    - ``flagged_table``: the flagged customers that get a page (top ``max_customer_pages`` by rank), with the
      scores-file columns and ``plan``;
    - ``explanations``: full explanations of the ``flagged_table`` customers;
    - ``global_drivers``: ``feature``, ``label``, ``family``, ``mean_abs``, ``mean_up``, ``mean_down``,
      ``share_up`` on a random sample of active customers, largest ``mean_abs`` first;
    - ``cause_drivers``: ``primary_cause``, ``feature``, ``label``, ``family``, ``mean_up``, ``customers`` on a
      sample of flagged customers;
    - ``segments``: ``dimension`` (lifecycle_stage or plan), ``segment``, ``customers``, ``mean_probability``,
      ``expected_leavers``, ``high``, ``medium``, ``flagged``, ``flagged_share``, ``flagged_price``,
      ``flagged_service``, ``flagged_other``;
    - ``segment_families``: ``dimension``, ``segment``, ``sample``, ``price``, ``service``, ``other`` (share of
      the positive risk each family carries in the segment's sampled customers);
    - ``segment_drivers``: ``dimension``, ``segment``, ``rank``, ``feature``, ``label``, ``family``, ``mean_up``;
    - ``profile``: ``feature``, ``label``, ``family``, ``kind``, ``leavers``, ``stayers``, ``leavers_text``,
      ``stayers_text``, ``effect`` (standardised difference, leavers minus stayers), largest ``|effect|`` first;
    - ``profile_rates``: ``dimension``, ``segment``, ``rows``, ``leavers``, ``churn_rate`` from the snapshots.
    """

    as_of: str
    model_version: str
    horizon_days: int
    tiers: dict[str, float]
    population: dict[str, Any]
    risk_histogram: pd.DataFrame
    flagged_mix: pd.DataFrame
    flagged_table: pd.DataFrame
    explanations: Explanations
    global_drivers: pd.DataFrame
    cause_drivers: pd.DataFrame
    segments: pd.DataFrame
    segment_families: pd.DataFrame
    segment_drivers: pd.DataFrame
    profile: pd.DataFrame
    profile_rates: pd.DataFrame
    profile_info: dict[str, Any]
    model: dict[str, Any]
    run: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    winback: pd.DataFrame | None = None  # the win-back list (churnml winback), when the report is given one
    winback_run: dict[str, Any] = field(default_factory=dict)  # its manifest


def gather_report_inputs(
    scores: pd.DataFrame,
    manifest: Mapping[str, Any],
    dataset: Dataset,
    bundle: ModelBundle,
    config: ChurnConfig,
    *,
    max_customer_pages: int = 300,
    profile_sample: int = 50_000,
    driver_sample: int = 3_000,
    flagged_sample: int = 2_000,
    profile_snapshots: int = 6,
    seed: int = 0,
) -> ReportInputs:
    """Compute the report's data from a scores frame (:func:`churnml.io.read_scores`) and its run.

    ``dataset`` is the scored dataset (the whole of it; point in time is applied here), ``bundle`` the model
    that scored it and ``config`` its configuration. Explanations cover the top ``max_customer_pages`` flagged
    customers, ``driver_sample`` random active customers and ``flagged_sample`` random flagged ones; the
    profile stacks the latest ``profile_snapshots`` training snapshots of ``profile_sample`` customers.
    """
    if scores.empty:
        raise ValueError("the scores file has no rows; nothing to report")
    as_of = str(manifest.get("as_of") or scores["as_of_date"].iloc[0])
    t = as_timestamp(as_of)
    rng = np.random.default_rng(seed)
    scores = scores.sort_values("risk_rank", kind="stable").reset_index(drop=True)
    known = dataset.known_at(t)
    active = pd.Index(scores["customer_id"].astype(str), name="customer_id")
    plans = current_periods(known.subscriptions, active, t)["plan"]
    scores = scores.assign(plan=plans.astype(object).fillna("unknown").astype(str).to_numpy())
    flagged = scores[scores["flagged"]]
    registry = feature_registry(config, dict(known.customers.drop(columns="customer_id").dtypes))
    notes: list[str] = []

    # --- explanations: page customers, a random population sample, a random flagged sample (one pass)
    pages = flagged.head(max(0, max_customer_pages))
    if len(flagged) > len(pages):
        notes.append(
            f"Pages are written for the {len(pages):,} highest-risk of {len(flagged):,} flagged customers; "
            "every flagged customer is in the scores file."
        )
    population_ids = _sample(active, driver_sample, rng)
    flagged_ids = _sample(pd.Index(flagged["customer_id"]), flagged_sample, rng)
    wanted = pd.Index(pages["customer_id"]).append(population_ids).append(flagged_ids).unique()
    context = population_context(known, t, config)
    explained = explain_customers(known, t, bundle, config, wanted, context=context)
    contrib = explained.contributions
    page_ids = pd.Index(pages["customer_id"])
    page_expl = Explanations(
        explained.summary[explained.summary.index.isin(page_ids)],
        contrib[contrib["customer_id"].isin(page_ids)].reset_index(drop=True),
        explained.base_log_odds,
    )
    missing = page_ids.difference(explained.summary.index)
    if len(missing):
        notes.append(f"{len(missing):,} flagged customers are no longer active in the data; their pages show the scores only.")

    labels = {n: feature_label(registry.get(n), n) for n in bundle.feature_names}
    global_drivers = _driver_table(contrib[contrib["customer_id"].isin(population_ids)], labels)
    cause_drivers = _cause_drivers(contrib[contrib["customer_id"].isin(flagged_ids)], flagged, labels)
    segments = _segments(scores)
    sample_meta = scores.set_index("customer_id").loc[population_ids, ["lifecycle_stage", "plan"]]
    segment_families, segment_drivers = _segment_drivers(
        contrib[contrib["customer_id"].isin(population_ids)], sample_meta, labels
    )

    # --- leavers against stayers, from the training snapshots of a customer sample
    profile, profile_rates, profile_info = _profile(known, t, config, registry, labels, profile_sample, profile_snapshots, rng)
    if profile_info["rows"] == 0:
        notes.append("No fully labelled training snapshot exists at this date: the leavers-vs-stayers profile is empty.")

    p = scores["churn_probability"].to_numpy(dtype=float)
    tiers = {"high": config.flagging.tiers.high, "medium": config.flagging.tiers.medium}
    f = config.flagging
    policy = (
        f"the top {f.top_fraction:.0%} of customers by risk"
        if f.top_fraction is not None
        else f"every customer with probability ≥ {f.probability_threshold:.0%}"
    )
    population = {
        "active_customers": len(scores),
        "flagged": len(flagged),
        "flag_policy": policy,
        "mean_probability": float(p.mean()),
        "expected_leavers": float(p.sum()),
        "flagged_expected_leavers": float(flagged["churn_probability"].sum()),
        "by_tier": {k: int((scores["risk_tier"] == k).sum()) for k in ("high", "medium", "low")},
        "by_stage": {k: int(v) for k, v in scores["lifecycle_stage"].value_counts().sort_index().items()},
        "flagged_by_cause": {k: int((flagged["primary_cause"] == k).sum()) for k in CAUSES},
        "flagged_by_action": {k: int(v) for k, v in flagged["recommended_action"].value_counts().sort_index().items()},
        "pages": len(pages),
        # Scores files written before the column existed have no referral candidates to count.
        "referral_candidates": int(scores["referral_candidate"].sum()) if "referral_candidate" in scores else None,
    }
    meta = bundle.meta
    model = {
        "version": bundle.version,
        "created": meta.get("created"),
        "trained_as_of": meta.get("as_of"),
        "horizon_days": meta.get("horizon_days", config.labels.horizon_days),
        "grace_days": meta.get("grace_days", config.labels.grace_days),
        "best_iteration": meta.get("best_iteration"),
        "lightgbm_version": meta.get("lightgbm_version"),
        "features": len(bundle.feature_names),
        "split": meta.get("split", {}),
        "metrics": meta.get("metrics", {}),
        "config_hash": meta.get("config_hash"),
        "calibration": {k: v for k, v in bundle.calibrator.to_dict().items() if k in ("method", "n_samples", "cv_log_loss")},
    }
    run = {
        "created": manifest.get("created"),
        "model_path": (manifest.get("model") or {}).get("path"),
        "inputs": {k: dict(v) for k, v in (manifest.get("inputs") or {}).items()},
        "rejects_dir": manifest.get("rejects_dir"),
        "duration_seconds": manifest.get("duration_seconds"),
        "scores_rows": len(scores),
    }
    table_cols = [
        "customer_id",
        "risk_rank",
        "churn_probability",
        "risk_tier",
        "lifecycle_stage",
        "plan",
        "primary_cause",
        "cause_share",
        "reason_1",
        "reason_2",
        "reason_3",
        "recommended_action",
        "price_share",
        "service_share",
        "other_share",
    ]
    table = pages.reindex(columns=table_cols).reset_index(drop=True)
    return ReportInputs(
        as_of=str(t.date()),
        model_version=str(scores["model_version"].iloc[0]) if "model_version" in scores else bundle.version,
        horizon_days=int(model["horizon_days"]),
        tiers=tiers,
        population=population,
        risk_histogram=_histogram(p, scores["flagged"].to_numpy(dtype=bool)),
        flagged_mix=_flagged_mix(flagged),
        flagged_table=table,
        explanations=page_expl,
        global_drivers=global_drivers,
        cause_drivers=cause_drivers,
        segments=segments,
        segment_families=segment_families,
        segment_drivers=segment_drivers,
        profile=profile,
        profile_rates=profile_rates,
        profile_info=profile_info,
        model=model,
        run=run,
        notes=tuple(notes),
    )


# ----------------------------------------------------------------------------------------------- helpers


def _sample(ids: pd.Index, n: int, rng: np.random.Generator) -> pd.Index:
    """Up to ``n`` ids, chosen reproducibly, in their original order."""
    if len(ids) <= n:
        return pd.Index(ids)
    pick = np.sort(rng.choice(len(ids), size=n, replace=False))
    return pd.Index(ids[pick])


def _histogram(p: np.ndarray, flagged: np.ndarray, bins: int = 40) -> pd.DataFrame:
    top = max(float(p.max()), 1e-6) if len(p) else 1.0
    edges = np.linspace(0.0, top * 1.0001, bins + 1)
    all_counts, _ = np.histogram(p, edges)
    flagged_counts, _ = np.histogram(p[flagged], edges)
    return pd.DataFrame({"lo": edges[:-1], "hi": edges[1:], "customers": all_counts, "flagged": flagged_counts})


def _flagged_mix(flagged: pd.DataFrame) -> pd.DataFrame:
    cols = ["primary_cause", "lifecycle_stage", "recommended_action"]
    if flagged.empty:
        return pd.DataFrame(columns=[*cols, "customers", "mean_probability"])
    mix = (
        flagged.groupby(cols, sort=True, observed=True)["churn_probability"]
        .agg(customers="size", mean_probability="mean")
        .reset_index()
    )
    return mix.sort_values(["customers", *cols], ascending=[False, True, True, True], kind="stable").reset_index(drop=True)


def _driver_table(contrib: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Mean |contribution|, mean push up and down per feature: the global SHAP summary."""
    if contrib.empty:
        return pd.DataFrame(columns=["feature", "label", "family", "mean_abs", "mean_up", "mean_down", "share_up"])
    c = contrib["contribution"].to_numpy(dtype=float)
    frame = contrib.assign(abs=np.abs(c), up=np.clip(c, 0, None), down=np.clip(c, None, 0), is_up=c > 0)
    out = (
        frame.groupby(["feature", "family"], sort=True)
        .agg(mean_abs=("abs", "mean"), mean_up=("up", "mean"), mean_down=("down", "mean"), share_up=("is_up", "mean"))
        .reset_index()
    )
    out.insert(1, "label", out["feature"].map(labels).fillna(out["feature"]))
    return out.sort_values(["mean_abs", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)


def _cause_drivers(contrib: pd.DataFrame, flagged: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Per primary cause of the flagged: which features push their risk up most (mean positive contribution)."""
    cols = ["primary_cause", "feature", "label", "family", "mean_up", "customers"]
    if contrib.empty:
        return pd.DataFrame(columns=cols)
    cause = flagged.set_index("customer_id")["primary_cause"]
    frame = contrib.assign(primary_cause=contrib["customer_id"].map(cause).to_numpy(), up=contrib["contribution"].clip(lower=0))
    counts = frame.groupby("primary_cause")["customer_id"].nunique()
    out = frame.groupby(["primary_cause", "feature", "family"], sort=True)["up"].mean().rename("mean_up").reset_index()
    out["customers"] = out["primary_cause"].map(counts).astype(int)
    out["label"] = out["feature"].map(labels).fillna(out["feature"])
    out = out.sort_values(["primary_cause", "mean_up", "feature"], ascending=[True, False, True], kind="stable")
    return out[cols].reset_index(drop=True)


def _top_segments(values: pd.Series, limit: int = MAX_SEGMENTS) -> pd.Series:
    """Values with the largest ``limit - 1`` segments kept and the rest merged as ``other (N)``."""
    counts = values.value_counts(sort=False)
    if len(counts) <= limit:
        return values
    keep = counts.sort_values(ascending=False, kind="stable").index[: limit - 1]
    rest = len(counts) - len(keep)
    return values.where(values.isin(keep), f"other ({rest})")


def _segments(scores: pd.DataFrame) -> pd.DataFrame:
    """Risk by lifecycle stage and by plan over the whole scored population."""
    frames = []
    for dim in ("lifecycle_stage", "plan"):
        s = scores.assign(
            segment=_top_segments(scores[dim].astype(str)),
            high=scores["risk_tier"].eq("high"),
            medium=scores["risk_tier"].eq("medium"),
            **{f"flagged_{c}": scores["flagged"] & scores["primary_cause"].eq(c) for c in CAUSES},
        )
        g = s.groupby("segment", sort=True).agg(
            customers=("customer_id", "size"),
            mean_probability=("churn_probability", "mean"),
            expected_leavers=("churn_probability", "sum"),
            high=("high", "sum"),
            medium=("medium", "sum"),
            flagged=("flagged", "sum"),
            **{f"flagged_{c}": (f"flagged_{c}", "sum") for c in CAUSES},
        )
        g.insert(0, "dimension", dim)
        g["flagged_share"] = g["flagged"] / g["customers"]
        if dim == "lifecycle_stage":
            order = [x for x in STAGES if x in g.index] + sorted(x for x in g.index if x not in STAGES)
            g = g.loc[order]
        frames.append(g.reset_index())
    out = pd.concat(frames, ignore_index=True)
    for c in ("customers", "high", "medium", "flagged", *(f"flagged_{c}" for c in CAUSES)):
        out[c] = out[c].astype(int)
    return out


def _segment_drivers(
    contrib: pd.DataFrame, meta: pd.DataFrame, labels: Mapping[str, str], top: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per stage and plan, on the population sample: risk share by family and the top features pushing risk up."""
    fam_cols = ["dimension", "segment", "sample", *CAUSES]
    drv_cols = ["dimension", "segment", "rank", "feature", "label", "family", "mean_up"]
    if contrib.empty:
        return pd.DataFrame(columns=fam_cols), pd.DataFrame(columns=drv_cols)
    up = contrib.assign(up=contrib["contribution"].clip(lower=0))
    families, drivers = [], []
    for dim in ("lifecycle_stage", "plan"):
        seg = _top_segments(meta[dim].astype(str))
        frame = up.assign(segment=up["customer_id"].map(seg).to_numpy())
        n = frame.groupby("segment")["customer_id"].nunique()
        fam = frame.pivot_table(index="segment", columns="family", values="up", aggfunc="sum", fill_value=0.0)
        fam = fam.reindex(columns=list(CAUSES), fill_value=0.0)
        total = fam.sum(axis=1).replace(0, np.nan)
        fam = fam.div(total, axis=0).fillna(0.0)
        fam.insert(0, "sample", n.reindex(fam.index).astype(int))
        fam.insert(0, "dimension", dim)
        families.append(fam.reset_index())
        feat = frame.groupby(["segment", "feature", "family"], sort=True)["up"].mean().rename("mean_up").reset_index()
        feat = feat.sort_values(["segment", "mean_up", "feature"], ascending=[True, False, True], kind="stable")
        feat = feat.groupby("segment", sort=True).head(top).copy()
        feat["rank"] = feat.groupby("segment").cumcount() + 1
        feat["dimension"] = dim
        feat["label"] = feat["feature"].map(labels).fillna(feat["feature"])
        drivers.append(feat[drv_cols])
    fam_out = pd.concat(families, ignore_index=True)
    fam_out.columns.name = None
    stage_order = {s: i for i, s in enumerate(STAGES)}
    fam_out = fam_out.assign(
        _o=[stage_order.get(s, 99) if d == "lifecycle_stage" else 0 for d, s in zip(fam_out["dimension"], fam_out["segment"])]
    )
    fam_out = fam_out.sort_values(["dimension", "_o", "segment"], kind="stable").drop(columns="_o").reset_index(drop=True)
    return fam_out[fam_cols], pd.concat(drivers, ignore_index=True).reset_index(drop=True)


def _profile(
    known: Dataset,
    t: pd.Timestamp,
    config: ChurnConfig,
    registry: Mapping[str, FeatureSpec],
    labels: Mapping[str, str],
    sample: int,
    snapshots: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Leavers (label 1) against stayers (label 0) in the training snapshots of a customer sample."""
    prof_cols = ["feature", "label", "family", "kind", "leavers", "stayers", "leavers_text", "stayers_text", "effect"]
    rate_cols = ["dimension", "segment", "rows", "leavers", "churn_rate"]
    ids = _sample(known.customer_ids, sample, rng)
    cfg = config.model_copy(
        update={
            "snapshots": config.snapshots.model_copy(
                update={"max_snapshots": max(1, min(snapshots, config.snapshots.max_snapshots))}
            )
        }
    )
    contexts: dict[pd.Timestamp, Any] = {}

    def whole_population(_part: Dataset, day: pd.Timestamp, c: ChurnConfig):
        # Incident sizes and new-customer prices are facts about everyone, not about the sample.
        if day not in contexts:
            contexts[day] = population_context(known, day, c)
        return contexts[day]

    snaps = training_snapshots(known.for_customers(ids), t, cfg, context_fn=whole_population)
    info = {
        "customers": int(snaps["customer_id"].nunique()) if len(snaps) else 0,
        "customers_sampled": len(ids),
        "customers_total": len(known.customer_ids),
        "rows": len(snaps),
        "leavers": int(snaps["label"].sum()) if len(snaps) else 0,
        "snapshots": sorted(str(d.date()) for d in pd.to_datetime(snaps["snapshot_date"].unique())) if len(snaps) else [],
        "base_rate": float(snaps["label"].mean()) if len(snaps) else float("nan"),
        "horizon_days": config.labels.horizon_days,
    }
    if snaps.empty or snaps["label"].nunique() < 2:
        return pd.DataFrame(columns=prof_cols), pd.DataFrame(columns=rate_cols), info
    y = snaps["label"].to_numpy(dtype=int) == 1
    rows = []
    categorical = []
    for col in snaps.columns:
        if col in META_COLUMNS:
            continue
        values = snaps[col]
        if not pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            categorical.append(col)
            continue
        v = values.to_numpy(dtype=float)
        a, b = v[y], v[~y]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        if len(a) < 2 or len(b) < 2:
            continue
        m1, m0 = float(a.mean()), float(b.mean())
        sd = float(np.sqrt((a.var() + b.var()) / 2))
        effect = (m1 - m0) / sd if sd > 0 else 0.0
        spec = registry.get(col)
        rows.append(
            {
                "feature": col,
                "label": labels.get(col, feature_label(spec, col)),
                "family": spec.family.value if spec else "other",
                "kind": spec.kind if spec else "number",
                "leavers": m1,
                "stayers": m0,
                "leavers_text": format_feature_value(spec, m1),
                "stayers_text": format_feature_value(spec, m0),
                "effect": float(effect),
            }
        )
    profile = pd.DataFrame(rows, columns=prof_cols)
    profile = profile.assign(_abs=profile["effect"].abs()).sort_values(
        ["_abs", "feature"], ascending=[False, True], kind="stable"
    )
    profile = profile.drop(columns="_abs").reset_index(drop=True)
    rates = []
    for col in ["lifecycle_stage", *categorical]:
        seg = _top_segments(snaps[col].astype(object).fillna("unknown").astype(str))
        g = (
            pd.DataFrame({"segment": seg.to_numpy(), "label": y})
            .groupby("segment", sort=True)["label"]
            .agg(rows="size", leavers="sum")
        )
        g["churn_rate"] = g["leavers"] / g["rows"]
        g.insert(0, "dimension", col)
        rates.append(g.reset_index())
    profile_rates = pd.concat(rates, ignore_index=True)[rate_cols]
    profile_rates["rows"] = profile_rates["rows"].astype(int)
    profile_rates["leavers"] = profile_rates["leavers"].astype(int)
    return profile, profile_rates, info
