"""Explanations of recommendations: one ``Explanation`` record, several methods, checks of faithfulness.

- ``explain(model, data, user, item, method)`` with method exact | attention | captum | shap | auto
  (``dispatch``); each method lives in its own module and imports Captum/SHAP only when used.
- ``what_if`` (counterfactual lists), ``deletion_test`` (fidelity), ``sentence`` (plain language),
  ``similar`` (item view), ``global_view`` (SHAP summary, embedding map, influential items),
  ``profile`` (the customer's masked profile and timeline).
"""

from recsys.explain.dispatch import METHODS, available_methods, explain, resolve_method
from recsys.explain.fidelity import FidelityResult, deletion_test
from recsys.explain.record import Explanation
from recsys.explain.sentences import sentence
from recsys.explain.whatif import WhatIf, what_if

__all__ = ["METHODS", "Explanation", "FidelityResult", "WhatIf", "available_methods", "deletion_test", "explain",
           "resolve_method", "sentence", "what_if"]
