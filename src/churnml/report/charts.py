"""The report's pictures as PNG bytes: pure functions of :class:`ReportInputs` frames, no file I/O.

Text drawn from the data (plan names, attribute values) is never parsed as mathtext, and PNGs carry no
software/version metadata, so the same inputs give the same bytes.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from churnml.plots import new_figure, outcomes_figure
from churnml.report.labels import FAMILY_HEX, action_name, cause_name, stage_name

UP, DOWN = "#c0392b", "#2e86c1"
GREY = "#95a5a6"
CAUSE_ORDER = ("price", "service", "other")
_STYLE: dict[str, Any] = {
    "text.parse_math": False,
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "svg.hashsalt": "churnml",
}


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]  # matplotlib types its keys as literals
        yield


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _wrap(text: str, width: int = 48, lines: int = 2) -> str:
    parts = textwrap.wrap(str(text), width) or [""]
    if len(parts) > lines:
        parts = parts[:lines]
        parts[-1] = parts[-1][: width - 1] + "…"
    return "\n".join(parts)


def _family_legend(ax: Axes, loc: str = "lower right") -> None:
    ax.legend(  # type: ignore[call-overload]  # matplotlib types loc as literals; callers pass valid ones
        [Patch(color=FAMILY_HEX[f]) for f in CAUSE_ORDER],
        [cause_name(f) for f in CAUSE_ORDER],
        title="cause family",
        loc=loc,
        frameon=False,
    )


def _empty(title: str, message: str) -> bytes:
    with _style():
        fig, ax = new_figure(figsize=(7, 2))
        ax.axis("off")
        ax.set_title(title)
        ax.text(0.5, 0.4, message, ha="center", va="center", color="#666666")
        return _png(fig)


# ------------------------------------------------------------------------------------------------ overview


def risk_histogram(hist: pd.DataFrame, tiers: dict[str, float]) -> bytes:
    with _style():
        fig, ax = new_figure(figsize=(8, 3.8))
        width = (hist["hi"] - hist["lo"]).to_numpy()
        lo = hist["lo"].to_numpy()
        rest = (hist["customers"] - hist["flagged"]).to_numpy()
        ax.bar(lo, rest, width=width, align="edge", color="#aab7c4", label="not flagged", edgecolor="white", linewidth=0.4)
        ax.bar(
            lo,
            hist["flagged"],
            bottom=rest,
            width=width,
            align="edge",
            color=UP,
            label="flagged for action",
            edgecolor="white",
            linewidth=0.4,
        )
        top = float(hist["hi"].max()) if len(hist) else 1.0
        shown = sorted(((v, n) for n, v in tiers.items() if v <= top), reverse=True)
        for k, (value, name) in enumerate(shown):  # staggered heights: two close thresholds never print over each other
            ax.axvline(value, color="#333333", lw=1, ls="--")
            ax.text(value, ax.get_ylim()[1] * (0.95 - 0.12 * k), f" {name} risk from {value:.0%}", va="top", fontsize=9)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}" if top > 0.05 else f"{v:.1%}"))
        ax.set(xlabel="churn probability in the horizon", ylabel="customers", title="Risk distribution of the active customers")
        ax.legend(frameon=False)
        fig.tight_layout()
        return _png(fig)


def flagged_by_stage(mix: pd.DataFrame) -> bytes:
    if mix.empty:
        return _empty("Flagged customers by cause and lifecycle stage", "no customer is flagged")
    with _style():
        table = mix.pivot_table(index="lifecycle_stage", columns="primary_cause", values="customers", aggfunc="sum", fill_value=0)
        stages = [s for s in ("new", "established", "won_back") if s in table.index] + sorted(
            s for s in table.index if s not in ("new", "established", "won_back")
        )
        table = table.reindex(index=stages, columns=list(CAUSE_ORDER), fill_value=0)
        fig, ax = new_figure(figsize=(7, 3.8))
        x = np.arange(len(table))
        bottom = np.zeros(len(table))
        for cause in CAUSE_ORDER:
            values = table[cause].to_numpy(dtype=float)
            ax.bar(x, values, bottom=bottom, color=FAMILY_HEX[cause], label=cause_name(cause), width=0.6)
            for xi, (b, v) in enumerate(zip(bottom, values)):
                if v >= max(table.to_numpy().sum(axis=1).max() * 0.06, 1):
                    ax.text(xi, b + v / 2, f"{int(v)}", ha="center", va="center", color="white", fontsize=9, fontweight="bold")
            bottom += values
        ax.set_xticks(x, [stage_name(s) for s in table.index])
        ax.set(ylabel="flagged customers", title="Flagged customers by cause and lifecycle stage")
        ax.legend(title="primary cause", frameon=False)
        fig.tight_layout()
        return _png(fig)


def flagged_by_action(mix: pd.DataFrame) -> bytes:
    if mix.empty:
        return _empty("Recommended actions", "no customer is flagged")
    with _style():
        table = mix.pivot_table(
            index="recommended_action", columns="primary_cause", values="customers", aggfunc="sum", fill_value=0
        )
        table = table.reindex(columns=list(CAUSE_ORDER), fill_value=0)
        table = table.loc[table.sum(axis=1).sort_values(kind="stable").index]
        fig, ax = new_figure(figsize=(7, 0.45 * len(table) + 1.6))
        y = np.arange(len(table))
        left = np.zeros(len(table))
        for cause in CAUSE_ORDER:
            values = table[cause].to_numpy(dtype=float)
            ax.barh(y, values, left=left, color=FAMILY_HEX[cause], label=cause_name(cause), height=0.6)
            left += values
        for yi, total in enumerate(left):
            ax.text(total, yi, f" {int(total)}", va="center", fontsize=9)
        ax.set_yticks(y, [action_name(a) for a in table.index])
        ax.set(xlabel="flagged customers", title="Recommended actions, by primary cause")
        ax.grid(axis="y", visible=False)
        ax.legend(title="primary cause", frameon=False, loc="lower right")
        fig.tight_layout()
        return _png(fig)


# ------------------------------------------------------------------------------------------------- drivers


def global_drivers(drivers: pd.DataFrame, top: int = 20) -> bytes:
    if drivers.empty:
        return _empty("What drives risk", "no explanations available")
    with _style():
        d = drivers.head(top).iloc[::-1]
        fig, ax = new_figure(figsize=(10, 0.42 * len(d) + 1.6))
        ax.barh(np.arange(len(d)), d["mean_abs"], color=[FAMILY_HEX.get(f, GREY) for f in d["family"]], height=0.7)
        ax.set_yticks(np.arange(len(d)), [_wrap(t, 56, 3) for t in d["label"]])
        ax.set(xlabel="mean |contribution| to churn log-odds", title=f"What drives risk: the {len(d)} strongest features")
        ax.grid(axis="y", visible=False)
        _family_legend(ax)
        fig.tight_layout()
        return _png(fig)


def cause_drivers(drivers: pd.DataFrame, top: int = 8) -> bytes:
    causes = [c for c in CAUSE_ORDER if c in set(drivers["primary_cause"])] if len(drivers) else []
    if not causes:
        return _empty("Drivers by primary cause", "no flagged customer to explain")
    with _style():
        # One cause per row at full width: labels keep the report's font size and are never cut.
        fig, axes = new_figure(len(causes), 1, figsize=(10, (0.42 * top + 1.0) * len(causes) + 0.6), squeeze=False)
        for ax, cause in zip(axes[:, 0], causes):
            d = drivers[drivers["primary_cause"] == cause].head(top).iloc[::-1]
            n = int(d["customers"].iloc[0]) if len(d) else 0
            ax.barh(np.arange(len(d)), d["mean_up"], color=[FAMILY_HEX.get(f, GREY) for f in d["family"]], height=0.7)
            ax.set_yticks(np.arange(len(d)), [_wrap(t, 56, 3) for t in d["label"]])
            ax.set_title(f"{cause_name(cause)} cause ({n:,} flagged)", color=FAMILY_HEX[cause], loc="left")
            ax.set_xlabel("mean push up in log-odds")
            ax.grid(axis="y", visible=False)
        fig.suptitle("What pushes the risk of flagged customers up, by their primary cause", fontweight="bold")
        fig.tight_layout()
        return _png(fig)


# ------------------------------------------------------------------------------------------------ segments


def segment_risk(segments: pd.DataFrame) -> bytes:
    if segments.empty:
        return _empty("Risk by segment", "no customers")
    with _style():
        dims = [("lifecycle_stage", "by lifecycle stage"), ("plan", "by plan")]
        fig, axes = new_figure(2, 1, figsize=(11, 8.2))
        for ax, (dim, title) in zip(axes, dims):
            s = segments[segments["dimension"] == dim]
            x = np.arange(len(s))
            names = [stage_name(v) if dim == "lifecycle_stage" else str(v) for v in s["segment"]]
            ax.bar(x, s["mean_probability"], color="#5d6d7e", width=0.6)
            for xi, p in enumerate(s["mean_probability"]):
                ax.text(xi, p, f"{p:.1%}", ha="center", va="bottom", fontsize=9)
            # Counts live under the bars, not above them, so neighbouring notes never collide.
            ticks = [f"{_wrap(n, 14, 2)}\nn={c:,}\n{f:.0%} flagged" for n, c, f in zip(names, s["customers"], s["flagged_share"])]
            ax.set_xticks(x, ticks, fontsize=9 if len(s) <= 6 else 8)
            ax.set_ylim(0, max(float(s["mean_probability"].max()) * 1.2, 0.01))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}" if v >= 0.1 or v == 0 else f"{v:.1%}"))
            ax.set(ylabel="mean churn probability", title=f"Risk {title}")
        fig.tight_layout()
        return _png(fig)


def segment_families(families: pd.DataFrame) -> bytes:
    if families.empty:
        return _empty("Where risk comes from, by segment", "no explanations available")
    with _style():
        f = families.iloc[::-1].reset_index(drop=True)
        names = [
            f"{stage_name(s)} (stage)" if d == "lifecycle_stage" else f"{s} (plan)" for d, s in zip(f["dimension"], f["segment"])
        ]
        fig, ax = new_figure(figsize=(9, 0.42 * len(f) + 1.6))
        left = np.zeros(len(f))
        y = np.arange(len(f))
        for cause in CAUSE_ORDER:
            values = f[cause].to_numpy(dtype=float)
            ax.barh(y, values, left=left, color=FAMILY_HEX[cause], label=cause_name(cause), height=0.65)
            for yi, (start, v) in enumerate(zip(left, values)):
                if v >= 0.08:
                    ax.text(start + v / 2, yi, f"{v:.0%}", ha="center", va="center", color="white", fontsize=8, fontweight="bold")
            left += values
        ax.set_yticks(y, names)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.set(xlabel="share of the risk-raising contributions", title="Where risk comes from, by lifecycle stage and plan")
        ax.grid(axis="y", visible=False)
        ax.legend(title="cause family", frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
        fig.tight_layout()
        return _png(fig)


def profile_differences(profile: pd.DataFrame, top: int = 16) -> bytes:
    if profile.empty:
        return _empty("Leavers against stayers", "no fully labelled training snapshot")
    with _style():
        d = profile.head(top).iloc[::-1]
        fig, ax = new_figure(figsize=(10, 0.44 * len(d) + 1.8))
        colours = [FAMILY_HEX.get(f, GREY) for f in d["family"]]
        ax.barh(np.arange(len(d)), d["effect"], color=colours, height=0.7)
        ax.axvline(0, color="#333333", lw=1)
        ax.set_yticks(np.arange(len(d)), [_wrap(t, 56, 3) for t in d["label"]])
        lim = max(float(d["effect"].abs().max()) * 1.15, 0.1)
        ax.set_xlim(-lim, lim)
        ax.text(lim * 0.98, len(d) - 0.4, "higher among leavers →", ha="right", va="bottom", fontsize=9, color=UP)
        ax.text(-lim * 0.98, len(d) - 0.4, "← higher among stayers", ha="left", va="bottom", fontsize=9, color=DOWN)
        ax.set(
            xlabel="difference of the averages in standard deviations (leavers − stayers)",
            title="How leavers differed from stayers",
        )
        ax.grid(axis="y", visible=False)
        _family_legend(ax)
        fig.tight_layout()
        return _png(fig)


def profile_rates(rates: pd.DataFrame, base_rate: float, horizon_days: int) -> bytes:
    dims = [d for d in ("lifecycle_stage", "plan") if len(rates) and d in set(rates["dimension"])]
    if not dims:
        return _empty("Historical churn rate by segment", "no fully labelled training snapshot")
    with _style():
        fig, axes = new_figure(1, len(dims), figsize=(5.5 * len(dims), 3.6), squeeze=False)
        for ax, dim in zip(axes[0], dims):
            r = rates[rates["dimension"] == dim]
            if dim == "lifecycle_stage":
                order = {s: i for i, s in enumerate(("new", "established", "won_back"))}
                r = r.assign(_o=r["segment"].map(order).fillna(9)).sort_values(["_o", "segment"], kind="stable")
            names = [stage_name(s) if dim == "lifecycle_stage" else str(s) for s in r["segment"]]
            x = np.arange(len(r))
            colours = [UP if v > base_rate else "#5d6d7e" for v in r["churn_rate"]]
            ax.bar(x, r["churn_rate"], color=colours, width=0.6)
            ax.axhline(base_rate, color="#333333", lw=1, ls="--", label=f"all customers: {base_rate:.1%}")
            ax.legend(frameon=False, loc="upper right")
            for xi, v in enumerate(r["churn_rate"]):
                ax.text(xi, v, f"{v:.1%}", ha="center", va="bottom", fontsize=8)
            ax.set_xticks(x, [_wrap(n, 14, 2) for n in names], fontsize=9)
            ax.set_ylim(0, max(float(r["churn_rate"].max()), base_rate) * 1.3 or 0.01)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}" if v >= 0.1 or v == 0 else f"{v:.1%}"))
            ax.set(
                ylabel=f"left within {horizon_days} days",
                title=f"Churn rate by {'lifecycle stage' if dim == 'lifecycle_stage' else 'plan'} (history)",
            )
        fig.tight_layout()
        return _png(fig)


def winback_values(table: pd.DataFrame, gate: float = 0.0) -> bytes:
    """Expected value of winning each listed customer back, by cause at churn; the dashed line is the gate."""
    if table.empty:
        return _empty("Win-back: expected value", "No customer churned in the win-back window.")
    with _style():
        fig, ax = new_figure(figsize=(7.5, 3.6))
        values = table["expected_value"].to_numpy(dtype=float)
        edges = np.histogram_bin_edges(values, bins=30)
        bottom = np.zeros(len(edges) - 1)
        for cause in CAUSE_ORDER:
            counts, _ = np.histogram(values[table["cause_at_churn"].to_numpy() == cause], bins=edges)
            ax.bar(edges[:-1], counts, width=np.diff(edges), bottom=bottom, align="edge", color=FAMILY_HEX[cause], label=cause_name(cause))
            bottom += counts
        ax.axvline(gate, color="#333333", linewidth=1.2, linestyle="--")
        ax.set_xlabel("expected value of a win-back attempt (return probability x months x margin - cost)")
        ax.set_ylabel("customers")
        ax.set_title("Win-back: who is worth the attempt (right of the dashed line)")
        ax.legend(loc="upper right", frameon=False)
        fig.tight_layout()
        return _png(fig)


# ---------------------------------------------------------------------------------------------- monitoring


def run_trends(runs: pd.DataFrame) -> bytes:
    """Expected leavers and flagged customers per kept run, and the flagged customers' causes."""
    if runs.empty:
        return _empty("Risk and flags over the kept runs", "no run history yet: score to the same --out every night")
    with _style():
        fig, (top, bottom) = new_figure(2, 1, figsize=(10, 6.4))
        x = np.arange(len(runs))
        labels = [str(d) for d in runs["as_of"]]
        top.plot(x, runs["expected_leavers"], marker="o", color=UP, label="expected leavers")
        top.plot(x, runs["flagged"], marker="s", color="#34495e", label="flagged customers")
        top.set(ylabel="customers", title="Expected leavers and flagged customers per run")
        top.set_ylim(bottom=0)
        top.legend(frameon=False, loc="lower left")
        base = np.zeros(len(runs))
        for cause in CAUSE_ORDER:
            values = runs[cause].to_numpy(dtype=float)
            bottom.bar(x, values, bottom=base, color=FAMILY_HEX[cause], label=cause_name(cause), width=0.6)
            base += values
        bottom.set(ylabel="flagged customers", title="Flagged customers by primary cause per run")
        bottom.legend(title="primary cause", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        step = max(1, len(x) // 12)  # at most about a dozen dates on the axis
        for ax in (top, bottom):
            ax.set_xticks(x[::step], labels[::step], rotation=30, ha="right")
        fig.tight_layout()
        return _png(fig)


def drift_bars(drift: pd.DataFrame, top: int = 20) -> bytes:
    """PSI against training for the most drifted features (the drift table's order), coloured by status."""
    with _style():
        d = drift.head(top).iloc[::-1]
        colours = {"drifted": UP, "moving": "#e67e22", "stable": "#aab7c4"}
        fig, ax = new_figure(figsize=(10, 0.42 * len(d) + 1.6))
        ax.barh(np.arange(len(d)), d["psi"].fillna(0.0), color=[colours.get(s, GREY) for s in d["status"]], height=0.7)
        ax.set_yticks(np.arange(len(d)), [_wrap(t, 56, 2) for t in d["label"]])
        ax.set(xlabel="PSI against the training reference", title=f"Drift: the {len(d)} most drifted features")
        ax.grid(axis="y", visible=False)
        ax.legend([Patch(color=c) for c in colours.values()], list(colours), frameon=False, loc="lower right")
        fig.tight_layout()
        return _png(fig)


def realised_performance(backtest: pd.DataFrame) -> bytes:
    """Matured runs: predicted against observed churn rate, and expected against realised ROC-AUC."""
    b = backtest[backtest["matured"].astype(bool)]
    with _style():
        fig, (left, right) = new_figure(1, 2, figsize=(11, 3.8))
        x = np.arange(len(b))
        labels = [str(d) for d in b["as_of"]]
        left.plot(x, b["predicted_churn_rate"], marker="o", color="#34495e", label="predicted")
        left.plot(x, b["observed_churn_rate"], marker="s", color=UP, label="observed")
        left.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1%}"))
        left.set(ylabel="churn rate in the horizon", title="Predicted against observed churn")
        left.set_ylim(bottom=0)
        right.plot(x, b["expected_roc_auc"], marker="o", color="#34495e", label="expected (no outcomes)")
        right.plot(x, b["roc_auc"], marker="s", color=UP, label="realised")
        right.set(ylabel="ROC-AUC", title="Expected against realised ROC-AUC")
        step = max(1, len(x) // 8)
        for ax in (left, right):
            ax.set_xticks(x[::step], labels[::step], rotation=30, ha="right")
            ax.legend(frameon=False)
        fig.tight_layout()
        return _png(fig)


def remedies(by_action: pd.DataFrame, matched: pd.DataFrame) -> bytes:
    """Uplift per action and cause with its interval, and matched against mismatched remedies."""
    with _style():
        return _png(outcomes_figure(by_action.dropna(subset=["uplift"]), matched.dropna(subset=["uplift"])))
