"""Everything the analysts' report shows, computed once from a scoring run: :class:`ReportInputs`.

The report is a view over what the runs stored. The work is bounded whatever the population: the scores file is
aggregated in vectorised passes; full explanations are computed for at most ``max_customer_pages`` flagged
customers (by rank) plus fixed-size samples for the driver views, from the feature vectors the run kept in its
history (:class:`StoredRuns`); the leavers-vs-stayers profile is the one ``train`` measured and kept in the model
bundle; the monitoring section reads the kept runs' records. Only a run without a history, or a bundle without a
profile, has its features or training snapshots rebuilt from the data (and the report says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import ChurnConfig
from churnml.dataset import Dataset, as_timestamp
from churnml.explain import Explanations, explain_customers, explain_features
from churnml.features import FeatureSpec, feature_registry, population_context
from churnml.labels import training_snapshots
from churnml.lifecycle import current_periods
from churnml.modeling.bundle import ModelBundle
from churnml.modeling.profile import leavers_profile, top_segments
from churnml.monitoring import Outcomes
from churnml.report.labels import feature_label, format_feature_value

CAUSES = ("price", "service", "other")
STAGES = ("new", "established", "won_back")
NEWLY_SHOWN = 50  # newly flagged customers listed in the monitoring section (all are in the flagged CSV)


@dataclass(frozen=True)
class StoredRuns:
    """What the scores file's runs kept (:mod:`churnml.io` reads it): ``runs``, each kept run's record
    (``run.json``) up to tonight's, oldest first; ``vectors(ids)``, tonight's feature vectors as scored (None when
    the run kept none); ``previous_flags``, the previous run's ``flagged`` per customer id; ``backtest``, the kept
    runs joined with their outcomes (:func:`churnml.modeling.backtest.realised_performance`); ``newest``, the
    latest date the data records."""

    runs: Sequence[Mapping[str, Any]] = ()
    vectors: Callable[[Sequence[str]], pd.DataFrame] | None = None
    previous_flags: pd.Series | None = None
    backtest: pd.DataFrame | None = None
    newest: str | None = None
    outcomes: Outcomes | None = None  # what the remedies did in the matured runs, when the CRM recorded remedies


@dataclass(frozen=True)
class MonitoringInputs:
    """The monitoring section's data: ``runs`` (one row per kept run: ``as_of``, ``model_version``, ``active``,
    ``mean_probability``, ``expected_leavers``, ``expected_roc_auc``, ``flagged``, ``price``, ``service``,
    ``other``, ``newly_flagged``, ``drifted``), ``drift`` (tonight's drift table with ``label``), ``feeds``,
    ``backtest``, ``newly`` (the highest-risk newly flagged customers with their change) and ``summary``
    (alerts, previous run, expected figures, thresholds)."""

    runs: pd.DataFrame
    drift: pd.DataFrame
    feeds: list[dict[str, Any]]
    backtest: pd.DataFrame
    newly: pd.DataFrame | None
    newly_total: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class ReportInputs:
    """The data behind every section of the report; :func:`churnml.report.render_report` only presents it.

    Frames (all plain pandas, deterministic for the same run):

    - ``risk_histogram``: ``lo``, ``hi``, ``customers``, ``flagged`` per probability bin of the population;
    - ``flagged_mix``: ``primary_cause``, ``lifecycle_stage``, ``recommended_action``, ``customers``,
      ``mean_probability`` over every flagged customer;
    - ``flagged_table``: the flagged customers the report's table lists (top ``max_table_rows`` by rank), with the
      scores-file columns and ``plan``; the first ``pages`` of them get a page of their own;
    - ``flagged_csv``: every flagged customer's scores-file row and ``plan``, for the CSV download;
    - ``explanations``: full explanations of the customers with a page;
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
    monitoring: MonitoringInputs | None = None
    remedies: Outcomes | None = None  # the "Do the remedies work?" section
    config_monitoring: dict[str, Any] = field(default_factory=dict)  # the monitoring settings the figures used
    flagged_csv: pd.DataFrame | None = None
    pages: int = 0
    registry: Mapping[str, FeatureSpec] = field(default_factory=dict)  # to tell a harmful value from a healthy one
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
    stored: StoredRuns | None = None,
    max_customer_pages: int = 300,
    max_table_rows: int = 5_000,
    profile_sample: int = 50_000,
    driver_sample: int = 3_000,
    flagged_sample: int = 2_000,
    profile_snapshots: int = 6,
    seed: int = 0,
) -> ReportInputs:
    """Compute the report's data from a scores frame (:func:`churnml.io.read_scores`) and its run.

    ``dataset`` is the scored dataset (plans and, where nothing was stored, features), ``bundle`` the model that
    scored it, ``config`` its configuration and ``stored`` what its runs kept. Explanations cover the top
    ``max_customer_pages`` flagged customers, ``driver_sample`` random active customers and ``flagged_sample``
    random flagged ones; the table lists the top ``max_table_rows`` flagged customers (the CSV all of them).
    """
    if scores.empty:
        raise ValueError("the scores file has no rows; nothing to report")
    stored = stored or StoredRuns()
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
    table_rows = flagged.head(max(len(pages), max_table_rows))
    if len(flagged) > len(table_rows):
        notes.append(
            f"The table lists the {len(table_rows):,} highest-risk of {len(flagged):,} flagged customers and pages are "
            f"written for the {len(pages):,} highest; every flagged customer is in the CSV download and the scores file."
        )
    population_ids = _sample(active, driver_sample, rng)
    flagged_ids = _sample(pd.Index(flagged["customer_id"]), flagged_sample, rng)
    wanted = pd.Index(pages["customer_id"]).append(population_ids).append(flagged_ids).unique()
    explained = _explain(wanted, scores, known, t, bundle, config, registry, stored, notes)
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

    # --- leavers against stayers: what train measured, or (older bundles) rebuilt from a customer sample
    measured = bundle.meta.get("profile")
    if measured is None:
        notes.append("The model bundle predates the stored leavers-vs-stayers profile: it was rebuilt from a sample of the data; retrain to keep it in the bundle.")
        measured = _rebuilt_profile(known, t, config, profile_sample, profile_snapshots, rng)
    profile, profile_rates, profile_info = _profile_frames(measured, registry, labels, len(known.customer_ids), config)
    if profile_info["rows"] == 0:
        notes.append("No fully labelled training snapshot exists at this date: the leavers-vs-stayers profile is empty.")

    p = scores["churn_probability"].to_numpy(dtype=float)
    tiers = {"high": config.flagging.tiers.high, "medium": config.flagging.tiers.medium}
    policy = flag_policy(config.flagging, str(manifest.get("flagging_strategy", "risk")))
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
        "table_rows": len(table_rows),
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
    table = table_rows.reindex(columns=table_cols).reset_index(drop=True)
    extra = [c for c in ("previous_probability", "risk_change", "change_cause", "change_reason", "control_group") if c in scores]
    table = table.join(table_rows[extra].reset_index(drop=True)) if extra else table
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
        monitoring=_monitoring(scores, manifest, stored, registry, config),
        remedies=stored.outcomes,
        config_monitoring=config.monitoring.model_dump(),
        flagged_csv=flagged.reset_index(drop=True),
        pages=len(pages),
        registry=registry,
        notes=tuple(notes),
    )




# ----------------------------------------------------------------------------------------------- helpers


def flag_policy(flagging: Any, strategy: str = "risk") -> str:
    """Who the run flagged, in words: the risk rule, and with ``strategy`` uplift or value how it chose as many."""
    policy = (
        f"the top {flagging.top_fraction:.0%} of customers by risk"
        if flagging.top_fraction is not None
        else f"every customer with probability ≥ {flagging.probability_threshold:.0%}"
    )
    if strategy == "risk":
        return policy
    return f"as many as {policy} holds, chosen by {'expected uplift' if strategy == 'uplift' else 'expected value'}"


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


def _segments(scores: pd.DataFrame) -> pd.DataFrame:
    """Risk by lifecycle stage and by plan over the whole scored population."""
    frames = []
    for dim in ("lifecycle_stage", "plan"):
        s = scores.assign(
            segment=top_segments(scores[dim].astype(str)),
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
        seg = top_segments(meta[dim].astype(str))
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


def _rebuilt_profile(
    known: Dataset, t: pd.Timestamp, config: ChurnConfig, sample: int, snapshots: int, rng: np.random.Generator
) -> dict[str, Any]:
    """:func:`leavers_profile` of training snapshots rebuilt for a customer sample (a bundle that kept none)."""
    ids = _sample(known.customer_ids, sample, rng)
    cfg = config.model_copy(
        update={"snapshots": config.snapshots.model_copy(update={"max_snapshots": max(1, min(snapshots, config.snapshots.max_snapshots))})}
    )
    contexts: dict[pd.Timestamp, Any] = {}

    def whole_population(_part: Dataset, day: pd.Timestamp, c: ChurnConfig):
        # Incident sizes and new-customer prices are facts about everyone, not about the sample.
        if day not in contexts:
            contexts[day] = population_context(known, day, c)
        return contexts[day]

    snaps = training_snapshots(known.for_customers(ids), t, cfg, context_fn=whole_population)
    registry = feature_registry(config, dict(known.customers.drop(columns="customer_id").dtypes))
    return leavers_profile(snaps, {n: s.family.value for n, s in registry.items()}, latest=snapshots)


def _profile_frames(
    measured: Mapping[str, Any], registry: Mapping[str, FeatureSpec], labels: Mapping[str, str], customers_total: int,
    config: ChurnConfig,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The stored profile as the report's frames, worded with the registry."""
    prof_cols = ["feature", "label", "family", "kind", "leavers", "stayers", "leavers_text", "stayers_text", "effect"]
    rate_cols = ["dimension", "segment", "rows", "leavers", "churn_rate"]
    raw = dict(measured.get("info") or {})
    base = raw.get("base_rate")
    customers = int(raw.get("customers") or 0)
    info: dict[str, Any] = {
        "customers": customers,
        "customers_sampled": min(customers, customers_total),
        "customers_total": customers_total,
        "rows": int(raw.get("rows") or 0),
        "leavers": int(raw.get("leavers") or 0),
        "snapshots": list(raw.get("snapshots") or []),
        "base_rate": float(base) if base is not None else float("nan"),
        "horizon_days": config.labels.horizon_days,
    }
    rows = []
    for r in measured.get("features") or []:
        spec = registry.get(r["feature"])
        rows.append({
            "feature": r["feature"], "label": labels.get(r["feature"], feature_label(spec, r["feature"])),
            "family": spec.family.value if spec else r.get("family", "other"), "kind": spec.kind if spec else "number",
            "leavers": float(r["leavers"]), "stayers": float(r["stayers"]),
            "leavers_text": format_feature_value(spec, float(r["leavers"])),
            "stayers_text": format_feature_value(spec, float(r["stayers"])), "effect": float(r["effect"]),
        })
    rates = pd.DataFrame(list(measured.get("rates") or []), columns=rate_cols)
    rates["rows"] = rates["rows"].astype(int)
    rates["leavers"] = rates["leavers"].astype(int)
    return pd.DataFrame(rows, columns=prof_cols), rates, info


def _explain(
    wanted: pd.Index, scores: pd.DataFrame, known: Dataset, t: pd.Timestamp, bundle: ModelBundle, config: ChurnConfig,
    registry: Mapping[str, FeatureSpec], stored: StoredRuns, notes: list[str],
) -> Explanations:
    """Explanations of ``wanted`` from the vectors the run kept, or (a run without a history) from rebuilt features."""
    if stored.vectors is not None:
        vectors = stored.vectors(list(wanted))
        if len(vectors) == len(wanted):
            vectors = vectors.reindex(wanted)
            stage = scores.set_index("customer_id")["lifecycle_stage"].reindex(vectors.index).to_numpy()
            return explain_features(vectors, stage, bundle, registry, config)
        notes.append(f"The run's history lacks {len(wanted) - len(vectors):,} of the explained customers' feature vectors: they were rebuilt from the data.")
    return explain_customers(known, t, bundle, config, wanted, context=population_context(known, t, config))


def _monitoring(
    scores: pd.DataFrame, manifest: Mapping[str, Any], stored: StoredRuns, registry: Mapping[str, FeatureSpec], config: ChurnConfig
) -> MonitoringInputs:
    """Trends over the kept runs, tonight's drift and feeds, realised performance and the newly flagged."""
    watch = dict(manifest.get("monitoring") or {})
    runs = pd.DataFrame(
        [
            {
                "as_of": str(r.get("as_of")),
                "model_version": r.get("model_version"),
                "active": (r.get("counts") or {}).get("active_customers", np.nan),
                "mean_probability": (r.get("expected") or {}).get("expected_churn_rate", np.nan),
                "expected_leavers": (r.get("expected") or {}).get("expected_churners", np.nan),
                "expected_roc_auc": (r.get("expected") or {}).get("expected_roc_auc", np.nan),
                "flagged": (r.get("counts") or {}).get("flagged", np.nan),
                **{c: ((r.get("counts") or {}).get("flagged_by_cause") or {}).get(c, 0) for c in CAUSES},
                "newly_flagged": (r.get("transitions") or {}).get("newly_flagged", np.nan),
                "drifted": len(r.get("drifted_features") or []) if r.get("drift") is not None else np.nan,
            }
            for r in stored.runs
        ],
        columns=["as_of", "model_version", "active", "mean_probability", "expected_leavers", "expected_roc_auc", "flagged",
                 *CAUSES, "newly_flagged", "drifted"],
    )
    drift = pd.DataFrame(watch.get("drift") or [], columns=["feature", "family", "psi", "status", "psi_since_previous",
                                                             "missing_share_reference", "missing_share_now", "usual_move", "moved"])
    drift.insert(1, "label", [("predicted probability" if f == "churn_probability" else feature_label(registry.get(f), f)) for f in drift["feature"]])
    order = drift["status"].map({"drifted": 0, "moving": 1}).fillna(2)
    drift = drift.assign(_o=order).sort_values(["_o", "psi"], ascending=[True, False], kind="stable").drop(columns="_o").reset_index(drop=True)
    newly, total = None, 0
    if stored.previous_flags is not None:
        was = scores["customer_id"].map(stored.previous_flags).fillna(False).to_numpy(dtype=bool)
        mine = scores[scores["flagged"].to_numpy(dtype=bool) & ~was]
        total = len(mine)
        keep = ["customer_id", "risk_rank", "churn_probability", "previous_probability", "risk_change", "change_cause", "change_reason"]
        newly = mine.reindex(columns=keep).head(NEWLY_SHOWN).reset_index(drop=True)
    summary = {
        "alerts": list(watch.get("alerts") or []),
        "previous_as_of": watch.get("previous_as_of"),
        "expected": dict(watch.get("expected") or {}),
        "transitions": dict(watch.get("transitions") or {}),
        "drift_note": watch.get("drift_note"),
        "psi_watch": config.monitoring.psi_watch,
        "psi_drift": config.monitoring.psi_drift,
        "newest": stored.newest,
    }
    backtest = stored.backtest if stored.backtest is not None else pd.DataFrame()
    return MonitoringInputs(runs, drift, list(watch.get("feeds") or []), backtest, newly, total, summary)
