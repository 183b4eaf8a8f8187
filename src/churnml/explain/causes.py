"""Why a customer is at risk: exact Shapley values of the three cause families against a healthy reference.

A customer's cause is not read from how their features compare with the population average (that names whatever
dominates the portfolio: if most customers pay more than new ones, paying the same as new customers looks like a
risk). Instead each pain feature has a healthy reference in the registry (no rise, paying what new customers pay,
no unresolved contact) and the direction in which it hurts. The model is asked what the customer's risk would be
with each combination of the three families, price, service and other, moved back to health: 2^3 = 8 values per
customer (fewer predictions: a customer without a harmful value in the families moved keeps their own risk). Only
harmful departures move (a survey score of 9 or a rise a year ago is already healthy and stays), so a neutral
value can never carry risk. The Shapley value of a family is its average added risk over the orders in
which the families can be added; the parts add up exactly to the customer's risk minus their risk in health.

Context features (tenure, plan, who the customer is) stay at the customer's own values throughout: they change how
much a pain hurts this customer, but they are not a pain the remedy can fix. The risk the customer would have with
every pain healed counts toward the `other` part at ``cause.healed_risk_weight`` (a quarter by default): a customer
with no pain leaves, if at all, for other reasons, but a tree model credits part of a pain's risk to who the customer
is, and that part stays when the pain is healed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from churnml.config import CauseConfig, ChurnConfig, Family
from churnml.explain.reasons import choose_reasons
from churnml.features import FeatureSpec
from churnml.modeling.bundle import ModelBundle

FAMILIES = (Family.PRICE, Family.SERVICE, Family.OTHER)


def player_references(
    registry: Mapping[str, FeatureSpec], feature_names: list[str], typical: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The reference of every feature that takes part in the attribution (context features are left out).

    A `price` or `service` attribute of the customers table without a configured reference is measured against
    ``typical`` (its most common training value, kept in the model bundle).
    """
    out: dict[str, Any] = {}
    for name in feature_names:
        spec = registry.get(name)
        if spec is None:
            continue
        if spec.reference is not None:
            out[name] = spec.reference
        elif spec.source == "customers" and spec.family is not Family.OTHER and typical and name in typical:
            out[name] = math.nan if typical[name] is None else typical[name]
    return out


def _at_reference(
    X: pd.DataFrame, columns: list[str], references: Mapping[str, Any], departs: np.ndarray
) -> pd.DataFrame:
    """``X`` with the harmful departures (``departs``, by column position) of ``columns`` moved to the reference.

    Only a harmful value is a pain to take away: a healthy one (no contact, a survey score of 9, a rise long ago)
    and a missing one stay as they are, so a neutral value can never carry any part of the risk.
    """
    out = X.copy()
    position = {c: j for j, c in enumerate(X.columns)}
    for c in columns:
        ref, col, move = references[c], out[c], departs[:, position[c]]
        if not move.any():
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            ref = ref[0] if isinstance(ref, tuple) else ref  # the first healthy level stands for them all
            level = ref if ref in col.cat.categories else None
            values = np.array(col.astype(object), dtype=object)  # a writable copy
            values[move] = level
            out[c] = pd.Categorical(values, categories=col.cat.categories)
        else:
            values = col.to_numpy(dtype=float, copy=True)
            values[move] = float(ref)  # NaN for a "no such event" reference
            out[c] = values
    return out


def family_values(
    predict: Callable[[pd.DataFrame], np.ndarray],
    X: pd.DataFrame,
    registry: Mapping[str, FeatureSpec],
    references: Mapping[str, Any],
    departs: np.ndarray,
    own: np.ndarray | None = None,
    codes: bool = False,
    subsets: Iterable[frozenset[Family]] | None = None,
) -> dict[frozenset[Family], np.ndarray]:
    """The risk of every row with exactly the families in each subset at the customer's values, the rest at the
    reference: 2^3 = 8 values per row (only ``subsets`` and all three, where given). ``predict`` maps a prepared
    feature frame (``X``, columns in model order) to probabilities; ``departs`` is :func:`harmful_departures` of
    the same rows and columns; ``own`` the rows' own probabilities, ``predict(X)``, where the caller has them.

    It is :func:`change_values` between the customer's values and the same values with every harmful departure
    moved to health: a row with no harmful departure among the families moved is unchanged by the move, so its
    value is its own probability and only the other rows are predicted."""
    pains = [c for c in X.columns if c in references]
    healthy = _at_reference(X, pains, references, departs)
    return change_values(predict, X, healthy, {c: registry[c].family for c in pains}, own, codes=codes, subsets=subsets)


def change_values(
    predict: Callable[[pd.DataFrame], np.ndarray],
    now: pd.DataFrame,
    before: pd.DataFrame,
    family_of: Mapping[str, Family],
    own: np.ndarray | None = None,
    base: np.ndarray | None = None,
    codes: bool = False,
    subsets: Iterable[frozenset[Family]] | None = None,
) -> dict[frozenset[Family], np.ndarray]:
    """The model's output for every row with exactly the families in each subset at today's values (``now``) and
    the others at the previous run's (``before``, same rows and columns, both prepared): 2^3 values per row, the
    input of :func:`family_parts` for why a score moved. Every column counts in its family (``family_of``; other
    when absent), context too, so the parts add up to ``predict(now) - predict(before)``. Only rows where a moved
    family's values differ are predicted; ``own`` is ``predict(now)`` and ``base`` ``predict(before)`` where the
    caller has them (the previous run's own output, when the model is the same). With ``codes``, ``predict`` is
    handed the mixed vectors as a matrix, categories as codes of ``now``'s levels (:meth:`ModelBundle.predict_codes`)
    instead of frames. With ``subsets``, only those (and all three families) are computed."""
    columns = list(now.columns)
    member = {f: [j for j, c in enumerate(columns) if family_of.get(c, Family.OTHER) is f] for f in FAMILIES}
    levels = {c: now[c].cat.categories for c in columns if isinstance(now[c].dtype, pd.CategoricalDtype)}

    def matrix(frame: pd.DataFrame) -> np.ndarray:  # categories as their codes (both frames share the levels)
        return np.column_stack([
            frame[c].cat.set_categories(levels[c]).cat.codes.to_numpy(dtype=float) if c in levels else frame[c].to_numpy(dtype=float)
            for c in columns
        ]) if columns else np.zeros((len(frame), 0))

    A, B = matrix(now), matrix(before)
    for j, c in enumerate(columns):
        if c in levels:
            A[A[:, j] < 0, j], B[B[:, j] < 0, j] = np.nan, np.nan
    differs = ~((A == B) | (np.isnan(A) & np.isnan(B)))

    def frame_of(Z: np.ndarray) -> pd.DataFrame:
        out = pd.DataFrame(Z, columns=columns, copy=False)
        for j, c in enumerate(columns):
            if c in levels:
                codes = np.where(np.isnan(Z[:, j]), -1, Z[:, j]).astype(np.int64)
                out[c] = pd.Categorical.from_codes(codes, categories=levels[c])
        return out

    own = np.asarray(predict(A if codes else now), dtype=float) if own is None else np.asarray(own, dtype=float)
    value: dict[frozenset[Family], np.ndarray] = {frozenset(FAMILIES): own}
    if base is not None:
        value[frozenset()] = np.asarray(base, dtype=float)
    wanted = None if subsets is None else set(subsets)
    for size in range(len(FAMILIES)):
        for subset in combinations(FAMILIES, size):
            if frozenset(subset) in value or (wanted is not None and frozenset(subset) not in wanted):
                continue
            away = np.array([j for f in FAMILIES if f not in subset for j in member[f]], dtype=np.int64)
            moved = np.flatnonzero(differs[:, away].any(axis=1)) if len(away) else np.zeros(0, dtype=np.int64)
            out = own.copy()
            if len(moved):
                Z = A[moved]
                Z[:, away] = B[np.ix_(moved, away)]
                out[moved] = np.asarray(predict(Z if codes else frame_of(Z)), dtype=float)
            value[frozenset(subset)] = out
    return value


def family_headroom(
    bundle: ModelBundle, X: pd.DataFrame, features: pd.DataFrame, registry: Mapping[str, FeatureSpec],
    own_log_odds: np.ndarray | None = None,
) -> np.ndarray:
    """What healing a family would take off each row's log-odds: columns price and service, floored at 0. ``X`` is
    ``bundle.prepare(features)``; ``own_log_odds`` the rows' own log-odds where the caller has them. A remedy that
    addresses a family can at most take this away (:class:`churnml.modeling.uplift.CauseUpliftModel` learns which
    share of it each action does)."""
    names = bundle.feature_names
    references = player_references(registry, names, bundle.meta.get("typical_values"))
    departs = harmful_departures(features[names], registry, references)
    everyone = frozenset(FAMILIES)
    healed = [everyone - {Family.PRICE}, everyone - {Family.SERVICE}]
    value = family_values(lambda Z: bundle.predict_codes(Z, raw_score=True), X, registry, references, departs, own_log_odds,
                          codes=True, subsets=healed)
    return np.maximum(np.column_stack([value[everyone] - value[h] for h in healed]), 0.0) if len(X) else np.zeros((0, 2))


def family_parts(value: Mapping[frozenset[Family], np.ndarray], method: str = "shapley") -> np.ndarray:
    """Each family's part of the risk (probability units, columns in :data:`FAMILIES` order) from
    :func:`family_values`.

    ``shapley``: exact Shapley values, the family's added risk averaged over every order of adding the three, so the
    parts add up to the risk minus the risk at the reference. ``alone``: what the family adds to the reference on its
    own. ``removal``: what setting only that family to the reference would take away.
    """
    n = len(FAMILIES)
    everyone, nobody = frozenset(FAMILIES), frozenset[Family]()
    parts = np.zeros((len(value[nobody]), n))
    for k, f in enumerate(FAMILIES):
        if method == "alone":
            parts[:, k] = value[frozenset({f})] - value[nobody]
        elif method == "removal":
            parts[:, k] = value[everyone] - value[everyone - {f}]
        else:
            others = [g for g in FAMILIES if g is not f]
            for size in range(n):
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                for subset in combinations(others, size):
                    s = frozenset(subset)
                    parts[:, k] += weight * (value[s | {f}] - value[s])
    return parts


def harmful_departures(
    features: pd.DataFrame, registry: Mapping[str, FeatureSpec], references: Mapping[str, Any]
) -> np.ndarray:
    """Boolean matrix: which of each customer's values depart from the healthy reference in the harmful direction.

    ``references`` is :func:`player_references`; context features never depart, and a missing value never does
    (it is unknown, or it is the "no such event" reference).
    """
    out = np.zeros(features.shape, dtype=bool)
    for j, name in enumerate(features.columns):  # a loop over features, each vectorised over customers
        if name not in references:
            continue
        ref, col = references[name], features[name]
        present = col.notna().to_numpy()
        if isinstance(ref, (str, tuple)) or not pd.api.types.is_numeric_dtype(col.dtype):
            healthy_levels = [str(r) for r in ref] if isinstance(ref, tuple) else [str(ref)]
            text = col.astype("string").to_numpy(dtype=object, na_value=None)
            out[:, j] = present & ~np.isin(text, healthy_levels)
            continue
        values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        spec = registry[name]
        healthy = spec.neutral_range() if spec.reference is not None else None
        if healthy is None:  # only the reference itself is healthy; a "no such event" reference: any event
            out[:, j] = present if math.isnan(float(ref)) else present & (values != float(ref))
        else:
            out[:, j] = present & ((values < healthy[0]) | (values > healthy[1]))
    return out


def attribute_causes(
    phi: np.ndarray,
    base: np.ndarray,
    contributions: np.ndarray,
    departs: np.ndarray,
    feature_names: list[str],
    registry: Mapping[str, FeatureSpec],
    cfg: CauseConfig,
) -> pd.DataFrame:
    """Per row: the share of risk each family carries, the primary cause and its share.

    The parts are price = its Shapley value, service = its Shapley value, other = ``cfg.healed_risk_weight`` times
    the risk at the healthy reference plus other's Shapley value (each floored at 0), as shares of their sum. ``primary_cause`` is the largest part;
    price or service only when its share also reaches ``cfg.min_share``, else ``other``. ``plan_mismatch_share``
    and ``incident_share`` are the parts of the price and service contributions (TreeSHAP, counting only values
    that depart from the reference) that plan-mismatch and shared-incident features carry; the playbook uses them.
    """
    parts = np.column_stack(
        [np.maximum(phi[:, 0], 0.0), np.maximum(phi[:, 1], 0.0), np.maximum(cfg.healed_risk_weight * base + phi[:, 2], 0.0)]
    )
    total = parts.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    share = parts / safe[:, None]
    lead = np.argmax(parts, axis=1)
    lead_share = share[np.arange(len(share)), lead]
    pain_led = (lead < 2) & (total > 0) & (lead_share >= cfg.min_share)
    names = np.array([f.value for f in FAMILIES])
    primary = np.where(pain_led, names[lead], Family.OTHER.value)
    cause_share = np.where(pain_led, lead_share, share[:, 2])

    positive = np.where(departs, np.clip(np.asarray(contributions, dtype=float), 0.0, None), 0.0)

    def _sum(select: Callable[[FeatureSpec], bool]) -> np.ndarray:
        mask = np.array([n in registry and select(registry[n]) for n in feature_names], dtype=float)
        return positive @ mask

    price = _sum(lambda s: s.family is Family.PRICE)
    service = _sum(lambda s: s.family is Family.SERVICE)
    mismatch = _sum(lambda s: s.plan_mismatch)
    incident = _sum(lambda s: s.shared_incident)
    return pd.DataFrame(
        {
            "primary_cause": primary,
            "cause_share": cause_share,
            "price_share": share[:, 0],
            "service_share": share[:, 1],
            "other_share": share[:, 2],
            "plan_mismatch_share": np.divide(mismatch, price, out=np.zeros_like(mismatch), where=price > 0),
            "incident_share": np.divide(incident, service, out=np.zeros_like(incident), where=service > 0),
        }
    )


def reason_candidates(
    contributions: np.ndarray,
    departs: np.ndarray,
    feature_names: list[str],
    references: Mapping[str, Any],
    primary: np.ndarray,
) -> np.ndarray:
    """Which contributions may become a reason: they raise the risk, and the value is a harmful departure from the
    healthy reference; for a customer whose cause is `other`, also context (who they are, how long they stayed)."""
    context = np.array([n not in references for n in feature_names])
    other = np.asarray(primary) == Family.OTHER.value
    return (np.asarray(contributions) > 0) & (departs | (context[None, :] & other[:, None]))


@dataclass(frozen=True)
class Attribution:
    """Everything the scores file and the explanations need about why each customer is at risk."""

    contributions: np.ndarray  # TreeSHAP, log-odds, one column per model feature
    causes: pd.DataFrame  # attribute_causes
    departs: np.ndarray  # harmful_departures
    reasons: np.ndarray  # chosen reason columns per row (-1: none)


def attribute(
    features: pd.DataFrame,
    bundle: ModelBundle,
    registry: Mapping[str, FeatureSpec],
    config: ChurnConfig,
    probability: np.ndarray | None = None,
) -> Attribution:
    """Contributions, cause shares against the healthy reference, and the reasons, for a frame of features
    (``probability``: their calibrated probabilities, ``bundle.predict(features)``, where the caller has them)."""
    names = bundle.feature_names
    X = bundle.prepare(features)
    contributions = bundle.contributions(X)[:, :-1]
    references = player_references(registry, names, bundle.meta.get("typical_values"))
    departs = harmful_departures(features[names], registry, references)
    value = family_values(lambda Z: bundle.calibrator.transform(bundle.predict_codes(Z)), X, registry, references, departs, probability,
                          codes=True)
    phi, base = family_parts(value, config.cause.method), value[frozenset()]
    causes = attribute_causes(phi, base, contributions, departs, names, registry, config.cause)
    candidates = reason_candidates(contributions, departs, names, references, causes["primary_cause"].to_numpy())
    family = np.array([(registry[n].family if n in registry else Family.OTHER).value for n in names])
    first = family[None, :] == causes["primary_cause"].to_numpy()[:, None]
    reasons = choose_reasons(contributions, candidates, first, config.scoring.reasons)
    return Attribution(contributions, causes, departs, reasons)
