"""Why a customer is at risk and what to do: SHAP contributions grouped by cause family, reasons, remedies."""

from churnml.explain.causes import attribute_causes
from churnml.explain.playbook import recommend_actions
from churnml.explain.reasons import render_reasons, top_contributions

__all__ = ["attribute_causes", "recommend_actions", "render_reasons", "top_contributions"]
