"""The analysts' report as files: ``render_report(inputs, evaluation_pngs) -> {relative path: bytes}``.

Pure: no file is read or written here; the caller writes the mapping (atomically). Pages are Jinja2 templates
(``templates/``) rendered with autoescaping, so every text that comes from the data (customer ids, plans, attribute
values, reasons) is HTML-escaped by the engine, not by hand. This module only shapes :class:`ReportInputs` into
what the templates show. Customer pages are named by :func:`churnml.report.names.customer_page_path`, and nothing
refers to anything outside the report folder, so the report works offline, from a file share or an e-mail
attachment unpacked anywhere.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2
import pandas as pd

from churnml._version import __version__
from churnml.features import FeatureSpec
from churnml.io import neutralise_formulas
from churnml.report import charts
from churnml.report.gather import CAUSES, MonitoringInputs, ReportInputs
from churnml.report.labels import (
    CAUSE_MEANING,
    action_meaning,
    action_name,
    cause_name,
    format_number,
    stage_name,
)
from churnml.report.names import customer_chart_path, customer_page_path
from churnml.report.waterfall import waterfall_png

SECTIONS = (
    ("overview", "Overview"),
    ("monitoring", "Monitoring"),
    ("drivers", "Drivers"),
    ("segments", "Segments"),
    ("customers", "Flagged customers"),
    ("model", "Model card"),
)
WINBACK_SECTION = ("winback", "Win-back")  # shown before the model card when the report is given a win-back list
REMEDIES_SECTION = ("remedies", "Do the remedies work?")  # shown after monitoring when the CRM recorded remedies
FLAGGED_CSV = "flagged.csv"  # every flagged customer, for the table's download link
PAGE_SIZE = 50  # rows of the flagged table shown at once
EVALUATION_ORDER = ("reliability", "roc", "precision_recall", "lift", "importance", "shap_summary")
EVALUATION_CAPTIONS = {
    "reliability": "Reliability: predicted probability against the churn rate observed on the validation snapshot. "
    "Points on the diagonal mean a 10% score really means 1 in 10 leave.",
    "roc": "ROC curve: churners caught against stayers wrongly flagged, for the model and its baselines.",
    "precision_recall": "Precision and recall: how pure the flagged list is as it grows.",
    "lift": "Cumulative gains: share of churners reached when contacting the riskiest customers first.",
    "importance": "Feature importance (total gain in the booster), coloured by cause family.",
    "shap_summary": "Each dot is a validation customer: how far each feature moved their risk (right = more risk); "
    "red dots have high values of the feature.",
}
METRICS = (
    ("roc_auc", "ROC-AUC", "ranking: the chance a leaver is scored above a stayer (0.5 random, 1 perfect)", True),
    ("pr_auc", "PR-AUC", "precision averaged over recall; compare with the churn base rate", True),
    ("top_decile_lift", "Top-decile lift", "churn rate among the riskiest 10% divided by the overall churn rate", True),
    ("recall_at_capacity", "Recall at capacity", "share of all leavers inside the flagged capacity", True),
    ("brier", "Brier score", "mean squared error of the probabilities", False),
    ("ece", "Calibration error (ECE)", "average gap between predicted and observed churn rates", False),
    ("log_loss", "Log loss", "penalises confident wrong probabilities", False),
    ("base_rate", "Base rate", "share of validation customers who left within the horizon", None),
    ("rows", "Validation rows", "customers in the validation snapshot(s)", None),
)
BASELINES = (
    ("model", "Model"),
    ("logistic", "Logistic baseline"),
    ("rule", "One-feature rule"),
    ("oracle", "Oracle (true hazard)"),
)


# ------------------------------------------------------------------------------------------------- filters


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value) or (isinstance(value, float) and math.isnan(value)) or (not isinstance(value, str) and pd.isna(value))


def pct(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "—"
    return f"{float(value):.{digits}%}"


def num(value: Any) -> str:
    if _missing(value):
        return "—"
    v = float(value)
    return f"{round(v):,}" if v.is_integer() or abs(v) >= 1000 else format_number(v)


def _decimals(digits: int):
    return lambda value: "—" if _missing(value) else f"{float(value):.{digits}f}"


def _points(value: Any) -> str:
    """A change of probability in percentage points: ``+12.3 pts``."""
    return "—" if _missing(value) else f"{float(value) * 100:+.1f} pts"


def _signed_pct(value: Any) -> str:
    return "—" if _missing(value) else f"{float(value):+.0%}"


def _int(value: Any) -> str:
    return "—" if _missing(value) else f"{int(value):,}"


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("churnml.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        pct=pct, num=num, fnum=format_number, int_=_int, dec2=_decimals(2), dec3=_decimals(3), points=_points,
        signed_pct=_signed_pct, cause_name=cause_name, stage_name=stage_name, action_name=action_name,
        action_meaning=action_meaning,
    )
    env.globals.update(causes=CAUSES, version=__version__, captions=EVALUATION_CAPTIONS)
    return env


def _render(template: str, **context: Any) -> bytes:
    return _environment().get_template(template).render(**context).encode("utf-8")


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Rows as dicts with missing values as None (templates test ``is none``, never NaN)."""
    if frame is None or frame.empty:
        return []
    return [{k: (None if _missing(v) else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _evaluation_name(key: str) -> str:
    stem = key[:-4] if key.lower().endswith(".png") else key
    return re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-") or "figure"


# ---------------------------------------------------------------------------------------------------- entry


def render_report(inputs: ReportInputs, evaluation_pngs: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """Every file of the report, by path relative to the report folder: ``index.html``, ``flagged.csv``, one page
    per flagged customer with a page in ``customers/``, and the pictures in ``assets/``. The same inputs give the
    same bytes."""
    files: dict[str, bytes] = {}
    monitoring = inputs.monitoring
    pictures = {
        "risk_distribution": charts.risk_histogram(inputs.risk_histogram, inputs.tiers),
        "flagged_by_stage": charts.flagged_by_stage(inputs.flagged_mix),
        "flagged_by_action": charts.flagged_by_action(inputs.flagged_mix),
        "drivers": charts.global_drivers(inputs.global_drivers),
        "drivers_by_cause": charts.cause_drivers(inputs.cause_drivers),
        "segment_risk": charts.segment_risk(inputs.segments),
        "segment_families": charts.segment_families(inputs.segment_families),
        "profile_rates": charts.profile_rates(
            inputs.profile_rates, inputs.profile_info.get("base_rate", float("nan")), inputs.horizon_days
        ),
        "profile": charts.profile_differences(inputs.profile),
        "monitoring_trends": charts.run_trends(monitoring.runs if monitoring is not None else pd.DataFrame()),
    }
    if monitoring is not None and len(monitoring.runs):
        if len(monitoring.drift):
            pictures["monitoring_drift"] = charts.drift_bars(monitoring.drift)
        if len(monitoring.backtest) and monitoring.backtest["matured"].astype(bool).any():
            pictures["monitoring_realised"] = charts.realised_performance(monitoring.backtest)
    if inputs.remedies is not None:
        pictures["remedies"] = charts.remedies(inputs.remedies.by_action, inputs.remedies.matched)
    if inputs.winback is not None:
        gate = (inputs.winback_run.get("value_rule") or {}).get("min_expected_value", 0.0)
        pictures["winback_values"] = charts.winback_values(inputs.winback, float(gate or 0.0))
    for name, png in pictures.items():
        files[f"assets/{name}.png"] = png
    evaluation: dict[str, str] = {}
    for key in sorted(
        evaluation_pngs or {},
        key=lambda k: (EVALUATION_ORDER.index(_evaluation_name(k)) if _evaluation_name(k) in EVALUATION_ORDER else 99, k),
    ):
        name = _evaluation_name(key)
        path = f"assets/model-{name}.png"
        if path not in files:
            files[path] = bytes((evaluation_pngs or {})[key])
            evaluation[name] = path

    files.update(_customer_pages(inputs))
    files[FLAGGED_CSV] = _flagged_csv(inputs)
    sections = list(SECTIONS)
    if inputs.remedies is not None:
        sections.insert(2, REMEDIES_SECTION)
    if inputs.winback is not None:
        sections.insert(len(sections) - 1, WINBACK_SECTION)
    files["index.html"] = _render(
        "index.html.j2",
        r=inputs,
        sections=sections,
        script=True,
        evaluation=evaluation,
        overview=_overview(inputs),
        monitoring=_monitoring(inputs),
        drivers=_drivers(inputs),
        segments=_segments(inputs),
        profile=_profile(inputs),
        table=_table(inputs),
        winback=_winback(inputs),
        remedies=_remedies(inputs),
        model=_model(inputs, evaluation),
    )
    return dict(sorted(files.items()))


def _flagged_csv(inputs: ReportInputs) -> bytes:
    """Every flagged customer as CSV (the scores file's columns and plan), text made formula-safe."""
    frame = inputs.flagged_csv if inputs.flagged_csv is not None else inputs.flagged_table
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = neutralise_formulas(out[column].astype(object).where(out[column].notna(), "").astype(str))
    return out.to_csv(index=False, lineterminator="\n", float_format="%.6g").encode("utf-8")


# ---------------------------------------------------------------------------------------------------- index


def _overview(inputs: ReportInputs) -> dict[str, Any]:
    pop = inputs.population
    active, flagged = pop["active_customers"], pop["flagged"]
    tiers = pop["by_tier"]
    cards = [
        ("Active customers", f"{active:,}", f"scored on {inputs.as_of}"),
        ("Flagged for action", f"{flagged:,}", f"{(flagged / active if active else 0.0):.1%}: {pop['flag_policy']}"),
        (f"Expected leavers ({inputs.horizon_days} days)", f"{pop['expected_leavers']:,.0f}", f"mean risk {pct(pop['mean_probability'])}"),
        ("High risk", f"{tiers.get('high', 0):,}", f"probability ≥ {pct(inputs.tiers['high'], 0)}"),
        ("Medium risk", f"{tiers.get('medium', 0):,}", f"probability ≥ {pct(inputs.tiers['medium'], 0)}"),
    ]
    if pop.get("referral_candidates") is not None:
        cards.append(("Referral candidates", f"{pop['referral_candidates']:,}", "satisfied low-risk customers: ask for a referral"))
    mix = inputs.flagged_mix
    cross = None
    if len(mix):
        stages = [s for s in ("new", "established", "won_back") if s in set(mix["lifecycle_stage"])]
        stages += sorted(set(mix["lifecycle_stage"]) - set(stages))
        table = mix.pivot_table(index="primary_cause", columns="lifecycle_stage", values="customers", aggfunc="sum", fill_value=0)
        table = table.reindex(
            index=[c for c in CAUSES if c in table.index] + sorted(set(table.index) - set(CAUSES)), columns=stages, fill_value=0
        )
        cross = {
            "header": [("Cause", False), *((stage_name(s), True) for s in stages), ("All stages", True)],
            "rows": [{"cause": c, "counts": [int(table.loc[c, s]) for s in stages], "total": int(table.loc[c].sum())} for c in table.index],
            "totals": [int(table[s].sum()) for s in stages],
            "total": int(table.to_numpy().sum()),
        }
    return {
        "cards": cards,
        "share": flagged / active if active else 0.0,
        "causes": ", ".join(f"{pop['flagged_by_cause'].get(c, 0):,} {c}" for c in CAUSES),
        "cross": cross,
        "mix": _records(mix),
    }


def _monitoring(inputs: ReportInputs) -> dict[str, Any]:
    m: MonitoringInputs | None = inputs.monitoring
    if m is None or m.runs.empty:
        return {"runs": []}
    s = m.summary
    expected = s.get("expected") or {}
    moves = s.get("transitions") or {}
    cards = [
        ("Expected leavers", num(expected.get("expected_churners")), f"expected ROC-AUC {_decimals(3)(expected.get('expected_roc_auc'))}"),
        ("Expected precision of the flagged", pct(expected.get("expected_precision_flagged")), "share of the flagged expected to leave"),
    ]
    if moves:
        cards += [
            ("Newly flagged", f"{moves.get('newly_flagged', 0):,}", f"since {s.get('previous_as_of')}"),
            ("No longer flagged", f"{moves.get('no_longer_flagged', 0):,}", f"{moves.get('still_flagged', 0):,} still flagged"),
        ]
    backtest = m.backtest
    matured = backtest[backtest["matured"].astype(bool)] if len(backtest) else backtest
    waiting = backtest[~backtest["matured"].astype(bool)] if len(backtest) else backtest
    newly = None
    if m.newly is not None:
        pages = set(inputs.flagged_table["customer_id"].head(inputs.pages))
        newly = [
            {"rank": r["risk_rank"], "id": str(r["customer_id"]), "page": customer_page_path(str(r["customer_id"])) if r["customer_id"] in pages else None,
             "previous": r["previous_probability"], "probability": r["churn_probability"], "change": r["risk_change"],
             "cause": r["change_cause"] or "", "reason": r["change_reason"] or ""}
            for r in _records(m.newly)
        ]
    drift = _records(m.drift)
    for d in drift:
        d["moved"] = bool(d.get("moved"))
        d["watched"] = d["status"] in ("drifted", "moving") or d["moved"]
    return {
        "runs": _records(m.runs),
        "previous_as_of": s.get("previous_as_of"),
        "alerts": s.get("alerts") or [],
        "cards": cards,
        "drift": drift,
        "drifted_count": sum(d["status"] == "drifted" for d in drift),
        "moving_count": sum(d["status"] == "moving" for d in drift),
        "moved_count": sum(d["moved"] for d in drift),
        "drift_note": s.get("drift_note"),
        "psi_watch": s.get("psi_watch"),
        "psi_drift": s.get("psi_drift"),
        "feeds": m.feeds,
        "matured": _records(matured),
        "next_maturity": str(waiting["matures"].min()) if len(waiting) else None,
        "newest": s.get("newest"),
        "newly": newly,
        "newly_total": m.newly_total,
    }


def _remedies(inputs: ReportInputs) -> dict[str, Any] | None:
    x = inputs.remedies
    if x is None:
        return None
    o = x.overall
    cards = [
        ("Matured runs", f"{x.rows['run'].nunique():,}", "whose horizon and grace have passed"),
        ("Treated", _int(o.get("treated")), "flagged customers the CRM reached"),
        ("Control", _int(o.get("control")), "held out at random, untreated"),
        ("Uplift", _points(o.get("uplift")), f"{_points(o.get('uplift_low'))} to {_points(o.get('uplift_high'))} (95%)"),
        ("Customers saved", num(o.get("customers_saved")), "uplift x treated"),
    ]
    monitoring = inputs.config_monitoring or {}
    return {"cards": cards, "by_action": _records(x.by_action), "matched": _records(x.matched), "qini": x.qini,
            "reached": _records(x.on_treated), "uplift_ranking": x.uplift_ranking if x.uplift_ranking.get("customers") else None,
            "window": monitoring.get("treatment_window_days"), "washout": monitoring.get("treatment_washout_days")}


def _drivers(inputs: ReportInputs) -> dict[str, Any]:
    cd = inputs.cause_drivers
    groups = []
    for cause in CAUSES:
        d = cd[cd["primary_cause"] == cause].head(5) if len(cd) else cd
        if len(d):
            groups.append({"cause": cause, "customers": int(d["customers"].iloc[0]), "meaning": CAUSE_MEANING.get(cause, ""), "features": _records(d)})
    return {"top": _records(inputs.global_drivers.head(15)), "by_cause": groups}


def _segment_name(dimension: str, segment: str) -> tuple[str, str]:
    return ("Stage", stage_name(segment)) if dimension == "lifecycle_stage" else ("Plan", str(segment))


def _segments(inputs: ReportInputs) -> dict[str, Any]:
    rows = []
    for r in _records(inputs.segments):
        kind, name = _segment_name(r["dimension"], r["segment"])
        rows.append({**r, "kind": kind, "name": name})
    fam, drv = inputs.segment_families, inputs.segment_drivers
    families = []
    for r in _records(fam):
        d = drv[(drv["dimension"] == r["dimension"]) & (drv["segment"] == r["segment"])]
        kind, name = _segment_name(r["dimension"], r["segment"])
        families.append({"kind": kind, "name": name, "sample": r["sample"], "shares": {c: r[c] for c in CAUSES},
                         "tops": "; ".join(d["label"].astype(str))})
    return {"rows": rows, "families": families}


def _profile(inputs: ReportInputs) -> dict[str, Any]:
    info, prof, rates = inputs.profile_info, inputs.profile, inputs.profile_rates
    sampled, total = info.get("customers_sampled", 0), info.get("customers_total", 0)
    sample_text = f"a random sample of {sampled:,} of {total:,} customers" if 0 < sampled < total else f"{info.get('customers', total):,} customers"

    def bullet(r: Any, leavers_first: bool) -> dict[str, str]:
        me, them = ("leavers", "stayers") if leavers_first else ("stayers", "leavers")
        mine, theirs = (r.leavers_text, r.stayers_text) if leavers_first else (r.stayers_text, r.leavers_text)
        if r.kind == "flag":
            return {"main": f"{mine} of {me}: {r.label}", "other": f"against {theirs} of {them}", "family": r.family}
        return {"main": f"{r.label}: {mine}", "other": f"on average, against {theirs} for {them}", "family": r.family}

    lines = []
    stage_rates = rates[rates["dimension"] == "lifecycle_stage"].sort_values("churn_rate", ascending=False, kind="stable")
    plan_rates = rates[rates["dimension"] == "plan"].sort_values("churn_rate", ascending=False, kind="stable")
    if len(stage_rates) > 1:
        hi, lo = stage_rates.iloc[0], stage_rates.iloc[-1]
        lines.append(f"{stage_name(hi.segment)} customers left most often ({pct(hi.churn_rate)}), "
                     f"{stage_name(lo.segment).lower()} customers least ({pct(lo.churn_rate)}).")
    if len(plan_rates) > 1:
        hi, lo = plan_rates.iloc[0], plan_rates.iloc[-1]
        lines.append(f"On plan {hi.segment}, {pct(hi.churn_rate)} left; on plan {lo.segment}, {pct(lo.churn_rate)}.")
    ordered = pd.concat([rates[rates["dimension"].isin(["lifecycle_stage", "plan"])], rates[~rates["dimension"].isin(["lifecycle_stage", "plan"])]])
    return {
        "info": info,
        "sample_text": sample_text,
        "rows": _records(prof),
        "share": [bullet(r, True) for r in prof[prof["effect"] >= 0.05].head(7).itertuples(index=False)],
        "keep": [bullet(r, False) for r in prof[prof["effect"] <= -0.05].head(7).itertuples(index=False)],
        "segment_lines": lines,
        "rates": [
            {**r, "dimension": r["dimension"].replace("_", " "),
             "segment": stage_name(r["segment"]) if r["dimension"] == "lifecycle_stage" else r["segment"]}
            for r in _records(ordered)
        ],
    }


def _table(inputs: ReportInputs) -> dict[str, Any]:
    t = inputs.flagged_table
    changes = "change_reason" in t.columns and bool(t["change_reason"].fillna("").astype(str).ne("").any())
    columns = [("Rank", "number"), ("Customer", "text"), ("Probability", "number"), ("Tier", "text"), ("Stage", "text"),
               ("Plan", "text"), ("Cause", "text"), ("Cause share", "number"), ("Action", "text"), ("Main reason", "text")]
    if changes:
        columns += [("Since last run", "number")]  # why: on the customer's page and in the monitoring section
    rows = []
    for k, r in enumerate(_records(t)):
        cid = str(r["customer_id"])
        search = " ".join(str(r.get(x) or "") for x in ("customer_id", "plan", "reason_1", "reason_2", "reason_3", "primary_cause",
                                                       "recommended_action", "lifecycle_stage", "change_reason")).lower()
        rows.append({
            "rank": int(r["risk_rank"]), "id": cid, "page": customer_page_path(cid) if k < inputs.pages else None,
            "probability": float(r["churn_probability"]), "tier": str(r["risk_tier"]), "stage": str(r["lifecycle_stage"]),
            "plan": r["plan"], "cause": str(r["primary_cause"] or ""), "cause_share": r["cause_share"],
            "cause_share_value": r["cause_share"] or 0.0, "action": str(r["recommended_action"]), "reason": r["reason_1"] or "",
            "risk_change": r.get("risk_change"), "risk_change_value": r.get("risk_change") or 0.0,
            "change_reason": r.get("change_reason") or "", "search": search + (" control" if r.get("control_group") else ""),
            "control": bool(r.get("control_group")),
        })

    def options(column: str, namer) -> list[tuple[str, str]]:
        return [(v, namer(v)) for v in sorted({str(v) for v in t[column] if str(v)})] if len(t) else []

    return {
        "rows": rows, "columns": columns, "changes": changes, "pages": inputs.pages, "page_size": PAGE_SIZE, "csv": FLAGGED_CSV,
        "filters": [("cause", "Cause", options("primary_cause", cause_name)), ("stage", "Stage", options("lifecycle_stage", stage_name)),
                    ("action", "Action", options("recommended_action", action_name)), ("tier", "Tier", options("risk_tier", str))],
    }


def _winback(inputs: ReportInputs, top: int = 50) -> dict[str, Any] | None:
    """Churned customers worth winning back: how many, why they left, who passes the value gate, the list."""
    table = inputs.winback
    if table is None:
        return None
    acting = table["recommended_action"] != "none"

    def group(mine: pd.Series) -> dict[str, Any]:
        return {"listed": int(mine.sum()), "acting": int((mine & acting).sum()),
                "mean_return": float(table.loc[mine, "return_probability"].mean()) if mine.any() else None,
                "value": float(table.loc[mine & acting, "expected_value"].sum())}

    rows = _records(table.head(top))
    for r in rows:
        r["churn_date"] = str(r["churn_date"])[:10]
    return {
        "run": inputs.winback_run, "window": inputs.winback_run.get("window_days") or ["?", "?"],
        "causes": [{"cause": c, **group(table["cause_at_churn"] == c)} for c in CAUSES],
        "total": group(pd.Series(True, index=table.index)), "rows": rows,
    }


def _calibration_fact(cal: Mapping[str, Any]) -> str:
    losses = cal.get("cv_log_loss") or {}
    method = cal.get("method")
    if method == "identity":
        method = "none: the raw scores were the best calibrated" if losses else "none: too few tuning rows to fit one"
    text = f"{method or '—'}, from {int(cal.get('n_samples') or 0):,} tuning predictions"
    if losses:
        text += "; chosen by 5-fold log loss: " + ", ".join(f"{k} {float(v):.4f}" for k, v in losses.items())
    return text


def _model(inputs: ReportInputs, evaluation: Mapping[str, str]) -> dict[str, Any]:
    m = inputs.model
    split = m.get("split") or {}
    train, tune, valid = split.get("train_snapshots") or [], split.get("tune_snapshots") or [], split.get("validation_snapshots") or []
    window = f"{train[0]} to {valid[-1]}" if train and valid else "—"
    rows_info = split.get("rows") or {}
    shown = ", ".join(train[:1] + (["…"] if len(train) > 2 else []) + train[-1:]) if train else "—"
    facts = [
        ("Model version", m.get("version")),
        ("Trained", f"{m.get('created') or '—'} on data known at {m.get('trained_as_of') or '—'}"),
        ("Predicts", f"leaving within {m.get('horizon_days')} days (a return within {m.get('grace_days')} days is not churn)"),
        ("Training window", f"snapshots from {window}"),
        ("Split", f"{split.get('strategy', '—')}: {split.get('description', '—')}"),
        ("Snapshots", f"train {len(train)} ({shown}), tune {', '.join(tune) or '—'}, validate {', '.join(valid) or '—'}"),
        ("Rows", ", ".join(f"{k} {int(v):,}" for k, v in rows_info.items()) or "—"),
        ("Features", f"{m.get('features')} (LightGBM {m.get('lightgbm_version') or '?'}, {m.get('best_iteration')} trees)"),
        ("Calibration", _calibration_fact(m.get("calibration") or {})),
        ("Configuration hash", m.get("config_hash")),
    ]
    metrics = m.get("metrics") or {}
    present = [(k, name) for k, name in BASELINES if k in metrics]
    rows = []
    for key, name, meaning, higher in METRICS:
        if not any(key in metrics[k] for k, _ in present):
            continue
        values = []
        for k, _ in present:
            v = metrics[k].get(key)
            values.append(num(v) if key == "rows" else pct(v) if key in ("base_rate", "recall_at_capacity") else _decimals(3)(v))
        direction = "higher is better" if higher else ("lower is better" if higher is False else "")
        rows.append({"name": name, "cells": values, "meaning": f"{meaning}{'; ' + direction if direction else ''}"})
    baselines = [
        (label + (f" ({metrics['rule'].get('feature')})" if k == "rule" and metrics["rule"].get("feature") else ""), True)
        for k, label in present
    ]
    ratio = metrics.get("model_oracle_auc_ratio")
    return {
        "facts": facts, "metrics": rows, "baselines": baselines, "oracle": "oracle" in metrics,
        "oracle_ratio": float(ratio) if ratio is not None else None,
        "rest": [(k, evaluation[k]) for k in evaluation if k not in ("reliability", "shap_summary")],
    }


# ------------------------------------------------------------------------------------------------ customers


def _customer_pages(inputs: ReportInputs) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    expl = inputs.explanations
    grouped = {cid: frame for cid, frame in expl.contributions.groupby("customer_id", sort=False)} if len(expl.contributions) else {}
    total = inputs.population["active_customers"]
    for row in _records(inputs.flagged_table.head(inputs.pages)):
        cid = str(row["customer_id"])
        contrib = grouped.get(cid)
        chart = None
        if contrib is not None and len(contrib):
            chart = customer_chart_path(cid)
            files[chart] = waterfall_png(contrib, expl.base_log_odds)
        info = expl.summary.loc[cid] if cid in expl.summary.index else None
        files[customer_page_path(cid)] = _render("customer.html.j2", r=inputs, c=_customer(inputs, row, info, contrib, chart, total))
    return files


def _harmful(spec: FeatureSpec | None, value: Any) -> bool:
    """Whether a value lies on the harmful side of its feature's healthy range (context features never do)."""
    if spec is None or spec.context or _missing(value):
        return False
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    healthy = spec.neutral_range()
    return healthy is not None and not (healthy[0] <= v <= healthy[1])


def _customer(
    inputs: ReportInputs, row: Mapping[str, Any], info: pd.Series | None, contrib: pd.DataFrame | None, chart: str | None, total: int
) -> dict[str, Any]:
    cause = str(row["primary_cause"] or "")
    cards = [
        ("Churn probability", pct(row["churn_probability"]), f"of leaving within {inputs.horizon_days} days"),
        ("Risk rank", f"{int(row['risk_rank']):,}", f"of {total:,} active customers"),
        ("Risk tier", str(row["risk_tier"]), "flagged for action"),
        ("Lifecycle stage", stage_name(row["lifecycle_stage"]), ""),
        ("Plan", str(row["plan"]), ""),
    ]
    change = ""
    if row.get("change_reason"):
        change = (f"Risk {pct(row.get('previous_probability'))} → {pct(row['churn_probability'])} "
                  f"({_points(row.get('risk_change'))}), moved most by {row.get('change_cause')}: {row['change_reason']}.")
    factors = up = down = offset = []
    if contrib is not None and len(contrib):
        specs = inputs.registry or {}
        factors = _records(contrib)
        for f in factors:
            f["harmful"] = _harmful(specs.get(f["feature"]), f.get("value"))
        up = [f for f in factors if f["contribution"] > 0][:6]
        down = [f for f in factors if f["contribution"] < 0 and not f["harmful"]][:6]
        offset = [f for f in factors if f["contribution"] < -0.01 and f["harmful"]][:4]
    return {
        "id": str(row["customer_id"]), "cards": cards, "probability": row["churn_probability"], "rank": row["risk_rank"], "total": total,
        "cause": cause, "cause_share": row["cause_share"], "cause_meaning": CAUSE_MEANING.get(cause, ""),
        "shares": {c: row[f"{c}_share"] for c in CAUSES},
        "reasons": [str(r) for r in (row["reason_1"], row["reason_2"], row["reason_3"]) if isinstance(r, str) and r],
        "change": change, "action": str(row["recommended_action"]), "control": bool(row.get("control_group")),
        "why": str(info["action_reason"]) if info is not None and "action_reason" in info and not _missing(info["action_reason"]) else "",
        "chart": chart, "factors": factors, "up": up, "down": down, "offset": offset,
    }

