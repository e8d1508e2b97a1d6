"""Cold start: new customers from attributes or onboarding picks; cold-start evaluation protocols.

Attributes: a new customer gets what customers with the same attribute values
engage with (each attribute's item shares, weighted). Onboarding: a few picked
items are scored through whatever the model offers (content ``score_history``,
item-item similarity, ALS fold-in, MultVAE fold-in, sequence scoring).
Protocols: ``user_cold_split`` holds out whole customers, ``item_cold_split``
whole items; ``evaluate_cold`` ranks accordingly (item-cold: among the held-out
items only, which popularity cannot order since they have no events).
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import EvaluationResult, evaluate_recommendations
from recsys.evaluation.splits import Split
from recsys.models.base import Recommender


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


def user_cold_split(data: Dataset, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out every event of a random ``test_fraction`` of active customers."""
    rng = np.random.default_rng(seed)
    active = data.active_users()
    n_test = max(1, int(round(test_fraction * len(active))))
    cold = np.zeros(data.n_users, bool)
    cold[rng.choice(active, n_test, replace=False)] = True
    in_test = cold[data.frame["user_idx"].to_numpy()]
    return Split(data.subset(~in_test), data.subset(in_test), None, "user_cold",
                 {"test_fraction": test_fraction, "seed": seed, "n_cold_users": int(n_test)})


def item_cold_split(data: Dataset, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out every event on a random ``test_fraction`` of items with events."""
    rng = np.random.default_rng(seed)
    active = np.flatnonzero(np.bincount(data.frame["item_idx"].to_numpy(), minlength=data.n_items))
    n_test = max(1, int(round(test_fraction * len(active))))
    cold = np.zeros(data.n_items, bool)
    cold[rng.choice(active, n_test, replace=False)] = True
    in_test = cold[data.frame["item_idx"].to_numpy()]
    return Split(data.subset(~in_test), data.subset(in_test), None, "item_cold",
                 {"test_fraction": test_fraction, "seed": seed, "n_cold_items": int(n_test)})


def cold_items(split: Split) -> np.ndarray:
    """Items of the test part without any train event."""
    train_items = np.bincount(split.train.frame["item_idx"].to_numpy(), minlength=split.train.n_items) > 0
    return np.flatnonzero(~train_items & (np.bincount(split.test.frame["item_idx"].to_numpy(),
                                                      minlength=split.train.n_items) > 0))


def evaluate_cold(score: Callable[[np.ndarray], np.ndarray], split: Split, *, k: int = 10,
                  max_users: int | None = None, seed: int = 0) -> EvaluationResult:
    """Metrics@k of ``score(users) -> (len(users), n_items)`` on a cold-start split.

    ``user_cold``: the held-out customers, all items ranked (nothing is seen).
    ``item_cold``: customers with a train history and a held-out item, ranked
    among the held-out items only, their own train items excluded.
    """
    users = split.eval_users()
    if max_users is not None and len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
    candidates = cold_items(split) if split.protocol == "item_cold" else None
    seen = split.seen_for("test")
    ranked = np.full((len(users), k), -1, np.int64)
    for s in range(0, len(users), 512):
        part = users[s:s + 512]
        scores = np.asarray(score(part), np.float32).copy()
        r, c = seen[part].nonzero()
        scores[r, c] = -np.inf
        if candidates is not None:
            allowed = np.zeros(scores.shape[1], bool)
            allowed[candidates] = True
            scores[:, ~allowed] = -np.inf
        kk = min(k, scores.shape[1])
        top = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
        top[~np.isfinite(np.take_along_axis(scores, top, 1))] = -1
        ranked[s:s + 512, :kk] = top
    return evaluate_recommendations(ranked, users, split, ks=(k,))


def model_scorer(model: Recommender) -> Callable[[np.ndarray], np.ndarray]:
    """``model.score`` as a scorer for ``evaluate_cold``."""
    return lambda users: model.score(users)
