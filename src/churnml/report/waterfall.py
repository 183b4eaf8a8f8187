"""A customer's waterfall chart drawn directly with Pillow: about 50 times faster than matplotlib.

A report has one of these per flagged customer (hundreds), so each must take milliseconds. The chart reads from
top to bottom: the model's average customer, each of the largest contributions with the customer's own value
(red raises the risk, blue lowers it, labels coloured by cause family), the rest summed, and this customer.
The axis shows probabilities on a log-odds scale, which is the scale the contributions add up on.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from churnml.report.labels import FAMILY_HEX

WIDTH = 1000
ROW = 30
LABEL_RIGHT = 520
PLOT_LEFT, PLOT_RIGHT = 540, 975
TOP = 46
UP, DOWN = "#c0392b", "#2e86c1"
INK, MUTED, GRID = "#1f2d3d", "#6b7785", "#e3e7ec"
NICE = np.array(
    [
        0.001,
        0.002,
        0.005,
        0.01,
        0.015,
        0.02,
        0.03,
        0.04,
        0.05,
        0.06,
        0.08,
        0.1,
        0.12,
        0.15,
        0.2,
        0.25,
        0.3,
        0.4,
        0.5,
        0.6,
        0.7,
        0.75,
        0.8,
        0.85,
        0.9,
        0.95,
        0.98,
        0.99,
        0.995,
        0.999,
    ]
)


@lru_cache(maxsize=8)
def _font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(folder / name), size)
    except OSError:  # pragma: no cover - matplotlib always ships DejaVu
        return ImageFont.load_default(size)


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid] + "…") <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


def _pct(p: float) -> str:
    return f"{p:.1%}" if p < 0.1 else f"{p:.0%}" if p < 0.995 else f"{p:.1%}"


def waterfall_png(contributions: pd.DataFrame, base_log_odds: float, top: int = 12) -> bytes:
    """PNG bytes of the waterfall; ``contributions`` holds ``meaning``, ``family``, ``contribution``, largest first."""
    c = contributions.reset_index(drop=True)
    head, rest = c.head(top), c.iloc[top:]
    labels = [f"{m}" for m in head["meaning"].astype(str)]
    tags = [str(f) for f in head["family"]]
    values = [float(v) for v in head["contribution"]]
    if len(rest):
        labels.append(f"{len(rest)} other factors together")
        tags.append("")
        values.append(float(rest["contribution"].sum()))
    n = len(values)
    start = float(base_log_odds)
    path = start + np.r_[0.0, np.cumsum(values)]
    end = float(path[-1])
    lo, hi = float(path.min()), float(path.max())
    span = max(hi - lo, 0.25)
    x0, x1 = lo - span * 0.06, hi + span * 0.22

    def X(v: float) -> float:
        return PLOT_LEFT + (v - x0) / (x1 - x0) * (PLOT_RIGHT - PLOT_LEFT)

    height = TOP + ROW * (n + 2) + 74
    img = Image.new("RGB", (WIDTH, height), "white")
    d = ImageDraw.Draw(img)
    f, fb, fs = _font(13), _font(13, True), _font(11)

    # axis: probabilities at round values, spaced evenly on the log-odds scale
    axis_y = TOP + ROW * (n + 2) + 4
    inside = NICE[(_logit(NICE) >= x0) & (_logit(NICE) <= x1)]
    ticks: list[float] = []
    for p in inside:
        if not ticks or _logit(np.array(p)) - _logit(np.array(ticks[-1])) >= (x1 - x0) / 7:
            ticks.append(float(p))
    for p in ticks:
        x = X(float(_logit(np.array(p))))
        d.line([(x, TOP - 6), (x, axis_y)], fill=GRID, width=1)
        d.line([(x, axis_y), (x, axis_y + 5)], fill=MUTED, width=1)
        d.text((x, axis_y + 8), _pct(p), font=fs, fill=MUTED, anchor="mt")
    d.line([(PLOT_LEFT, axis_y), (PLOT_RIGHT, axis_y)], fill=MUTED, width=1)
    d.text(
        ((PLOT_LEFT + PLOT_RIGHT) / 2, axis_y + 26),
        "model probability (log-odds scale, before calibration)",
        font=fs,
        fill=MUTED,
        anchor="mt",
    )
    d.text((8, 10), "From the average customer to this one: what moves the risk", font=_font(15, True), fill=INK)

    def row_y(i: int) -> float:
        return TOP + ROW * i + ROW / 2

    sx = X(start)
    d.line([(sx, TOP - 6), (sx, axis_y)], fill="#9aa5b1", width=1)
    # baseline
    y = row_y(0)
    d.text((LABEL_RIGHT, y), "average customer (model baseline)", font=f, fill=INK, anchor="rm")
    d.regular_polygon((sx, y, 7), 4, rotation=45, fill="#7f8c8d")
    d.text((sx + 12, y), _pct(_sigmoid(start)), font=fb, fill=INK, anchor="lm")
    cum = start
    for i, (label, tag, v) in enumerate(zip(labels, tags, values), start=1):
        y = row_y(i)
        text = label + (f"  [{tag}]" if tag else "")
        d.text((LABEL_RIGHT, y), _fit(text, f, LABEL_RIGHT - 8), font=f, fill=FAMILY_HEX.get(tag, INK), anchor="rm")
        a, b = sorted((X(cum), X(cum + v)))
        d.rectangle([a, y - 9, max(b, a + 2), y + 9], fill=UP if v > 0 else DOWN)
        d.text((max(b, a + 2) + 6, y), f"{v:+.2f}", font=fs, fill=MUTED, anchor="lm")
        cum += v
    # this customer
    y = row_y(n + 1)
    ex = X(end)
    d.text((LABEL_RIGHT, y), "this customer (model score)", font=fb, fill=INK, anchor="rm")
    d.regular_polygon((ex, y, 7), 4, rotation=45, fill="#34495e")
    d.text((ex + 12, y), _pct(_sigmoid(end)), font=fb, fill=INK, anchor="lm")
    # legend
    ly = height - 18
    d.rectangle([PLOT_LEFT, ly - 6, PLOT_LEFT + 12, ly + 6], fill=UP)
    d.text((PLOT_LEFT + 18, ly), "raises risk", font=fs, fill=INK, anchor="lm")
    d.rectangle([PLOT_LEFT + 110, ly - 6, PLOT_LEFT + 122, ly + 6], fill=DOWN)
    d.text((PLOT_LEFT + 128, ly), "lowers risk", font=fs, fill=INK, anchor="lm")
    lx = 8
    d.text((lx, ly), "label colour = cause family:", font=fs, fill=MUTED, anchor="lm")
    lx += int(fs.getlength("label colour = cause family:")) + 8
    for fam in ("price", "service", "other"):
        d.text((lx, ly), fam, font=_font(11, True), fill=FAMILY_HEX[fam], anchor="lm")
        lx += int(_font(11, True).getlength(fam)) + 12

    buf = io.BytesIO()
    img.quantize(colors=128, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(buf, format="PNG")
    return buf.getvalue()
