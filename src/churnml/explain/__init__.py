"""Why a customer is at risk: SHAP contributions grouped by cause family, plain-language reasons, full explanations.

What to do about it is decided in :mod:`churnml.decisions`.
"""

from churnml.explain.causes import Attribution, attribute, attribute_causes, change_values, family_headroom, family_parts, family_values
from churnml.explain.customer import Explanations, explain_customers, explain_features
from churnml.explain.reasons import render_reasons, top_contributions

__all__ = [
    "Attribution",
    "Explanations",
    "attribute",
    "attribute_causes",
    "change_values",
    "explain_customers",
    "explain_features",
    "family_headroom",
    "family_parts",
    "family_values",
    "render_reasons",
    "top_contributions",
]
