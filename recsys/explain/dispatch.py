"""One entry point for every explanation method, chosen explicitly (or by ``"auto"``).

Each method applies to some models only; asking for one that does not apply fails
with a message that names the methods that do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.data.dataset import Dataset
from recsys.explain.record import Explanation
from recsys.models.base import Recommender

METHODS = ("exact", "attention", "captum", "shap")
#: Which model keys each method explains.
SUPPORTED: dict[str, tuple[str, ...]] = {
    "exact": ("itemknn", "ease", "als"),
    "attention": ("sasrec",),
    "captum": ("neumf", "multvae", "multdae", "gru4rec", "sasrec", "hybrid"),
    "shap": ("hybrid",),
}
METHOD_TITLES = {"exact": "Exact decomposition", "attention": "Attention weights",
                 "captum": "Integrated Gradients (Captum)", "shap": "SHAP over feature groups"}
# "auto" prefers an additive attribution: exact where the model is a sum over history, then
# SHAP for the feature model, then IG; attention (not an attribution) only when asked for.
_AUTO_ORDER = ("exact", "shap", "captum")


def available_methods(model: Recommender) -> list[str]:
    """The methods that explain ``model``, in ``METHODS`` order (empty for e.g. Popularity)."""
    return [m for m in METHODS if model.key in SUPPORTED[m]]


def resolve_method(model: Recommender, method: str) -> str:
    """``method`` itself when it applies to ``model``; for "auto" the best that applies.

    Raises ValueError with the methods that do apply otherwise.
    """
    name = type(model).__name__
    usable = available_methods(model)
    if method == "auto":
        for candidate in _AUTO_ORDER:
            if candidate in usable:
                return candidate
        raise ValueError(f"no explanation method applies to {name}: its score does not decompose over "
                         "the customer's history or features (popularity-style and content models)")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)} or auto")
    if method not in usable:
        hint = f"use {' or '.join(usable)}" if usable else "no method applies to it"
        raise ValueError(f"{method} does not apply to {name} ({METHOD_TITLES[method]} explains "
                         f"{', '.join(_names(SUPPORTED[method]))}); {hint}")
    return method


def explain(model: Recommender, data: Dataset, user: Any, item: Any = None, method: str = "auto",
            **kw: Any) -> Explanation:
    """Explain the score of ``item`` for ``user`` with ``method`` (exact|attention|captum|shap|auto).

    ``user``/``item`` are raw ids (str) or model indices (int); without ``item`` the
    customer's top recommendation is explained. Keyword arguments go to the method
    (``n_steps`` for captum; ``background``, ``max_evals``, ``seed`` for shap;
    ``aggregate`` for attention; ``context`` for the Hybrid's captum and shap).
    """
    chosen = resolve_method(model, method)
    u = resolve_index(data.users, user, model.n_users_, "customer")
    if item is None:
        recs = model.recommend([u], 1, context=kw.get("context"))
        if not len(recs):
            raise ValueError(f"customer {user!r} has no recommendation to explain")
        i = int(recs.item_idx[0])
    else:
        i = resolve_index(data.items, item, model.n_items_, "item")
    if chosen == "exact":
        from recsys.explain.exact import explain_exact
        return explain_exact(model, data, u, i, **kw)
    if chosen == "attention":
        from recsys.explain.attention import explain_attention
        return explain_attention(model, data, u, i, **kw)
    if chosen == "captum":
        from recsys.explain.captum_ig import explain_captum
        return explain_captum(model, data, u, i, **kw)
    from recsys.explain.shap_groups import explain_shap
    return explain_shap(model, data, u, i, **kw)


def resolve_index(ids, value: Any, size: int, what: str) -> int:
    """A raw id (str) or an index (int) as a checked index below ``size``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        idx = int(value)
    else:
        idx = int(ids.index_of([str(value)])[0])
        if idx < 0:
            raise KeyError(f"unknown {what} {value!r}")
    if not 0 <= idx < size:
        raise KeyError(f"{what} index {idx} is outside the model ({size} known)")
    return idx


def _names(keys: tuple[str, ...]) -> list[str]:
    from recsys.models.registry import get_spec

    return [get_spec(k).display_name for k in keys]
