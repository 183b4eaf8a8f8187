"""Figures for evaluation and explanations: each function returns a matplotlib Figure, saving is the caller's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from sklearn.metrics import precision_recall_curve, roc_curve

from churnml.config import Family


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], squeeze: bool = True) -> tuple[Figure, Any]:
    """A figure and its axes, drawn without pyplot: no backend to select, no global figure list to leak into,
    so importing churnml changes nothing in the caller's matplotlib and a headless job needs no display."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze)


FAMILY_COLOURS = {Family.PRICE: "#d95f02", Family.SERVICE: "#1b9e77", Family.OTHER: "#7570b3"}
SERIES_STYLE = {"model": ("#1f77b4", "-"), "logistic": ("#ff7f0e", "--"), "rule": ("#7f7f7f", ":"), "oracle": ("#2ca02c", "-.")}


def _scored(curves: Mapping[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    y = np.asarray(curves["y"])
    out = []
    for name in ("model", "logistic", "rule", "oracle"):
        if name in curves:
            p = np.asarray(curves[name], dtype=float)
            keep = ~np.isnan(p)
            out.append((name, y[keep], p[keep]))
    return out


def roc_figure(curves: Mapping[str, Any], metrics: Mapping[str, Any]) -> Figure:
    fig, ax = new_figure(figsize=(5.5, 5))
    for name, y, p in _scored(curves):
        fpr, tpr, _ = roc_curve(y, p)
        colour, style = SERIES_STYLE[name]
        ax.plot(fpr, tpr, style, color=colour, label=f"{name} (AUC {metrics[name]['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="#cccccc", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate (churners caught)", title="ROC on the validation snapshot")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def pr_figure(curves: Mapping[str, Any], metrics: Mapping[str, Any]) -> Figure:
    fig, ax = new_figure(figsize=(5.5, 5))
    for name, y, p in _scored(curves):
        precision, recall, _ = precision_recall_curve(y, p)
        colour, style = SERIES_STYLE[name]
        ax.plot(recall, precision, style, color=colour, label=f"{name} (PR-AUC {metrics[name]['pr_auc']:.3f})")
    ax.axhline(np.mean(curves["y"]), color="#cccccc", lw=1, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title="Precision and recall")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def reliability_figure(before: Mapping[str, list], after: Mapping[str, list], ece: tuple[float, float]) -> Figure:
    fig, ax = new_figure(figsize=(5.5, 5))
    top = max(max(before["predicted"]), max(after["predicted"]), max(after["observed"]), 0.05) * 1.05
    ax.plot([0, top], [0, top], color="#cccccc", lw=1, label="perfect calibration")
    ax.plot(before["predicted"], before["observed"], "o--", color="#ff7f0e", label=f"raw booster (ECE {ece[0]:.3f})")
    ax.plot(after["predicted"], after["observed"], "o-", color="#1f77b4", label=f"calibrated (ECE {ece[1]:.3f})")
    ax.set(xlim=(0, top), ylim=(0, top), xlabel="predicted churn probability", ylabel="observed churn rate", title="Reliability (equal-count bins)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def lift_figure(lifts: Mapping[str, pd.DataFrame], capacity: float) -> Figure:
    fig, ax = new_figure(figsize=(5.5, 5))
    for name, curve in lifts.items():
        colour, style = SERIES_STYLE[name]
        ax.plot(np.r_[0, curve["contacted"]], np.r_[0, curve["captured"]], style, color=colour, label=name)
    ax.plot([0, 1], [0, 1], color="#cccccc", lw=1, label="random")
    ax.axvline(capacity, color="#d62728", lw=1, ls=":", label=f"flagging capacity ({capacity:.0%})")
    ax.set(xlabel="share of customers contacted (highest risk first)", ylabel="share of churners captured", title="Cumulative gains")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _named(names: list[str], labels: Mapping[str, str] | None) -> list[str]:
    """Plain names where known (the same the report's tables use), wrapped to two lines."""
    import textwrap

    return ["\n".join(textwrap.wrap((labels or {}).get(n, n), 48)[:3]) for n in names]


def importance_figure(importance: pd.Series, families: Mapping[str, Family], top: int = 20,
                      labels: Mapping[str, str] | None = None) -> Figure:
    imp = importance.head(top)[::-1]
    fig, ax = new_figure(figsize=(8.5, 0.42 * len(imp) + 1.5))
    ax.barh(np.arange(len(imp)), imp.to_numpy(), color=[FAMILY_COLOURS[families.get(n, Family.OTHER)] for n in imp.index])
    ax.set_yticks(np.arange(len(imp)), _named(list(imp.index), labels))
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in FAMILY_COLOURS.values()]
    ax.legend(handles, [f.value for f in FAMILY_COLOURS], loc="lower right", title="cause family")
    ax.set(xlabel="total gain", title=f"Feature importance (top {len(imp)})")
    fig.tight_layout()
    return fig


def shap_summary_figure(contributions: np.ndarray, sample: pd.DataFrame, families: Mapping[str, Family], top: int = 15,
                        labels: Mapping[str, str] | None = None) -> Figure:
    """Beeswarm-style summary: each dot a customer, x its contribution, colour its feature value (high = red)."""
    names = list(sample.columns)
    order = np.argsort(-np.abs(contributions).mean(axis=0))[:top][::-1]
    fig, ax = new_figure(figsize=(9, 0.45 * len(order) + 1.5))
    rng = np.random.default_rng(0)
    for row, j in enumerate(order):
        col = sample.iloc[:, j]
        if isinstance(col.dtype, pd.CategoricalDtype):
            values = col.cat.codes.to_numpy(dtype=float)
            values[values < 0] = np.nan
        else:
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        lo, hi = np.nanpercentile(values, [5, 95]) if np.isfinite(values).any() else (0.0, 1.0)
        scaled = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
        jitter = rng.uniform(-0.3, 0.3, len(values))
        ax.scatter(contributions[:, j], row + jitter, c=np.nan_to_num(scaled, nan=0.5), cmap="coolwarm", s=6, alpha=0.6, linewidths=0)
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels(_named([names[j] for j in order], labels))
    for label, j in zip(ax.get_yticklabels(), order):
        label.set_color(FAMILY_COLOURS[families.get(names[j], Family.OTHER)])
    ax.axvline(0, color="#999999", lw=1)
    ax.set(xlabel="SHAP contribution to churn log-odds (right = more risk)", title="What drives risk (label colour = cause family)")
    fig.tight_layout()
    return fig


def evaluation_figures(result: Any, families: Mapping[str, Family], capacity: float,
                       labels: Mapping[str, str] | None = None) -> dict[str, Figure]:
    """Every evaluation plot of a training result, by file stem (``labels``: features' plain names)."""
    c, m = result.curves, result.metrics
    contributions, sample = c["shap"]
    return {
        "roc": roc_figure(c, m),
        "precision_recall": pr_figure(c, m),
        "reliability": reliability_figure(c["reliability_before"], c["reliability_after"], (m["model_uncalibrated"]["ece"], m["model"]["ece"])),
        "lift": lift_figure(c["lift"], capacity),
        "importance": importance_figure(c["importance"], families, labels=labels),
        "shap_summary": shap_summary_figure(contributions, sample, families, labels=labels),
    }


def backtest_figure(table: pd.DataFrame) -> Figure:
    """Realised against expected performance per run date: ROC-AUC (expected without outcomes, realised once the
    horizon passed) and churn rate (predicted, observed)."""
    fig, (left, right) = new_figure(1, 2, figsize=(11, 4))
    dates = pd.to_datetime(table["as_of"])
    left.plot(dates, table["expected_roc_auc"], "o--", label="expected (from the probabilities)")
    left.plot(dates, table["roc_auc"], "o-", label="realised")
    left.set_title("ROC-AUC by run date")
    left.set_ylabel("ROC-AUC")
    right.plot(dates, table["predicted_churn_rate"], "o--", label="predicted")
    right.plot(dates, table["observed_churn_rate"], "o-", label="observed")
    right.set_title("Churn within the horizon by run date")
    right.set_ylabel("share of active customers")
    for ax in (left, right):
        ax.legend(loc="best", fontsize=8)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    return fig


def outcomes_figure(by_action: pd.DataFrame, matched: pd.DataFrame) -> Figure:
    """Uplift (control churn minus treated churn) per action x cause with its 95% interval, and matched against
    mismatched remedies."""
    fig, (left, right) = new_figure(1, 2, figsize=(12, 0.45 * max(len(by_action), 3) + 1.8), squeeze=True)
    if len(by_action):
        labels = [f"{a} | {c}" for a, c in zip(by_action["action"], by_action["primary_cause"], strict=True)]
        y = np.arange(len(by_action))
        err = np.vstack([by_action["uplift"] - by_action["uplift_low"], by_action["uplift_high"] - by_action["uplift"]])
        left.errorbar(by_action["uplift"], y, xerr=err, fmt="o", capsize=3)
        left.set_yticks(y, [f"{t} (n={n})" for t, n in zip(labels, by_action["treated"], strict=True)])
    left.axvline(0, color="#999999", lw=1)
    left.set(xlabel="uplift: churn of the control group minus churn of the treated", title="Uplift per action and cause (95% interval)")
    if len(matched):
        right.bar(matched["remedy"], matched["uplift"], yerr=np.vstack([matched["uplift"] - matched["uplift_low"],
                                                                         matched["uplift_high"] - matched["uplift"]]), capsize=4)
    right.axhline(0, color="#999999", lw=1)
    right.set(ylabel="uplift", title="Remedies that match the cause against those that do not")
    fig.tight_layout()
    return fig
