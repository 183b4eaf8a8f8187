"""From SHAP contributions to a cause: which family (price, service, other) carries a customer's risk.

Contributions are TreeSHAP values in log-odds, one per feature. Only positive contributions push risk up, so a
customer's cause is read from how their positive contributions split across cause families.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from churnml.config import CauseConfig, Family
from churnml.features import FeatureSpec

FAMILIES = (Family.PRICE, Family.SERVICE, Family.OTHER)


def _indicator(names: list[str], select) -> np.ndarray:
    return np.array([1.0 if select(n) else 0.0 for n in names])


def attribute_causes(
    contributions: np.ndarray, feature_names: list[str], registry: Mapping[str, FeatureSpec], cfg: CauseConfig
) -> pd.DataFrame:
    """Per row: the share of positive risk each family carries, the primary cause and its share.

    ``primary_cause`` is price or service, whichever carries more positive risk, when its share reaches
    ``cfg.min_share``; otherwise ``other``. ``cause_share`` is the share the primary cause carries.
    ``plan_mismatch_share`` and ``incident_share`` are the parts of the price and service risk carried by
    plan-mismatch and shared-incident features; the playbook uses them.
    """
    positive = np.clip(np.asarray(contributions, dtype=float), 0.0, None)
    total = positive.sum(axis=1)
    safe_total = np.where(total > 0, total, 1.0)
    family = {f: positive @ _indicator(feature_names, lambda n, f=f: _family(registry, n) is f) for f in FAMILIES}
    share = {f: family[f] / safe_total for f in FAMILIES}
    price_wins = family[Family.PRICE] >= family[Family.SERVICE]
    lead = np.where(price_wins, Family.PRICE.value, Family.SERVICE.value)
    lead_share = np.where(price_wins, share[Family.PRICE], share[Family.SERVICE])
    explained = (total > 0) & (lead_share >= cfg.min_share)
    primary = np.where(explained, lead, Family.OTHER.value)
    cause_share = np.where(explained, lead_share, share[Family.OTHER])
    mismatch = positive @ _indicator(feature_names, lambda n: n in registry and registry[n].plan_mismatch)
    incident = positive @ _indicator(feature_names, lambda n: n in registry and registry[n].shared_incident)
    return pd.DataFrame(
        {
            "primary_cause": primary,
            "cause_share": cause_share,
            "price_share": share[Family.PRICE],
            "service_share": share[Family.SERVICE],
            "other_share": share[Family.OTHER],
            "plan_mismatch_share": np.divide(mismatch, family[Family.PRICE], out=np.zeros_like(mismatch), where=family[Family.PRICE] > 0),
            "incident_share": np.divide(incident, family[Family.SERVICE], out=np.zeros_like(incident), where=family[Family.SERVICE] > 0),
        }
    )


def _family(registry: Mapping[str, FeatureSpec], name: str) -> Family:
    spec = registry.get(name)
    return spec.family if spec is not None else Family.OTHER
