"""Counterfactuals: the list a customer would get with some history items removed or another context.

Nothing here changes the (shared) model: scores come from a modified copy of the
customer's history row or sequence, through each model's own fold-in path
(``recalculate_user`` for ALS, ``fold_in`` for the autoencoders, ``score_sequences``
for GRU4Rec and SASRec, the row times the item-item matrix for ItemKNN and EASE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.explain.record import item_labels
from recsys.models.base import Recommender
from recsys.models.sequences import collapse_repeats
from recsys.models.weighting import apply_weighting

ROW_MODELS = ("itemknn", "ease", "als", "multvae", "multdae", "content_tfidf")
SEQUENCE_MODELS = ("gru4rec", "sasrec")
HISTORY_MODELS = ROW_MODELS + SEQUENCE_MODELS


def scores_from_history(model: Recommender) -> bool:
    """Whether ``model`` scores a customer from their history (so history items can be removed)."""
    return model.key in HISTORY_MODELS


def history_items(model: Recommender, user_idx: int) -> np.ndarray:
    """The distinct items of the customer's fitted history (oldest first for sequence models)."""
    if model.key in SEQUENCE_MODELS:
        seq = model.user_sequence(int(user_idx))
        _, first = np.unique(seq[::-1], return_index=True)
        return seq[::-1][np.sort(first)][::-1]  # distinct, ordered by last occurrence
    row = model.history_[int(user_idx)]
    return np.asarray(row.indices[row.data != 0], dtype=np.int64)


def sequence_window(model: Recommender, sequence: np.ndarray) -> np.ndarray:
    """The items a sequence model reads for ``sequence``: repeats collapsed, last ``max_len``."""
    seq = np.asarray(sequence, dtype=np.int64).ravel()
    _, items = collapse_repeats(np.asarray([0, len(seq)], np.int64), seq)
    return items[-int(model.max_len):]


def scores_without(model: Recommender, user_idx: int, removals: Sequence[Iterable[int]]) -> np.ndarray:
    """Scores of every item, one row per removal set: the customer's history minus those items.

    An empty set gives the unmodified history, scored by the same path (it equals
    ``model.score`` up to float rounding). Raises ValueError for models that do not
    score from the history.
    """
    if not scores_from_history(model):
        raise ValueError(f"{type(model).__name__} does not score a customer from their history list, so "
                         "history items cannot be removed; change the context instead (context models) "
                         "or use a history-based model (ItemKNN, EASE, ALS, MultVAE, GRU4Rec, SASRec).")
    u = int(user_idx)
    sets = [np.unique(np.asarray(list(r), dtype=np.int64)) for r in removals]
    if model.key in SEQUENCE_MODELS:
        seq = model.user_sequence(u)
        return model.score_sequences([seq[~np.isin(seq, r)] for r in sets])
    if model.key == "content_tfidf":
        row = sp.csr_matrix(model.user_weights_[u])
        out = []
        for r in sets:
            keep = ~np.isin(row.indices, r)
            out.append(model.score_history(row.indices[keep], row.data[keep]))
        return np.vstack(out).astype(np.float32)
    rows = _rows_without(model.history_[u], sets)
    if model.key in ("itemknn", "ease"):
        weights = model.similarity_ if model.key == "itemknn" else model.weights_
        product = apply_weighting(rows, model.weighting) @ weights
        return np.asarray(product.toarray() if sp.issparse(product) else product, dtype=np.float32)
    if model.key == "als":
        factors = np.vstack([model.recalculate_user(rows[j]) for j in range(rows.shape[0])])
        return (factors @ model.item_factors_.T).astype(np.float32)
    return model.fold_in(rows)


def _rows_without(row: sp.csr_matrix, sets: list[np.ndarray]) -> sp.csr_matrix:
    row = sp.csr_matrix(row, dtype=np.float32)
    out = sp.vstack([row] * len(sets), format="lil") if sets else sp.lil_matrix((0, row.shape[1]))
    for j, r in enumerate(sets):
        if len(r):
            out[j, r] = 0.0
    out = sp.csr_matrix(out, dtype=np.float32)
    out.eliminate_zeros()
    return out


@dataclass(frozen=True)
class WhatIf:
    """Before/after top-k lists and how each item moved.

    ``moves`` has ``change`` in {"entered", "left", "up", "down", "same"} with
    ``rank_before``/``rank_after`` (NaN when absent) and both scores.
    """

    before: pd.DataFrame
    after: pd.DataFrame
    moves: pd.DataFrame
    removed: tuple[int, ...]
    context: dict | None

    @property
    def entered(self) -> list[int]:
        return self.moves.loc[self.moves["change"] == "entered", "item_idx"].tolist()

    @property
    def left(self) -> list[int]:
        return self.moves.loc[self.moves["change"] == "left", "item_idx"].tolist()


def what_if(model: Recommender, data: Dataset, user_idx: int, *, remove: Iterable[int] = (),
            context: Mapping[str, Any] | None = None, k: int = 10) -> WhatIf:
    """The customer's top-``k`` with ``remove`` taken out of their history and/or another ``context``.

    Items of the original history stay excluded from both lists (the customer has seen
    them). Context changes need a context-aware model (Hybrid).
    """
    u = int(user_idx)
    removed = tuple(sorted({int(i) for i in remove}))
    if context is not None and "context" not in model.capabilities:
        raise ValueError(f"{type(model).__name__} ignores the context; only context models (Hybrid) react to it.")
    if removed:
        before, after = scores_without(model, u, [(), removed])
        if context is not None:
            raise ValueError("change either the history or the context, not both at once")
    elif context is not None:
        before = model.score([u])[0]
        after = model.score([u], context=dict(context))[0]
    else:
        before = after = model.score([u])[0]
    seen = model.history_[u].indices
    top_before, top_after = _top(before, seen, k), _top(after, seen, k)
    return WhatIf(_listing(data, top_before, before), _listing(data, top_after, after),
                  _moves(data, top_before, top_after, before, after), removed,
                  dict(context) if context is not None else None)


def _top(scores: np.ndarray, seen: np.ndarray, k: int) -> np.ndarray:
    s = np.asarray(scores, np.float64).copy()
    s[seen] = -np.inf
    s[~np.isfinite(s)] = -np.inf
    order = np.argsort(-s, kind="stable")[:k]
    return order[np.isfinite(s[order])]


def _listing(data: Dataset, top: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    labels = item_labels(data, top)
    labels.insert(0, "rank", np.arange(1, len(top) + 1))
    labels.insert(1, "item_idx", top)
    labels["score"] = np.asarray(scores, np.float64)[top]
    return labels


def _moves(data: Dataset, top_before: np.ndarray, top_after: np.ndarray, before: np.ndarray,
           after: np.ndarray) -> pd.DataFrame:
    items = np.asarray(list(dict.fromkeys([*top_before.tolist(), *top_after.tolist()])), dtype=np.int64)
    rank_b = {int(i): r + 1 for r, i in enumerate(top_before)}
    rank_a = {int(i): r + 1 for r, i in enumerate(top_after)}
    frame = item_labels(data, items)
    frame.insert(0, "item_idx", items)
    frame["rank_before"] = [rank_b.get(int(i), np.nan) for i in items]
    frame["rank_after"] = [rank_a.get(int(i), np.nan) for i in items]
    frame["score_before"] = np.asarray(before, np.float64)[items]
    frame["score_after"] = np.asarray(after, np.float64)[items]
    rb, ra = frame["rank_before"], frame["rank_after"]
    frame["change"] = np.select([rb.isna(), ra.isna(), ra < rb, ra > rb], ["entered", "left", "up", "down"], "same")
    return frame
