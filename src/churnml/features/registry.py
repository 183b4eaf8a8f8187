"""The one feature registry: every feature's name, cause family, healthy reference and plain-language reason.

Explanations turn a feature's contribution into a reason with the customer's own value ("4 support contacts with
waits over 20 min in the last 30 days"), and the remedy playbook sums contributions per cause family. Price
features marked ``plan_mismatch`` and service features marked ``shared_incident`` let it tell a plan review from a
retention offer and an incident update from a manager's call.

Each builder module declares its own features (:mod:`churnml.features.spec`); :func:`builders` finds them all and
:func:`feature_registry` lists their features in column order, then the static attributes of ``customers``.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Mapping
from functools import cache
from typing import Any

import pandas as pd

from churnml.config import ChurnConfig, Family
from churnml.features.spec import (
    AWAY,
    CATEGORY,
    FLAG,
    NUMBER,
    PLAN_MISMATCH,
    SHARED_INCIDENT,
    Builder,
    FeatureSpec,
)
from churnml.features.static import is_numeric_attribute, static_feature_names

__all__ = ["PLAN_MISMATCH", "SHARED_INCIDENT", "Builder", "FeatureSpec", "builders", "feature_registry", "render_reason"]


@cache
def builders() -> tuple[Builder, ...]:
    """Every ``BUILDER`` a module of :mod:`churnml.features` declares, in column order: a new module is found
    without being listed anywhere. Imported on the first call, not when the package is."""
    package = importlib.import_module("churnml.features")
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        builder = getattr(importlib.import_module(f"{package.__name__}.{info.name}"), "BUILDER", None)
        if isinstance(builder, Builder):
            found.append(builder)
    return tuple(sorted(found, key=lambda b: (b.order, b.name)))


def feature_registry(config: ChurnConfig, static_columns: Mapping[str, Any] | None = None) -> dict[str, FeatureSpec]:
    """Every feature :func:`churnml.features.build_features` emits, in its column order.

    ``static_columns`` maps the ``customers`` attribute columns to their dtypes (``dataset.customers.dtypes``);
    without it the registry has no static attributes.
    """
    registry = {s.name: s for b in builders() for s in b.specs(config)}
    if static_columns:
        registry.update(_static_specs(config, static_columns, reserved=registry.keys()))
    return registry


def _static_specs(config: ChurnConfig, columns: Mapping[str, Any], reserved: Any) -> dict[str, FeatureSpec]:
    names = static_feature_names(columns, config.ignore_static_attributes, reserved)
    out = {}
    for col, name in names.items():
        kind = NUMBER if is_numeric_attribute(columns[col]) else CATEGORY
        family = config.static_attribute_families.get(col, Family.OTHER)
        reference: Any = config.static_attribute_references.get(col)
        if isinstance(reference, list):  # several healthy levels; the first stands for them all
            reference = tuple(str(r) for r in reference)
        elif reference is not None:
            reference = float(reference) if kind == NUMBER else str(reference)
        header = str(col).replace("{", "{{").replace("}", "}}")  # a literal brace in a header is no template field
        out[name] = FeatureSpec(
            name,
            Family(family),
            f"{header} is {{value}}",
            "customers",
            kind,
            missing=f"{col} unknown",
            reference=reference,
            hurts=AWAY if reference is not None else None,
            label=str(col),
        )
    return out


class _Shown(float):
    """A number in a reason: without a format spec it prints as an integer when whole, else with at most two
    decimals; with one (``{value:.1f}``), as that spec says. Templates run through ``str.format``, which calls this."""

    def __format__(self, format_spec: str) -> str:
        if not format_spec:
            return f"{float(self):.2f}".rstrip("0").rstrip(".")
        return format(float(self), format_spec)


def render_reason(spec: FeatureSpec, value: Any) -> str:
    """The spec's reason with this customer's value.

    Template fields: ``value`` (whole numbers as ints, flags as yes/no), ``abs`` (its magnitude), ``s`` (plural
    ending), ``up_down`` and ``more_less`` (its sign in words). Missing values use ``spec.missing``, zeros
    ``spec.zero`` when set.
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return spec.missing or f"{spec.name.replace('_', ' ')} unknown"
    if spec.kind == CATEGORY or isinstance(value, str):
        return spec.template.format(value=str(value), abs=str(value), s="s", up_down="", more_less="")
    number = float(value)
    if spec.kind == FLAG:
        return spec.template.format(value="yes" if number else "no", abs="", s="s", up_down="", more_less="")
    if number == 0 and spec.zero:
        return spec.zero
    whole = math.isfinite(number) and number.is_integer()
    shown: int | float = int(number) if whole else _Shown(number)
    magnitude: int | float = abs(int(number)) if whole else _Shown(abs(number))
    return spec.template.format(
        value=shown,
        abs=magnitude,
        s="" if magnitude == 1 else "s",
        up_down="up" if number > 0 else "down" if number < 0 else "unchanged",
        more_less="more" if number > 0 else "less" if number < 0 else "no more",
    )
