"""What a feature builder declares: each feature's name, cause family, healthy reference and reason template
(:class:`FeatureSpec`), and the builder itself as :func:`churnml.features.build_features` runs it (:class:`Builder`).

Every builder module ends with one ``BUILDER = Builder(...)``: its features are declared next to the code that
computes them, and :func:`churnml.features.builders` finds every builder of the package, so a new log table's
features touch the schema, their own module, a test and (with parameters) the config, nothing else.

Each pain feature declares its **healthy reference**: the value of a customer nothing is wrong with (no rise, paying
what new customers pay, no unresolved contact), with the direction in which it hurts. Causes are measured as what
moving a family's features from the reference to the customer's values adds to the risk, and a reason cites only a
value that departs from the reference in the harmful direction. Features without a reference (tenure, plan, who the
customer is) are *context*: they set how much a pain hurts this customer and never count as a pain themselves.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from churnml.config import ChurnConfig, Family
from churnml.dataset import Dataset
from churnml.features._common import window_name

PLAN_MISMATCH = "plan_mismatch"
SHARED_INCIDENT = "shared_incident"

COUNT, NUMBER, FLAG, CATEGORY = "count", "number", "flag", "category"
HIGHER, LOWER, AWAY = "higher", "lower", "away"  # which departures from the reference hurt
NO_EVENT = math.nan  # reference of a feature that is missing when nothing happened (no contact, no survey)
INF = math.inf


@dataclass(frozen=True)
class FeatureSpec:
    """One feature. ``template`` is a ``str.format`` string; see :func:`render_reason` for its fields."""

    name: str
    family: Family
    template: str
    source: str  # the table it is computed from
    kind: str = NUMBER  # count, number, flag or category
    group: str | None = None  # PLAN_MISMATCH or SHARED_INCIDENT
    missing: str | None = None  # the reason when the value is missing
    zero: str | None = None  # the reason when the value is 0, where the template would read oddly
    reference: float | str | tuple[str, ...] | None = None  # healthy value(s) (NO_EVENT: missing); None = context
    hurts: str | None = None  # HIGHER, LOWER or AWAY from the reference
    neutral: tuple[float, float] | None = None  # values still healthy; default: the reference's healthy side
    # The feature's plain name as people read it: a customers column's original header, or a plain noun phrase for a
    # computed feature. Default: derived from the template.
    label: str | None = None

    @property
    def context(self) -> bool:
        """No healthy reference: part of who the customer is, never a pain of its own."""
        return self.reference is None

    def neutral_range(self) -> tuple[float, float] | None:
        """Closed interval of healthy numeric values; None where only the reference itself is healthy."""
        if self.neutral is not None:
            return self.neutral
        if not isinstance(self.reference, float) or math.isnan(self.reference):
            return None
        r = float(self.reference)
        return {HIGHER: (-INF, r), LOWER: (r, INF)}.get(self.hurts or AWAY, (r, r))

    @property
    def plan_mismatch(self) -> bool:
        return self.group == PLAN_MISMATCH

    @property
    def shared_incident(self) -> bool:
        return self.group == SHARED_INCIDENT


NONE_IS_HEALTHY: dict[str, Any] = {"reference": 0.0, "hurts": HIGHER}  # counts, sizes, scores of failures


def recent(days: int) -> dict[str, Any]:
    """Days since the latest event: healthy when there is none, or when it is at least ``days`` old."""
    return {"reference": NO_EVENT, "hurts": LOWER, "neutral": (float(days), INF)}


def per_window(
    config: ChurnConfig, stem: str, family: Family, what: str, source: str, group: str | None = None
) -> list[FeatureSpec]:
    """One count feature ``{stem}_{w}d`` per window, read as "{value} {what} in the last {w} days"."""
    return [
        FeatureSpec(
            window_name(stem, w), family, f"{{value}} {what} in the last {w} days", source, COUNT, group, **NONE_IS_HEALTHY
        )
        for w in config.features.windows_days
    ]


BuildFn = Callable[[Dataset, pd.Index, pd.Timestamp, ChurnConfig, Any], pd.DataFrame]


@dataclass(frozen=True)
class Builder:
    """One feature builder: ``build(dataset, customers, as_of, config, context)`` gives the features of
    ``customers`` (one row each, in their order) that ``specs(config)`` declares, in that column order. ``order``
    places its columns among the other builders' (the registry and the feature frame follow it)."""

    name: str
    order: int
    build: BuildFn
    specs: Callable[[ChurnConfig], list[FeatureSpec]]


class _LabelFormatter(string.Formatter):
    """Renders a reason template that opens with its value as a label: the value is dropped, plurals stay plural."""

    def get_value(self, key, args, kwargs):
        return kwargs.get(key, "")

    def format_field(self, value, format_spec):
        return str(value)


_LABELS = _LabelFormatter()


def _opens_with_value(template: str) -> bool:
    first = next(iter(string.Formatter().parse(template)), None)
    return first is not None and first[0] == "" and first[1] in ("value", "abs")


def feature_label(spec: FeatureSpec | None, name: str) -> str:
    """A feature's plain name, with no number in it: ``support contacts in the last 30 days``, ``monthly price``.

    The registry's ``label`` where it declares one; else a flag's statement, a category's name, or a count's
    reason without its leading value."""
    if spec is None:
        return name.replace("_", " ")
    if spec.label is not None:
        # A header that is already a safe name (payment_method) reads better with spaces.
        return spec.label.replace("_", " ") if spec.label == name else spec.label
    if spec.kind == "flag":
        return spec.template.split(":")[0].strip()
    if spec.kind == "category" or spec.source == "customers" or not _opens_with_value(spec.template):
        return name.replace("_", " ")
    try:
        return " ".join(_LABELS.format(spec.template, s="s").split())
    except (KeyError, ValueError, IndexError):
        return name.replace("_", " ")
