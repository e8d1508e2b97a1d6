"""Cold start: new customers from attributes or onboarding picks; cold-start evaluation.

Attributes: a new customer gets what customers with the same attribute values
engage with (each attribute's item shares, weighted). Onboarding: a few picked
items are scored through whatever the model offers (content ``score_history``,
item-item similarity, ALS fold-in, MultVAE fold-in, sequence scoring).
Evaluation: the ``user_cold`` and ``item_cold`` protocols live with the other
splits (``recsys.evaluation.splits``); ``compare_cold_start`` ranks stored runs
on them next to the references that can serve the cold side: Popularity (the
baseline), the attribute scorer here for customers, ContentTFIDF for items.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import EvaluationResult, evaluate_model, evaluate_recommendations
from recsys.evaluation.report import CURVE_KS, RunComparison, comparison_of
from recsys.evaluation.splits import Split, item_cold_split, user_cold_split  # noqa: F401 (re-exported)
from recsys.models.base import Recommender
from recsys.models.features import USER_SKIP

POPULARITY_LABEL = "Popularity (baseline)"
ATTRIBUTES_LABEL = "Attributes (what similar customers engage with)"
CONTENT_LABEL = "Content TF-IDF reference (item text and labels)"
# An attribute with more distinct values than this is an identifier or a date, not a segment.
MAX_ATTRIBUTE_VALUES = 50


def attribute_scores(train: Dataset, users: np.ndarray, columns: Sequence[str],
                     weights: Mapping[str, float] | None = None, *, prior: float = 0.1) -> np.ndarray:
    """Scores (len(users), n_items) from customers sharing each attribute value.

    For attribute ``a`` with the customer's value ``v``: the share of engagements
    of customers with ``a == v`` on each item; these are summed with ``weights``
    (default 1 each) plus ``prior`` times the global share (for unseen values).
    """
    if train.user_features is None:
        raise ValueError("attribute cold start needs a customers table")
    users = np.asarray(users, dtype=np.int64)
    binary = train.matrix(binary=True)
    overall = np.asarray(binary.sum(axis=0)).ravel()
    scores = np.tile(prior * overall / max(overall.sum(), 1.0), (len(users), 1))
    for column in columns:
        values = train.user_features[column].astype("string").fillna("(missing)").to_numpy(dtype=object)
        codes, uniques = pd.factorize(values)
        onehot = sp.csr_matrix((np.ones(len(codes)), (codes, np.arange(len(codes)))), shape=(len(uniques), len(codes)))
        by_value = np.asarray((onehot @ binary).todense(), dtype=np.float64)
        by_value /= np.maximum(by_value.sum(axis=1, keepdims=True), 1.0)
        w = 1.0 if weights is None else float(weights.get(column, 0.0))
        scores += w * by_value[codes[users]]
    return scores.astype(np.float32)


def onboarding_scores(model: Recommender, picks: Sequence[int]) -> np.ndarray:
    """Scores of every item for a new customer who picked ``picks`` (item indices)."""
    picks = np.asarray(picks, dtype=np.int64)
    if hasattr(model, "score_history"):
        return model.score_history(picks)
    if hasattr(model, "score_sequences"):
        return model.score_sequences([picks])[0]
    row = sp.csr_matrix((np.ones(len(picks), np.float32), (np.zeros(len(picks), np.int64), picks)),
                        shape=(1, model.n_items_))
    if hasattr(model, "recalculate_user"):
        return model.item_factors_ @ model.recalculate_user(row)
    if hasattr(model, "fold_in"):
        return model.fold_in(row)[0]
    for name in ("similarity_", "weights_"):  # ItemKNN, EASE: score = history row @ item-item matrix
        if hasattr(model, name):
            return np.asarray((row @ getattr(model, name)).todense() if sp.issparse(getattr(model, name))
                              else row @ getattr(model, name), np.float32).ravel()
    raise ValueError(f"{type(model).__name__} cannot score an onboarding pick")


def attribute_columns(users: pd.DataFrame | None) -> list[str]:
    """Customer columns usable as segments: few distinct values, never ids or personal data."""
    if users is None:
        return []
    return [c for c in users.columns
            if c.lower() not in USER_SKIP and 1 < users[c].nunique(dropna=True) <= MAX_ATTRIBUTE_VALUES]


def cold_items(split: Split) -> np.ndarray:
    """Items of the test part without any train event."""
    if split.candidates is not None:
        return np.asarray(split.candidates)
    train_items = np.bincount(split.train.frame["item_idx"].to_numpy(), minlength=split.train.n_items) > 0
    return np.flatnonzero(~train_items & (np.bincount(split.test.frame["item_idx"].to_numpy(),
                                                      minlength=split.train.n_items) > 0))


def evaluate_cold(score: Callable[[np.ndarray], np.ndarray], split: Split, *, ks: Sequence[int] = (10,),
                  max_users: int | None = None, seed: int = 0) -> EvaluationResult:
    """Metrics at ``ks`` of ``score(users) -> (len(users), n_items)`` on a split, ranked like ``evaluate_model``.

    Every evaluated customer's list excludes their train items and, on an item-cold
    split, holds only its held-out items (``split.candidates``).
    """
    users = split.eval_users()
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    k = max(ks)
    seen = split.seen_for("test")
    blocked = None  # items outside the split's candidates (item-cold: the warm ones)
    if split.candidates is not None:
        blocked = np.ones(seen.shape[1], bool)
        blocked[split.candidates] = False
    ranked = np.full((len(users), k), -1, np.int64)
    for s in range(0, len(users), 512):
        part = users[s:s + 512]
        scores = np.asarray(score(part), np.float32).copy()
        r, c = seen[part].nonzero()
        scores[r, c] = -np.inf
        if blocked is not None:
            scores[:, blocked] = -np.inf
        kk = min(k, scores.shape[1])
        top = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
        top[~np.isfinite(np.take_along_axis(scores, top, 1))] = -1
        ranked[s:s + 512, :kk] = top
    return evaluate_recommendations(ranked, users, split, ks=ks)


def model_scorer(model: Recommender) -> Callable[[np.ndarray], np.ndarray]:
    """``model.score`` as a scorer for ``evaluate_cold``."""
    return lambda users: model.score(users)


def reference_results(split: Split, *, ks: Sequence[int] = CURVE_KS) -> dict[str, EvaluationResult]:
    """The references of a cold-start split: Popularity, plus attributes (user-cold) or ContentTFIDF (item-cold).

    Each is fitted on ``split.fit_data()`` here; a reference the data cannot support
    (no customer attributes, no item text) is left out.
    """
    from recsys.models.content_tfidf import ContentTFIDF
    from recsys.models.popularity import Popularity

    train = split.fit_data()
    out = {POPULARITY_LABEL: evaluate_model(Popularity().fit(train), split, ks=ks)}
    columns = attribute_columns(train.user_features)
    if split.protocol == "user_cold" and columns:
        out[ATTRIBUTES_LABEL] = evaluate_cold(lambda users: attribute_scores(train, users, columns), split, ks=ks)
    if split.protocol == "item_cold" and train.item_features is not None:
        try:
            out[CONTENT_LABEL] = evaluate_model(ContentTFIDF().fit(train), split, ks=ks)
        except ValueError:  # no text or labels to build a vocabulary from
            pass
    return out


def compare_cold_start(split: Split, models: Mapping[str, Recommender] | None = None, *, metric: str = "ndcg",
                       k: int = 10, ks: Sequence[int] = CURVE_KS, n_boot: int = 1000) -> RunComparison:
    """Leaderboard of ``models`` (label -> model fitted on ``split.fit_data()``) and the references."""
    if split.protocol not in ("user_cold", "item_cold"):
        raise ValueError(f"compare_cold_start needs a user_cold or item_cold split, not {split.protocol!r}")
    ks = tuple(sorted(set(ks) | {k}))
    results = reference_results(split, ks=ks)
    for label, model in (models or {}).items():
        results[label] = evaluate_model(model, split, ks=ks)
    return comparison_of({label: label for label in results}, results, metric=metric, k=k, ks=ks, n_boot=n_boot)
