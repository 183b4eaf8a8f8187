"""Plain-language names for features, causes, actions and stages, as analysts read them in the report."""

from __future__ import annotations

import math
import string
from collections.abc import Mapping

from churnml.features import FeatureSpec, feature_label
from churnml.remedies import remedy

CAUSE_NAMES = {"price": "Price", "service": "Service", "other": "Other"}
CAUSE_MEANING = {
    "price": "price rises, prices above what new customers pay, a plan that does not fit, billing complaints",
    "service": "support waits and repeat contacts, unresolved issues, complaints, technical faults, low survey scores",
    "other": "tenure, lifecycle, usage volume and customer attributes: neither price nor service explains the risk",
}
STAGE_NAMES = {"new": "New", "established": "Established", "won_back": "Won back"}
FAMILY_HEX = {"price": "#d95f02", "service": "#1b9e77", "other": "#7570b3"}


def action_name(code: str) -> str:
    found = remedy(str(code))
    return found.label if found is not None else str(code).replace("_", " ").capitalize()


def action_meaning(code: str) -> str:
    found = remedy(str(code))
    return found.meaning if found is not None else ""


def stage_name(code: str) -> str:
    return STAGE_NAMES.get(str(code), str(code).replace("_", " ").capitalize())


def cause_name(code: str) -> str:
    return CAUSE_NAMES.get(str(code), str(code).capitalize() if code else "—")


def _value_field(spec: FeatureSpec) -> tuple[str, bool]:
    """The format spec of the template's value field and whether a literal ``%`` follows it."""
    parts = list(string.Formatter().parse(spec.template))
    for k, (_, field, fmt, _) in enumerate(parts):
        if field in ("value", "abs"):
            after = parts[k + 1][0] if k + 1 < len(parts) else ""
            return fmt or "", bool(after) and after.startswith("%")
    return "", False


def format_number(value: float) -> str:
    """A readable number: integers as integers, else two significant decimals at most."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    v = float(value)
    if abs(v) >= 100:
        text = f"{v:,.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    else:
        text = f"{v:.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_feature_value(spec: FeatureSpec | None, value: float) -> str:
    """A feature's (average) value in the unit its reason uses: ``42%`` for shares, ``1.3`` for counts."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if spec is not None and spec.kind == "flag":
        return f"{value:.0%}"
    if spec is None:
        return format_number(value)
    fmt, percent_after = _value_field(spec)
    if fmt.endswith("%"):
        return f"{value:.0%}"
    return format_number(value) + ("%" if percent_after else "")


def labels_for(names: list[str], registry: Mapping[str, FeatureSpec]) -> dict[str, str]:
    return {n: feature_label(registry.get(n), n) for n in names}
