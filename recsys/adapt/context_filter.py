"""Context-aware filtering for any model: a rule table turns a context into allowed items.

A rule says: when ``context[key] == value``, only items whose ``attribute`` is one
of ``allowed`` are candidates (e.g. device = tv -> content_type in {video}).
Rules on different attributes intersect; a context matching no rule allows all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.models.base import Recommendations, Recommender


@dataclass(frozen=True)
class ContextRule:
    key: str
    value: str
    attribute: str
    allowed: tuple[str, ...]


def rules_from_frame(table: pd.DataFrame) -> tuple[ContextRule, ...]:
    """Rules from a table with columns ``key, value, attribute, allowed`` (``allowed`` split on ``|``)."""
    missing = {"key", "value", "attribute", "allowed"} - set(table.columns)
    if missing:
        raise ValueError(f"rule table lacks columns: {sorted(missing)}")
    return tuple(ContextRule(str(r.key), str(r.value), str(r.attribute),
                             tuple(a.strip() for a in str(r.allowed).split("|") if a.strip()))
                 for r in table.itertuples(index=False))


def allowed_items(item_features: pd.DataFrame, context: Mapping[str, object],
                  rules: Iterable[ContextRule]) -> np.ndarray | None:
    """Item indices allowed in ``context``, or None when no rule applies."""
    mask = None
    for rule in rules:
        if rule.key in context and str(context[rule.key]) == rule.value:
            if rule.attribute not in item_features:
                raise ValueError(f"items have no attribute {rule.attribute!r}")
            ok = item_features[rule.attribute].astype(str).isin(rule.allowed).to_numpy()
            mask = ok if mask is None else mask & ok
    return None if mask is None else np.flatnonzero(mask)


def recommend_in_context(model: Recommender, users: Sequence[int], k: int, context: Mapping[str, object],
                         item_features: pd.DataFrame, rules: Iterable[ContextRule],
                         **kwargs) -> Recommendations:
    """``model.recommend`` restricted to the items the context allows (as candidates)."""
    candidates = allowed_items(item_features, context, rules)
    if candidates is not None and "candidates" in kwargs and kwargs["candidates"] is not None:
        candidates = np.intersect1d(candidates, kwargs.pop("candidates"))
    kwargs.pop("candidates", None)
    return model.recommend(users, k, candidates=candidates, context=dict(context), **kwargs)
