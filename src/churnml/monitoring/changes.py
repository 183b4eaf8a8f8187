"""Why a customer's risk moved since the previous run, split by cause family.

TreeSHAP contributions add up to the model's log-odds: log_odds(x) = base + sum_j phi_j(x). With the same model on
both nights, the change in log-odds is therefore exactly the change of each family's summed contributions,
``sum_F [Phi_F(today) - Phi_F(before)]``. When the model changed, today's model is also explained on the previous
features, and the change splits into the families' parts under today's model plus a model term
``log_odds_today_model(before) - log_odds_before``, so the parts still add up to the whole change.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from churnml.features import FeatureSpec, render_reason

FAMILY_NAMES = ("price", "service", "other")
MODEL = "model"  # the change cause when a new model, not the customer's data, moved the risk most
# A change in log-odds this small is rounding of the same prediction (contributions that moved in opposite ways).
_NO_CHANGE = 1e-9


def family_sums(contributions: np.ndarray, families: Sequence[str]) -> np.ndarray:
    """Each row's contributions summed per family (columns price, service, other); any other family counts as other."""
    c = np.asarray(contributions, dtype=float)
    fam = np.array([f if f in FAMILY_NAMES else "other" for f in families])
    return np.column_stack([c[:, fam == name].sum(axis=1) for name in FAMILY_NAMES]) if c.size else np.zeros((len(c), 3))


def largest_change(parts: np.ndarray, model_term: np.ndarray | None = None) -> np.ndarray:
    """The family whose part moved the log-odds most in the direction of the whole change (``model`` when the model
    term did); "" where nothing moved."""
    parts = np.asarray(parts, dtype=float)
    n = len(parts)
    model_term = np.zeros(n) if model_term is None else np.asarray(model_term, dtype=float)
    every = np.column_stack([parts, model_term])
    total = every.sum(axis=1)
    names = np.array([*FAMILY_NAMES, MODEL], dtype=object)
    lead = np.argmax(every * np.sign(total)[:, None], axis=1)
    out = names[lead]
    out[(np.abs(total) <= _NO_CHANGE) | ~np.isfinite(total)] = ""
    return out


def _value_format(spec: FeatureSpec | None) -> str:
    """The format spec the reason template gives its value (``{value:.1f}``: ``.1f``), "" for none."""
    if spec is None:
        return ""
    for _, field_name, format_spec, _ in string.Formatter().parse(spec.template):
        if field_name == "value":
            return format_spec or ""
    return ""


def _value_text(value: object, format_spec: str = "") -> str:
    """A previous value as the reason shows today's: the template's format, else whole or with two decimals."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "none"
    if isinstance(value, str):
        return value
    number = float(value)  # type: ignore[arg-type]
    if format_spec and not (math.isfinite(number) and number.is_integer() and format_spec.endswith("d")):
        try:
            return format(number, format_spec)
        except ValueError:
            pass
    if math.isfinite(number) and number.is_integer():
        return str(int(number))
    return f"{number:.2f}".rstrip("0").rstrip(".")


def _changed(before: pd.Series, after: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(before.dtype) and pd.api.types.is_numeric_dtype(after.dtype):
        b, a = before.to_numpy(dtype=float), after.to_numpy(dtype=float)
        return ~((b == a) | (np.isnan(b) & np.isnan(a)))
    b, a = before.astype(object).to_numpy(), after.astype(object).to_numpy()  # categories: compared as text
    b_missing, a_missing = pd.isna(b), pd.isna(a)
    same = (b_missing & a_missing) | (~b_missing & ~a_missing & (b == a))
    return ~same


def change_reasons(
    cause: np.ndarray,
    direction: np.ndarray,
    contributions: np.ndarray,
    before: pd.DataFrame,
    after: pd.DataFrame,
    registry: Mapping[str, FeatureSpec],
) -> np.ndarray:
    """A plain-language reason per row for the move of its ``cause`` family: the feature of that family whose value
    changed and that now pushes hardest in the ``direction`` of the change (+1 up, -1 down), with both values
    ("3 support contacts with waits over 20 min in the last 30 days (was 0)"). "" where no value of the family
    changed (or the cause is the model). ``contributions``, ``before`` and ``after`` share their columns' order."""
    names = list(after.columns)
    n = len(after)
    out = np.full(n, "", dtype=object)
    cause = np.asarray(cause, dtype=object)
    family = np.array([registry[c].family.value if c in registry else "other" for c in names], dtype=object)
    changed = np.column_stack([_changed(before[c], after[c]) for c in names]) if names else np.zeros((n, 0), bool)
    key = np.where(changed & (family[None, :] == cause[:, None]), np.asarray(contributions, float) * np.sign(direction)[:, None], -np.inf)
    best = np.argmax(key, axis=1) if names else np.zeros(n, dtype=int)
    found = np.isfinite(key[np.arange(n), best]) if names else np.zeros(n, bool)
    for j in np.unique(best[found]):  # a loop over features, each vectorised over its rows
        rows = np.flatnonzero(found & (best == j))
        spec = registry.get(names[j])
        # Each distinct value is worded once, today's and the previous apart: far fewer than the distinct pairs.
        now, now_values = pd.factorize(after.iloc[rows, j].astype(object).to_numpy(), use_na_sentinel=False)
        was, was_values = pd.factorize(before.iloc[rows, j].astype(object).to_numpy(), use_na_sentinel=False)
        shown = _value_format(spec)
        now_texts = np.array([render_reason(spec, a) if spec else names[j].replace("_", " ") + " " + _value_text(a) for a in now_values],
                             dtype=object)
        was_texts = np.array([f" (was {_value_text(b, shown)})" for b in was_values], dtype=object)
        out[rows] = now_texts[now] + was_texts[was]
    return out
