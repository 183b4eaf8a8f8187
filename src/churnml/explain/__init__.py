"""Why a customer is at risk and what to do: SHAP contributions grouped by cause family, reasons, remedies."""

from churnml.explain.causes import Attribution, attribute, attribute_causes, family_parts, family_values
from churnml.explain.customer import Explanations, explain_customers
from churnml.explain.playbook import explain_actions, recommend_actions
from churnml.explain.reasons import render_reasons, top_contributions

__all__ = [
    "Attribution",
    "Explanations",
    "attribute",
    "attribute_causes",
    "family_parts",
    "family_values",
    "explain_actions",
    "explain_customers",
    "recommend_actions",
    "render_reasons",
    "top_contributions",
]
