"""The analysts' report as files: ``render_report(inputs, evaluation_pngs) -> {relative path: bytes}``.

Pure: no file is read or written here; the caller writes the mapping (atomically). Every text that comes from the
data (customer ids, plans, attribute values, reasons) is HTML-escaped, customer pages are named by
:func:`churnml.report.names.customer_page_path`, and nothing refers to anything outside the report folder, so the
report works offline, from a file share or an e-mail attachment unpacked anywhere.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from churnml._version import __version__
from churnml.report import charts
from churnml.report.assets import CSS, TABLE_JS
from churnml.report.gather import CAUSES, ReportInputs
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
    ("drivers", "Drivers"),
    ("segments", "Segments"),
    ("customers", "Flagged customers"),
    ("model", "Model card"),
)
WINBACK_SECTION = ("winback", "Win-back")  # shown before the model card when the report is given a win-back list
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


# ------------------------------------------------------------------------------------------------- helpers


def esc(value: Any) -> str:
    """HTML-escape anything (quotes included: safe inside attributes too)."""
    return html.escape("" if value is None else str(value), quote=True)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (not isinstance(value, str) and pd.isna(value))


def pct(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "—"
    return f"{float(value):.{digits}%}"


def num(value: Any) -> str:
    if _missing(value):
        return "—"
    v = float(value)
    return f"{round(v):,}" if v.is_integer() or abs(v) >= 1000 else format_number(v)


def _figure(src: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{esc(src)}" alt="{esc(alt)}" loading="eager">{cap}</figure>'


def _badge(cause: str) -> str:
    if not cause:
        return '<span class="muted">—</span>'
    klass = cause if cause in CAUSES else "other"
    return f'<span class="badge {klass}">{esc(cause_name(cause))}</span>'


def _tier(tier: str) -> str:
    klass = tier if tier in ("high", "medium", "low") else "low"
    return f'<span class="badge tier-{klass}">{esc(tier)}</span>'


def _sharebar(shares: Mapping[str, Any]) -> str:
    parts = []
    for cause in CAUSES:
        v = shares.get(cause)
        if v is None or _missing(v) or float(v) <= 0:
            continue
        parts.append(
            f'<span class="{cause}" style="width:{float(v) * 100:.1f}%" title="{esc(cause_name(cause))} {pct(v, 0)}"></span>'
        )
    return f'<div class="sharebar" role="img" aria-label="risk share by cause family">{"".join(parts)}</div>'


def _table(
    headers: Iterable[tuple[str, bool]], rows: Iterable[Iterable[str]], *, klass: str = "", total: Iterable[str] | None = None
) -> str:
    """A table from pre-escaped cells; ``headers`` are (text, numeric) pairs."""
    heads = list(headers)
    th = "".join(f'<th class="num">{esc(h)}</th>' if n else f"<th>{esc(h)}</th>" for h, n in heads)
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{c}</td>' if n else f"<td>{c}</td>" for c, (_, n) in zip(row, heads))
        body.append(f"<tr>{cells}</tr>")
    if total is not None:
        cells = "".join(f'<td class="num">{c}</td>' if n else f"<td>{c}</td>" for c, (_, n) in zip(total, heads))
        body.append(f'<tr class="total">{cells}</tr>')
    cls = f' class="{klass}"' if klass else ""
    return f'<div class="table-wrap"><table{cls}><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _page(title: str, body: str, *, script: str = "") -> str:
    js = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n{js}\n</body>\n</html>\n"
    )


def _evaluation_name(key: str) -> str:
    stem = key[:-4] if key.lower().endswith(".png") else key
    return re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-") or "figure"


def _replace_n(label: str, value_text: str) -> str:
    """Put a value into a feature label (``N support contacts`` -> ``1.2 support contacts``)."""
    if re.search(r"\bN%", label):
        return re.sub(r"\bN%", value_text if value_text.endswith("%") else value_text + "%", label, count=1)
    if re.search(r"\bN\b", label):
        return re.sub(r"\bN\b", value_text, label, count=1)
    return f"{label}: {value_text}"


# ---------------------------------------------------------------------------------------------------- entry


def render_report(inputs: ReportInputs, evaluation_pngs: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """Every file of the report, by path relative to the report folder: ``index.html``, one page per flagged
    customer in ``customers/``, and the pictures in ``assets/``. The same inputs give the same bytes."""
    files: dict[str, bytes] = {}
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
    }
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

    pages = _customer_pages(inputs)
    files.update(pages)
    files["index.html"] = _index(inputs, evaluation).encode("utf-8")
    return dict(sorted(files.items()))


# ---------------------------------------------------------------------------------------------------- index


def _index(inputs: ReportInputs, evaluation: Mapping[str, str]) -> str:
    sections = list(SECTIONS)
    if inputs.winback is not None:
        sections.insert(len(sections) - 1, WINBACK_SECTION)
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in sections)
    head = (
        '<header class="top"><h1>Churn risk report</h1>'
        f'<div class="sub">Active customers as of {esc(inputs.as_of)} · risk of leaving within {inputs.horizon_days} days · '
        f"model {esc(inputs.model_version)}</div></header>"
        f'<nav class="sections" aria-label="report sections">{nav}</nav>'
    )
    notes = "".join(f'<div class="callout">{esc(n)}</div>' for n in inputs.notes)
    body = (
        head
        + "<main>"
        + notes
        + _overview(inputs)
        + _drivers(inputs, evaluation)
        + _segments(inputs)
        + _customers_section(inputs)
        + _winback_section(inputs)
        + _model_card(inputs, evaluation)
        + "</main>"
        + f"<footer>churnml {esc(__version__)} · scores as of {esc(inputs.as_of)} · "
        "a static report: it works offline and loads nothing from the network.</footer>"
    )
    return _page(f"Churn risk report {inputs.as_of}", body, script=TABLE_JS)


def _overview(inputs: ReportInputs) -> str:
    pop = inputs.population
    active, flagged = pop["active_customers"], pop["flagged"]
    share = flagged / active if active else 0.0
    by_cause = pop["flagged_by_cause"]
    tiers = pop["by_tier"]
    cards = [
        ("Active customers", f"{active:,}", f"scored on {inputs.as_of}"),
        ("Flagged for action", f"{flagged:,}", f"{share:.1%}: {pop['flag_policy']}"),
        (
            f"Expected leavers ({inputs.horizon_days} days)",
            f"{pop['expected_leavers']:,.0f}",
            f"mean risk {pct(pop['mean_probability'])}",
        ),
        ("High risk", f"{tiers.get('high', 0):,}", f"probability ≥ {pct(inputs.tiers['high'], 0)}"),
        ("Medium risk", f"{tiers.get('medium', 0):,}", f"probability ≥ {pct(inputs.tiers['medium'], 0)}"),
    ]
    if pop.get("referral_candidates") is not None:
        cards.append(
            ("Referral candidates", f"{pop['referral_candidates']:,}", "satisfied low-risk customers: ask for a referral")
        )
    card_html = "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div><div class="s">{esc(s)}</div></div>'
        for k, v, s in cards
    )
    causes = ", ".join(f"{by_cause.get(c, 0):,} {c}" for c in CAUSES)
    lead = (
        f"Of <b>{active:,}</b> active customers, <b>{flagged:,}</b> ({share:.1%}) are flagged for action — by primary cause: "
        f"{esc(causes)}. The model expects about <b>{pop['expected_leavers']:,.0f}</b> customers to leave within "
        f"{inputs.horizon_days} days; the flagged customers account for {pop['flagged_expected_leavers']:,.0f} of them."
    )
    mix = inputs.flagged_mix
    parts = [
        '<section class="block" id="overview"><h2>Overview</h2>',
        f'<div class="cards">{card_html}</div>',
        f'<p class="lead">{lead}</p>',
        '<div class="grid2">',
        _figure(
            "assets/risk_distribution.png",
            "histogram of churn probabilities",
            "Every active customer's churn probability; red = flagged for action.",
        ),
        _figure(
            "assets/flagged_by_stage.png",
            "flagged customers by cause and lifecycle stage",
            "Flagged customers by lifecycle stage, coloured by the cause of their risk.",
        ),
        "</div>",
    ]
    if len(mix):
        stages = [s for s in ("new", "established", "won_back") if s in set(mix["lifecycle_stage"])]
        stages += sorted(set(mix["lifecycle_stage"]) - set(stages))
        cross = mix.pivot_table(index="primary_cause", columns="lifecycle_stage", values="customers", aggfunc="sum", fill_value=0)
        cross = cross.reindex(
            index=[c for c in CAUSES if c in cross.index] + sorted(set(cross.index) - set(CAUSES)), columns=stages, fill_value=0
        )
        headers = [("Cause", False), *((stage_name(s), True) for s in stages), ("All stages", True)]
        rows = [[_badge(c), *(f"{int(cross.loc[c, s]):,}" for s in stages), f"{int(cross.loc[c].sum()):,}"] for c in cross.index]
        total = ["All causes", *(f"{int(cross[s].sum()):,}" for s in stages), f"{int(cross.to_numpy().sum()):,}"]
        parts.append("<h3>Flagged customers by cause and lifecycle stage</h3>")
        parts.append(_table(headers, rows, total=total))
        parts.append("<h3>Cause × lifecycle stage × recommended action</h3>")
        parts.append('<p class="help">Each row is a group of flagged customers that the playbook treats alike.</p>')
        rows = [
            [
                _badge(r.primary_cause),
                esc(stage_name(r.lifecycle_stage)),
                f"<b>{esc(action_name(r.recommended_action))}</b>",
                f"{int(r.customers):,}",
                pct(r.customers / flagged if flagged else 0),
                pct(r.mean_probability),
            ]
            for r in mix.itertuples(index=False)
        ]
        parts.append(
            _table(
                [
                    ("Cause", False),
                    ("Stage", False),
                    ("Action", False),
                    ("Customers", True),
                    ("Share of flagged", True),
                    ("Mean risk", True),
                ],
                rows,
            )
        )
    else:
        parts.append('<p class="callout">No customer is flagged for action at this date.</p>')
    parts.append("</section>")
    return "".join(parts)


def _drivers(inputs: ReportInputs, evaluation: Mapping[str, str]) -> str:
    g = inputs.global_drivers
    parts = [
        '<section class="block" id="drivers"><h2>Drivers</h2>',
        "<p class=\"help\">How much each feature moves customers' risk, from the model's own explanations (TreeSHAP "
        "contributions, in log-odds) on a random sample of the active customers. Colours are cause families: "
        '<span class="badge price">Price</span> <span class="badge service">Service</span> <span class="badge other">Other</span>.</p>',
        _figure(
            "assets/drivers.png",
            "global drivers of churn risk",
            "Mean absolute contribution per feature: the features that move risk most, up or down.",
        ),
    ]
    if "shap_summary" in evaluation:
        parts.append(
            _figure(evaluation["shap_summary"], "SHAP summary of the validation snapshot", EVALUATION_CAPTIONS["shap_summary"])
        )
    if len(g):
        rows = [
            [
                esc(r.label),
                _badge(r.family),
                format_number(r.mean_abs),
                f'<span class="up">+{format_number(r.mean_up)}</span>',
                f'<span class="down">{format_number(r.mean_down)}</span>',
                pct(r.share_up, 0),
            ]
            for r in g.head(15).itertuples(index=False)
        ]
        parts.append("<h3>The strongest drivers</h3>")
        parts.append(
            _table(
                [
                    ("Feature (N = the customer's value)", False),
                    ("Family", False),
                    ("Mean |effect|", True),
                    ("Mean push up", True),
                    ("Mean push down", True),
                    ("Raises risk for", True),
                ],
                rows,
            )
        )
    parts.append('<h3 id="drivers-by-cause">Drivers by cause family</h3>')
    parts.append(
        '<p class="help">For flagged customers grouped by their primary cause: the features that push their risk up the most.</p>'
    )
    parts.append(
        _figure(
            "assets/drivers_by_cause.png",
            "drivers by primary cause",
            "Mean positive contribution per feature among the flagged customers of each cause.",
        )
    )
    cd = inputs.cause_drivers
    if len(cd):
        items = []
        for cause in CAUSES:
            d = cd[cd["primary_cause"] == cause].head(5)
            if d.empty:
                continue
            lis = "".join(f"<li>{esc(t)} {_badge(f)}</li>" for t, f in zip(d["label"], d["family"]))
            items.append(
                f"<div><h3>{_badge(cause)} {int(d['customers'].iloc[0]):,} flagged customers</h3>"
                f'<p class="help">{esc(CAUSE_MEANING.get(cause, ""))}</p><ol class="plain">{lis}</ol></div>'
            )
        parts.append(f'<div class="grid2">{"".join(items)}</div>')
    parts.append("</section>")
    return "".join(parts)


def _segments(inputs: ReportInputs) -> str:
    s = inputs.segments
    parts = [
        '<section class="block" id="segments"><h2>Segments</h2>',
        "<h3>Churn risk by lifecycle stage and plan</h3>",
        _figure(
            "assets/segment_risk.png",
            "risk by lifecycle stage and plan",
            "Mean churn probability per segment, with the share flagged and the number of customers.",
        ),
    ]
    rows = []
    for r in s.itertuples(index=False):
        name = stage_name(r.segment) if r.dimension == "lifecycle_stage" else r.segment
        rows.append(
            [
                esc("Stage" if r.dimension == "lifecycle_stage" else "Plan"),
                f"<b>{esc(name)}</b>",
                f"{r.customers:,}",
                pct(r.mean_probability),
                f"{r.expected_leavers:,.0f}",
                f"{r.high:,}",
                f"{r.medium:,}",
                f"{r.flagged:,}",
                pct(r.flagged_share),
                f"{r.flagged_price:,}",
                f"{r.flagged_service:,}",
                f"{r.flagged_other:,}",
            ]
        )
    parts.append(
        _table(
            [
                ("", False),
                ("Segment", False),
                ("Customers", True),
                ("Mean risk", True),
                ("Expected leavers", True),
                ("High", True),
                ("Medium", True),
                ("Flagged", True),
                ("Flagged share", True),
                ("Price", True),
                ("Service", True),
                ("Other", True),
            ],
            rows,
        )
    )
    parts.append("<h3>Where the risk comes from in each segment</h3>")
    parts.append(
        _figure(
            "assets/segment_families.png",
            "risk share by cause family per segment",
            "Share of the risk-raising contributions each cause family carries, per stage and plan (population sample).",
        )
    )
    fam, drv = inputs.segment_families, inputs.segment_drivers
    if len(fam):
        rows = []
        for r in fam.itertuples(index=False):
            d = drv[(drv["dimension"] == r.dimension) & (drv["segment"] == r.segment)]
            tops = "; ".join(d["label"].astype(str))
            name = stage_name(r.segment) if r.dimension == "lifecycle_stage" else r.segment
            rows.append(
                [
                    esc("Stage" if r.dimension == "lifecycle_stage" else "Plan"),
                    f"<b>{esc(name)}</b>",
                    f"{r.sample:,}",
                    _sharebar({"price": r.price, "service": r.service, "other": r.other}),
                    pct(r.price, 0),
                    pct(r.service, 0),
                    pct(r.other, 0),
                    esc(tops),
                ]
            )
        parts.append(
            _table(
                [
                    ("", False),
                    ("Segment", False),
                    ("Sampled", True),
                    ("Risk by family", False),
                    ("Price", True),
                    ("Service", True),
                    ("Other", True),
                    ("Top drivers", False),
                ],
                rows,
            )
        )
    parts.append(_profile_html(inputs))
    parts.append("</section>")
    return "".join(parts)


def _profile_html(inputs: ReportInputs) -> str:
    info, prof, rates = inputs.profile_info, inputs.profile, inputs.profile_rates
    parts = ['<h3 id="leavers">Leavers against stayers</h3>']
    if prof.empty:
        parts.append(
            '<p class="callout">No fully labelled training snapshot is available, so there is no history of leavers to compare.</p>'
        )
        return "".join(parts)
    sampled = info.get("customers_sampled", 0)
    total = info.get("customers_total", 0)
    sample_text = f"a random sample of {sampled:,} of {total:,} customers" if sampled < total else f"all {total:,} customers"
    snaps = info.get("snapshots", [])
    parts.append(
        f'<p class="help">From the training history: {len(snaps)} monthly snapshots ({esc(snaps[0] if snaps else "")} to '
        f"{esc(snaps[-1] if snaps else '')}) of {sample_text} — {info['rows']:,} customer-months, of which "
        f"{info['leavers']:,} ({pct(info['base_rate'])}) left within {info['horizon_days']} days (<b>leavers</b>); "
        "the others stayed (<b>stayers</b>). Averages are over customer-months.</p>"
    )
    parts.append(
        _figure(
            "assets/profile_rates.png",
            "historical churn rate by segment",
            "Share of customers who left within the horizon, per lifecycle stage and plan (red: above average).",
        )
    )
    share = prof[prof["effect"] >= 0.05].head(7)
    keep = prof[prof["effect"] <= -0.05].head(7)

    def bullet(r, leavers_first: bool) -> str:
        if r.kind == "flag":
            main = (
                f"{r.leavers_text if leavers_first else r.stayers_text} of {'leavers' if leavers_first else 'stayers'}: {r.label}"
            )
            other = (
                f"against {r.stayers_text if leavers_first else r.leavers_text} of {'stayers' if leavers_first else 'leavers'}"
            )
        else:
            main = _replace_n(r.label, r.leavers_text if leavers_first else r.stayers_text)
            other = f"on average, against {r.stayers_text if leavers_first else r.leavers_text} for {'stayers' if leavers_first else 'leavers'}"
        return f"<li><b>{esc(main)}</b> {esc(other)} {_badge(r.family)}</li>"

    left = "".join(bullet(r, True) for r in share.itertuples(index=False)) or "<li>No feature stands out.</li>"
    right = "".join(bullet(r, False) for r in keep.itertuples(index=False)) or "<li>No feature stands out.</li>"
    stage_rates = rates[rates["dimension"] == "lifecycle_stage"].sort_values("churn_rate", ascending=False, kind="stable")
    plan_rates = rates[rates["dimension"] == "plan"].sort_values("churn_rate", ascending=False, kind="stable")
    seg_lines = []
    if len(stage_rates) > 1:
        hi, lo = stage_rates.iloc[0], stage_rates.iloc[-1]
        seg_lines.append(
            f"<li>{esc(stage_name(hi.segment))} customers left most often ({pct(hi.churn_rate)}), {esc(stage_name(lo.segment).lower())} customers least ({pct(lo.churn_rate)}).</li>"
        )
    if len(plan_rates) > 1:
        hi, lo = plan_rates.iloc[0], plan_rates.iloc[-1]
        seg_lines.append(
            f"<li>On plan {esc(hi.segment)}, {pct(hi.churn_rate)} left; on plan {esc(lo.segment)}, {pct(lo.churn_rate)}.</li>"
        )
    parts.append(
        '<div class="grid2">'
        f'<div class="callout"><b>What the leavers share</b> — higher among customers who left:<ul class="plain">{left}</ul></div>'
        f'<div class="callout good"><b>What keeps customers</b> — higher among customers who stayed:<ul class="plain">{right}</ul></div>'
        "</div>"
    )
    if seg_lines:
        parts.append(f'<ul class="plain">{"".join(seg_lines)}</ul>')
    parts.append(
        _figure(
            "assets/profile.png",
            "how leavers differed from stayers",
            "Difference between the average leaver and the average stayer, in standard deviations of the feature; longer bars = clearer difference.",
        )
    )
    rows = [
        [
            esc(r.label),
            _badge(r.family),
            esc(r.leavers_text),
            esc(r.stayers_text),
            f'<span class="{"up" if r.effect > 0 else "down"}">{r.effect:+.2f}</span>',
        ]
        for r in prof.itertuples(index=False)
    ]
    parts.append(
        f"<details><summary>Every feature: leavers' and stayers' averages ({len(prof)})</summary>"
        + _table(
            [
                ("Feature (N = the value)", False),
                ("Family", False),
                ("Leavers", True),
                ("Stayers", True),
                ("Difference (SD)", True),
            ],
            rows,
        )
        + "</details>"
    )
    other_dims = rates[~rates["dimension"].isin(["lifecycle_stage", "plan"])]
    if len(rates):
        rows = [
            [
                esc(r.dimension.replace("_", " ")),
                esc(stage_name(r.segment) if r.dimension == "lifecycle_stage" else r.segment),
                f"{r.rows:,}",
                f"{r.leavers:,}",
                pct(r.churn_rate),
            ]
            for r in pd.concat([rates[rates["dimension"].isin(["lifecycle_stage", "plan"])], other_dims]).itertuples(index=False)
        ]
        parts.append(
            f"<details><summary>Churn rate by stage, plan and customer attribute ({len(rates)} groups)</summary>"
            + _table(
                [("Dimension", False), ("Value", False), ("Customer-months", True), ("Leavers", True), ("Churn rate", True)], rows
            )
            + "</details>"
        )
    return "".join(parts)


def _customers_section(inputs: ReportInputs) -> str:
    t = inputs.flagged_table
    pop = inputs.population
    parts = [
        '<section class="block" id="customers"><h2>Flagged customers</h2>',
        f'<p class="help">{pop["flagged"]:,} customers are flagged for action ({esc(pop["flag_policy"])}). '
        f"The table lists the {len(t):,} highest-risk of them, each linking to a page that explains their risk; "
        "filter with the boxes, sort by clicking a column heading.</p>",
        _figure(
            "assets/flagged_by_action.png",
            "recommended actions by cause",
            "What the playbook recommends for the flagged customers, by the cause of their risk.",
        ),
    ]
    if t.empty:
        parts.append('<p class="callout">No customer is flagged.</p></section>')
        return "".join(parts)

    def options(values: Iterable[str], namer) -> str:
        uniq = sorted({str(v) for v in values if str(v)})
        return '<option value="">all</option>' + "".join(f'<option value="{esc(v)}">{esc(namer(v))}</option>' for v in uniq)

    parts.append(
        '<div class="filters" role="search">'
        '<label>Search id, plan or reason<input id="flt-search" type="search" placeholder="e.g. support, 0012, basic"></label>'
        f'<label>Cause<select data-filter="cause" id="flt-cause">{options(t["primary_cause"], cause_name)}</select></label>'
        f'<label>Stage<select data-filter="stage" id="flt-stage">{options(t["lifecycle_stage"], stage_name)}</select></label>'
        f'<label>Action<select data-filter="action" id="flt-action">{options(t["recommended_action"], action_name)}</select></label>'
        f'<label>Tier<select data-filter="tier" id="flt-tier">{options(t["risk_tier"], str)}</select></label>'
        '<span id="flagged-count" aria-live="polite"></span></div>'
    )
    heads = [
        ("Rank", "number"),
        ("Customer", "text"),
        ("Probability", "number"),
        ("Tier", "text"),
        ("Stage", "text"),
        ("Plan", "text"),
        ("Cause", "text"),
        ("Cause share", "number"),
        ("Action", "text"),
        ("Main reason", "text"),
    ]
    num_class = ' class="num"'
    th = "".join(f'<th data-type="{kind}" scope="col"{num_class if kind == "number" else ""}>{esc(h)}</th>' for h, kind in heads)
    body = []
    for r in t.itertuples(index=False):
        cid = str(r.customer_id)
        search = " ".join(
            str(x)
            for x in (cid, r.plan, r.reason_1, r.reason_2, r.reason_3, r.primary_cause, r.recommended_action, r.lifecycle_stage)
        ).lower()
        cause = str(r.primary_cause or "")
        body.append(
            f'<tr data-rank="{int(r.risk_rank)}" data-cause="{esc(cause)}" data-stage="{esc(r.lifecycle_stage)}" '
            f'data-action="{esc(r.recommended_action)}" data-tier="{esc(r.risk_tier)}" data-search="{esc(search)}">'
            f'<td class="num" data-value="{int(r.risk_rank)}">{int(r.risk_rank):,}</td>'
            f'<td><a class="customer-link" href="{esc(customer_page_path(cid))}">{esc(cid)}</a></td>'
            f'<td class="num" data-value="{float(r.churn_probability):.6f}">{pct(r.churn_probability)}</td>'
            f"<td>{_tier(str(r.risk_tier))}</td>"
            f"<td>{esc(stage_name(r.lifecycle_stage))}</td>"
            f"<td>{esc(r.plan)}</td>"
            f'<td data-value="{esc(cause)}">{_badge(cause)}</td>'
            f'<td class="num" data-value="{0 if _missing(r.cause_share) else float(r.cause_share):.6f}">{pct(r.cause_share, 0)}</td>'
            f"<td>{esc(action_name(r.recommended_action))}</td>"
            f'<td class="reason">{esc(r.reason_1)}</td></tr>'
        )
    parts.append(
        f'<div class="table-wrap"><table id="flagged-table" class="sortable"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )
    parts.append("</section>")
    return "".join(parts)


def _winback_section(inputs: ReportInputs, top: int = 50) -> str:
    """Churned customers worth winning back: how many, why they left, who passes the value gate, the list."""
    table = inputs.winback
    if table is None:
        return ""
    run = inputs.winback_run
    window = run.get("window_days") or ["?", "?"]
    rule = run.get("value_rule") or {}
    acting = table["recommended_action"] != "none"
    parts = [
        '<section class="block" id="winback"><h2>Win-back</h2>',
        f'<p class="help">Customers whose churn date lies {esc(window[0])}–{esc(window[1])} days before '
        f"{esc(run.get('as_of', inputs.as_of))} and who have not come back. Why they left is read from the features "
        "they had the night before they left, with the same attribution as the nightly list. Expected value = chance "
        f"of a return × {num(rule.get('expected_months'))} months a won-back customer stays × monthly margin "
        f"({pct(rule.get('margin_share'), 0)} of their price) − {num(rule.get('cost'))} per attempt; only a value "
        f"above {num(rule.get('min_expected_value', 0.0))} (<code>winback.min_expected_value</code>) earns an action.</p>",
    ]
    rows = []
    for cause in ("price", "service", "other"):
        mine = table["cause_at_churn"] == cause
        rows.append([
            _badge(cause), f"{int(mine.sum()):,}", f"{int((mine & acting).sum()):,}",
            pct(table.loc[mine, "return_probability"].mean()) if mine.any() else "–",
            f"{table.loc[mine & acting, 'expected_value'].sum():,.0f}",
        ])
    total = ["All causes", f"{len(table):,}", f"{int(acting.sum()):,}",
             pct(table["return_probability"].mean()) if len(table) else "–", f"{table.loc[acting, 'expected_value'].sum():,.0f}"]
    parts.append(_table([("Cause at churn", False), ("Churned in window", True), ("Pass the gate", True),
                         ("Mean return chance", True), ("Expected value of the actions", True)], rows, total=total))
    parts.append(_figure("assets/winback_values.png", "histogram of expected win-back values by cause",
                         "Each listed customer's expected value, coloured by why they left; right of the line: worth an attempt."))
    head = table.head(top)
    parts.append(f"<h3>The list: top {len(head):,} of {len(table):,} by expected value</h3>")
    parts.append(_table(
        [("Customer", False), ("Churned", False), ("Cause", False), ("Why", False), ("Return chance", True),
         ("Expected value", True), ("Action", False)],
        [[esc(r.customer_id), esc(str(r.churn_date)[:10]), _badge(r.cause_at_churn), esc(r.reason_1),
          pct(r.return_probability), f"{float(r.expected_value):,.2f}", esc(action_name(r.recommended_action))]
         for r in head.itertuples(index=False)],
    ))
    parts.append("</section>")
    return "".join(parts)


def _calibration_fact(cal: Mapping[str, Any]) -> str:
    losses = cal.get("cv_log_loss") or {}
    method = cal.get("method")
    if method == "identity":
        method = "none: the raw scores were the best calibrated" if losses else "none: too few tuning rows to fit one"
    text = f"{method or '—'}, from {int(cal.get('n_samples') or 0):,} tuning predictions"
    if losses:
        text += "; chosen by 5-fold log loss: " + ", ".join(f"{k} {float(v):.4f}" for k, v in losses.items())
    return text


def _model_card(inputs: ReportInputs, evaluation: Mapping[str, str]) -> str:
    m = inputs.model
    split = m.get("split") or {}
    train, tune, valid = (
        split.get("train_snapshots") or [],
        split.get("tune_snapshots") or [],
        split.get("validation_snapshots") or [],
    )
    window = f"{train[0]} to {valid[-1]}" if train and valid else "—"
    rows_info = split.get("rows") or {}
    facts = [
        ("Model version", m.get("version")),
        ("Trained", f"{m.get('created') or '—'} on data known at {m.get('trained_as_of') or '—'}"),
        ("Predicts", f"leaving within {m.get('horizon_days')} days (a return within {m.get('grace_days')} days is not churn)"),
        ("Training window", f"snapshots from {window}"),
        ("Split", f"{split.get('strategy', '—')}: {split.get('description', '—')}"),
        (
            "Snapshots",
            f"train {len(train)} ({', '.join(train[:1] + (['…'] if len(train) > 2 else []) + train[-1:]) if train else '—'}), tune {', '.join(tune) or '—'}, validate {', '.join(valid) or '—'}",
        ),
        ("Rows", ", ".join(f"{k} {int(v):,}" for k, v in rows_info.items()) or "—"),
        ("Features", f"{m.get('features')} (LightGBM {m.get('lightgbm_version') or '?'}, {m.get('best_iteration')} trees)"),
        ("Calibration", _calibration_fact(m.get("calibration") or {})),
        ("Configuration hash", m.get("config_hash")),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    metrics = m.get("metrics") or {}
    present = [(k, name) for k, name in BASELINES if k in metrics]
    rows = []
    for key, name, meaning, higher in METRICS:
        if not any(key in metrics[k] for k, _ in present):
            continue
        cells = [f"<b>{esc(name)}</b>"]
        for k, _ in present:
            v = metrics[k].get(key)
            if key == "rows":
                cells.append(num(v))
            elif key in ("base_rate", "recall_at_capacity"):
                cells.append(pct(v))
            else:
                cells.append("—" if _missing(v) else f"{float(v):.3f}")
        direction = "higher is better" if higher else ("lower is better" if higher is False else "")
        cells.append(esc(f"{meaning}{'; ' + direction if direction else ''}"))
        rows.append(cells)
    headers = [
        ("Metric", False),
        *(
            (label + (f" ({metrics['rule'].get('feature')})" if k == "rule" and metrics["rule"].get("feature") else ""), True)
            for k, label in present
        ),
        ("What it measures", False),
    ]
    parts = [
        '<section class="block" id="model"><h2>Model card</h2>',
        f'<dl class="facts">{dl}</dl>',
        "<h3>Out-of-time validation against baselines</h3>",
        '<p class="help">Measured on the validation snapshot(s), which the model never saw; the baselines are a logistic '
        "regression and the best single-feature rule"
        + (
            ", and the oracle is the simulator's true churn hazard (synthetic data only): the best any model could do"
            if "oracle" in metrics
            else ""
        )
        + ".</p>",
        _table(headers, rows) if rows else '<p class="callout">The model bundle holds no metrics.</p>',
    ]
    if "model_oracle_auc_ratio" in metrics:
        parts.append(f"<p>The model reaches <b>{float(metrics['model_oracle_auc_ratio']):.0%}</b> of the oracle's ROC-AUC.</p>")
    if "reliability" in evaluation:
        parts.append(_figure(evaluation["reliability"], "reliability plot", EVALUATION_CAPTIONS["reliability"]))
    else:
        parts.append('<p class="callout">The reliability plot is not in the model bundle\'s evaluation folder.</p>')
    rest = [k for k in evaluation if k not in ("reliability", "shap_summary")]
    if rest:
        parts.append(
            '<div class="grid2">'
            + "".join(_figure(evaluation[k], f"{k} plot", EVALUATION_CAPTIONS.get(k, k.replace("_", " "))) for k in rest)
            + "</div>"
        )
    run = inputs.run
    inputs_rows = [
        [esc(name), esc(v.get("file", "")), num(v.get("read")), num(v.get("accepted")), num(v.get("rejected"))]
        for name, v in run.get("inputs", {}).items()
    ]
    parts.append("<h3>This scoring run</h3>")
    parts.append(
        f'<p class="help">Scores as of {esc(inputs.as_of)}, written {esc(run.get("created") or "—")} with the model at '
        f"{esc(run.get('model_path') or '—')}: {run.get('scores_rows', 0):,} customers"
        + (f" in {float(run['duration_seconds']):.1f} s" if run.get("duration_seconds") is not None else "")
        + ".</p>"
    )
    if inputs_rows:
        parts.append(
            _table([("Table", False), ("File", False), ("Rows read", True), ("Accepted", True), ("Rejected", True)], inputs_rows)
        )
    if run.get("rejects_dir"):
        parts.append(f'<p class="callout">Rejected rows, with their reasons, are in {esc(run["rejects_dir"])}.</p>')
    parts.append("</section>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------------ customers


def _customer_pages(inputs: ReportInputs) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    expl = inputs.explanations
    summary = expl.summary
    grouped = (
        {cid: frame for cid, frame in expl.contributions.groupby("customer_id", sort=False)} if len(expl.contributions) else {}
    )
    total = inputs.population["active_customers"]
    for row in inputs.flagged_table.itertuples(index=False):
        cid = str(row.customer_id)
        contrib = grouped.get(cid)
        chart = None
        if contrib is not None and len(contrib):
            chart = customer_chart_path(cid)
            files[chart] = waterfall_png(contrib, expl.base_log_odds)
        info = summary.loc[cid] if cid in summary.index else None
        files[customer_page_path(cid)] = _customer_html(inputs, row, info, contrib, chart, total).encode("utf-8")
    return files


def _customer_html(
    inputs: ReportInputs, row: Any, info: pd.Series | None, contrib: pd.DataFrame | None, chart: str | None, total: int
) -> str:
    cid = str(row.customer_id)
    cause = str(row.primary_cause or "")
    action = str(row.recommended_action)
    cards = [
        ("Churn probability", pct(row.churn_probability), f"of leaving within {inputs.horizon_days} days"),
        ("Risk rank", f"{int(row.risk_rank):,}", f"of {total:,} active customers"),
        ("Risk tier", str(row.risk_tier), "flagged for action"),
        ("Lifecycle stage", stage_name(row.lifecycle_stage), ""),
        ("Plan", str(row.plan), ""),
    ]
    card_html = "".join(
        f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div><div class="s">{esc(s)}</div></div>'
        for k, v, s in cards
    )
    reasons = [str(r) for r in (row.reason_1, row.reason_2, row.reason_3) if isinstance(r, str) and r]
    reason_html = "".join(f"<li>{esc(r)}</li>" for r in reasons) or "<li>No single factor stands out.</li>"
    shares = {"price": row.price_share, "service": row.service_share, "other": row.other_share}
    why = info["action_reason"] if info is not None and "action_reason" in info else ""
    parts = [
        '<header class="top"><h1>Customer <span id="customer-id">' + esc(cid) + "</span></h1>"
        f'<div class="sub">Churn risk explained · scores as of {esc(inputs.as_of)} · model {esc(inputs.model_version)}</div></header>',
        '<main><p class="crumb"><a href="../index.html#customers">← Back to the flagged customers</a></p>',
        '<section class="block" id="summary"><h2>Risk</h2>',
        f'<div class="cards">{card_html}</div>',
        f'<p class="lead">This customer has a <b id="probability">{pct(row.churn_probability)}</b> chance of leaving within '
        f"{inputs.horizon_days} days, rank {int(row.risk_rank):,} of {total:,}. "
        f'The main cause is <b id="cause">{esc(cause_name(cause))}</b>'
        + (f", which carries <b>{pct(row.cause_share, 0)}</b> of the split between price, service and other." if not _missing(row.cause_share) else ".")
        + "</p>",
        f'<p class="help">{esc(CAUSE_MEANING.get(cause, ""))}</p>',
        '<div style="max-width:520px">' + _sharebar(shares) + "</div>",
        f'<p class="help">Risk raised by price {pct(row.price_share, 0)}, service {pct(row.service_share, 0)}, other {pct(row.other_share, 0)}.</p>',
        '<h3>Main reasons</h3><ol class="plain" id="reasons">' + reason_html + "</ol>",
        "</section>",
        '<section class="block" id="action"><h2>Recommended action</h2>',
        f'<div class="callout action"><b id="action-name">{esc(action_name(action))}</b>: {esc(action_meaning(action))}.</div>',
        f'<p><b>Why:</b> <span id="action-why">{esc(why)}</span></p>' if why else "",
        "</section>",
        '<section class="block" id="explanation"><h2>What moves this customer\'s risk</h2>',
    ]
    if chart and contrib is not None:
        parts.append(
            _figure(
                "../" + chart,
                "waterfall of this customer's risk contributions",
                "From the average customer (top) to this customer (bottom): each bar is one factor, with the customer's own value; "
                "red raises the risk, blue lowers it. The probability shown here is the model's raw score; the calibrated probability above is what the scores file carries.",
            )
        )
        up = contrib[contrib["contribution"] > 0].head(6)
        down = contrib[contrib["contribution"] < 0].head(6)

        def items(frame: pd.DataFrame, klass: str) -> str:
            return (
                "".join(
                    f'<li>{esc(m)} {_badge(f)} <span class="{klass}">{c:+.2f}</span></li>'
                    for m, f, c in zip(frame["meaning"], frame["family"], frame["contribution"])
                )
                or "<li>Nothing notable.</li>"
            )

        parts.append(
            '<div class="grid2">'
            f'<div><h3>What raises the risk</h3><ul class="plain">{items(up, "up")}</ul></div>'
            f'<div><h3>What lowers the risk</h3><ul class="plain">{items(down, "down")}</ul></div></div>'
        )
        rows = [
            [esc(m), _badge(f), esc(feat), f'<span class="{"up" if c > 0 else "down"}">{c:+.3f}</span>']
            for m, f, feat, c in zip(contrib["meaning"], contrib["family"], contrib["feature"], contrib["contribution"])
        ]
        parts.append(
            f"<details><summary>All {len(contrib)} factors</summary>"
            + _table(
                [("The customer's value", False), ("Family", False), ("Feature", False), ("Contribution (log-odds)", True)], rows
            )
            + "</details>"
        )
    else:
        parts.append(
            '<p class="callout">This customer is not active in the data any more, so no detailed explanation could be computed; the reasons above come from the scores file.</p>'
        )
    parts.append("</section></main>")
    parts.append(f'<footer>churnml {esc(__version__)} · <a href="../index.html">report index</a></footer>')
    return _page(f"Customer {cid} — churn risk", "".join(parts))
