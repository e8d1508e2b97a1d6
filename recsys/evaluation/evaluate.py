"""Per-user metric frames for ranked lists or a fitted model on a split.

Full ranking: every catalog item is a candidate except the user's own train
(+ valid) history. Only users with at least one relevant held-out item are
evaluated; an evaluated user without a list scores 0 (the benchmark's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation import beyond
from recsys.evaluation.compare import Interval, bootstrap_ci
from recsys.evaluation.metrics import METRICS, hits_matrix, metric_at_k, n_relevant, ranking_metrics
from recsys.evaluation.splits import Split

if TYPE_CHECKING:
    from recsys.models.base import Recommender, Recommendations


@dataclass(frozen=True)
class EvaluationResult:
    """Per-user metrics and their summary.

    Attributes
    ----------
    per_user : pandas.DataFrame
        One row per evaluated user: ``user_idx``, ``n_relevant``, then
        ``ndcg@K``, ``recall@K``, ``precision@K``, ``map@K``, ``mrr@K``, ``hit@K``
        and, when their inputs are known, ``novelty@K``, ``diversity@K``, ``avgpop@K``.
    summary : dict
        Means of the per-user columns (NaN-skipping), ``coverage@K``, ``gini@K``,
        ``n_users``, ``n_users_without_list`` and, on a split, ``seen_frac@K``.
        ``avgpop@K`` is the mean over all recommended slots (the benchmark's).
    ks : tuple of int
    """

    per_user: pd.DataFrame
    summary: dict[str, float]
    ks: tuple[int, ...]

    @property
    def metrics(self) -> list[str]:
        """Names of the per-user metric columns."""
        return [c for c in self.per_user.columns if "@" in c]

    def interval(self, metric: str, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
        """Bootstrap confidence interval of a per-user metric's mean."""
        if metric not in self.per_user:
            raise KeyError(f"no per-user metric {metric!r}; have {', '.join(self.metrics)}")
        return bootstrap_ci(self.per_user[metric].to_numpy(np.float64), n_boot=n_boot, level=level, seed=seed)


def _target(split_or_test, on: str):
    """(relevance csr, seen csr or None, n_items, train Dataset or None, feature source)."""
    if isinstance(split_or_test, Split):
        s = split_or_test
        return s.relevant(on), s.seen_for(on), s.train.n_items, s.train, s.train
    if isinstance(split_or_test, Dataset):
        return split_or_test.matrix(binary=True), None, split_or_test.n_items, None, split_or_test
    if sp.issparse(split_or_test):
        rel = sp.csr_matrix(split_or_test)
        return rel, None, rel.shape[1], None, None
    raise TypeError("split_or_test must be a Split, a test Dataset or a users x items sparse matrix")


def _default_categories(source: Dataset | None) -> np.ndarray | None:
    if source is None or source.item_features is None or "category" not in source.item_features:
        return None
    return source.item_features["category"].to_numpy(dtype=object)


def _align(ranked: np.ndarray, users: np.ndarray, eval_users: np.ndarray, width: int) -> np.ndarray:
    """Rows of ``ranked`` for ``eval_users`` (all -1 where a user has no list)."""
    index = pd.Index(users)
    if not index.is_unique:
        raise ValueError("users must not repeat: one ranked list per user")
    row = index.get_indexer(eval_users)
    out = np.full((len(eval_users), width), -1, np.int64)
    have = row >= 0
    out[have, : min(width, ranked.shape[1])] = ranked[row[have], :width]
    return out


def _drop_flagged(ranked: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """Shift each row's unflagged items left, keeping order, and pad with -1."""
    keep = (ranked >= 0) & ~flagged
    order = np.argsort(~keep, axis=1, kind="stable")
    out = np.take_along_axis(ranked, order, axis=1)
    out[~np.take_along_axis(keep, order, axis=1)] = -1
    return out


def evaluate_recommendations(ranked: np.ndarray, users: np.ndarray, split_or_test, *,
                             ks: Sequence[int] = (10, 20), on: str = "test",
                             item_popularity: np.ndarray | None = None,
                             item_categories: np.ndarray | None = None,
                             item_embeddings: np.ndarray | None = None,
                             filter_seen: bool = False) -> EvaluationResult:
    """Score ranked lists against held-out items.

    Parameters
    ----------
    ranked : (n, L) int array
        Item indices, best first, -1 padded; row ``i`` belongs to ``users[i]``.
    users : (n,) int array
        Distinct user indices.
    split_or_test : Split, Dataset or scipy.sparse matrix
        A split (relevance = ``split.relevant(on)``, popularity from its train
        part), a test Dataset (all its items are relevant), or a users x items
        relevance matrix.
    ks : sequence of int
        Cut-offs.
    on : {"test", "valid"}
        Which held-out part of a split.
    item_popularity : (n_items,) array, optional
        Popularity for ``avgpop@K`` (default: train events per item, on a split).
    item_categories, item_embeddings : array, optional
        For ``diversity@K`` (default: the items table's ``category``, if any).
    filter_seen : bool
        On a split, drop the user's train (+ valid) items from the lists first;
        otherwise they stay (and count as misses), reported as ``seen_frac@K``.
    """
    ks = tuple(sorted({int(k) for k in ks}))
    if not ks or ks[0] < 1:
        raise ValueError("ks must hold positive cut-offs")
    ranked = np.asarray(ranked, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    if ranked.ndim != 2 or len(ranked) != len(users):
        raise ValueError("ranked must be (len(users), L)")
    relevance, seen, n_items, train, feature_source = _target(split_or_test, on)
    if ranked.size and ranked.max() >= n_items:
        raise ValueError(f"ranked holds item index {ranked.max()} but the catalog has {n_items} items")
    eval_users = np.flatnonzero(np.diff(relevance.indptr) > 0)
    kmax = max(ks)
    lists = _align(ranked, users, eval_users, kmax if seen is None or not filter_seen else ranked.shape[1])
    summary: dict[str, float] = {}
    if seen is not None:
        is_seen = hits_matrix(lists, seen[eval_users])
        for k in ks:
            slots = (lists[:, :k] >= 0).sum()
            summary[f"seen_frac@{k}"] = float(is_seen[:, :k].sum() / slots) if slots else 0.0
        if filter_seen:
            lists = _drop_flagged(lists, is_seen)[:, :kmax]
    rel_rows = relevance[eval_users]
    hits = hits_matrix(lists, rel_rows)
    n_rel = n_relevant(rel_rows)
    columns: dict[str, np.ndarray] = {"user_idx": eval_users, "n_relevant": n_rel}
    columns.update(ranking_metrics(hits, n_rel, ks))
    columns.update(_beyond_columns(lists, ks, n_items, train, item_popularity,
                                   item_categories if item_categories is not None or item_embeddings is not None
                                   else _default_categories(feature_source), item_embeddings))
    per_user = pd.DataFrame(columns)
    for name in per_user.columns[2:]:
        summary[name] = float(np.nanmean(per_user[name])) if len(per_user) and per_user[name].notna().any() \
            else float("nan")
    pop = _avgpop_source(train, n_items, item_popularity)
    for k in ks:
        top = lists[:, :k]
        summary[f"coverage@{k}"] = beyond.catalog_coverage(top, n_items)
        summary[f"gini@{k}"] = beyond.gini_index(top, n_items)
        if pop is not None:
            valid = top >= 0
            summary[f"avgpop@{k}"] = float(pop[top[valid]].mean()) if valid.any() else 0.0
    summary["n_users"] = int(len(eval_users))
    summary["n_users_without_list"] = int((pd.Index(users).get_indexer(eval_users) < 0).sum())
    return EvaluationResult(per_user, summary, ks)


def _avgpop_source(train: Dataset | None, n_items: int, item_popularity) -> np.ndarray | None:
    if item_popularity is not None:
        return np.asarray(item_popularity, dtype=np.float64)
    if train is None:
        return None
    # The benchmark's AvgPop counts train interactions (events), not distinct users.
    return np.bincount(train.frame["item_idx"].to_numpy(), minlength=n_items).astype(np.float64)


def _beyond_columns(lists: np.ndarray, ks: tuple[int, ...], n_items: int, train: Dataset | None,
                    item_popularity, item_categories, item_embeddings) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    pop = _avgpop_source(train, n_items, item_popularity)
    users_per_item = train.item_popularity() if train is not None else None
    n_train_users = _count_nonzero_users(train) if train is not None else 0
    for k in ks:
        top = lists[:, :k]
        if users_per_item is not None:
            out[f"novelty@{k}"] = beyond.novelty(top, users_per_item, n_train_users)
        if item_categories is not None or item_embeddings is not None:
            out[f"diversity@{k}"] = beyond.intra_list_diversity(top, item_categories, item_embeddings)
        if pop is not None:
            out[f"avgpop@{k}"] = beyond.average_popularity(top, pop)
    return out


def _count_nonzero_users(data: Dataset) -> int:
    return int(np.count_nonzero(np.bincount(data.frame["user_idx"].to_numpy(), minlength=data.n_users)))


def recommendations_matrix(recs: "Recommendations", users: np.ndarray, k: int) -> np.ndarray:
    """Item indices as an (len(users), k) array aligned with ``users`` (-1 padded)."""
    users = np.asarray(users, dtype=np.int64)
    out = np.full((len(users), k), -1, np.int64)
    row = pd.Index(users).get_indexer(np.asarray(recs.user_idx))
    keep = (row >= 0) & (np.asarray(recs.rank) <= k)
    out[row[keep], np.asarray(recs.rank)[keep] - 1] = np.asarray(recs.item_idx)[keep]
    return out


def _check_no_leak(model: "Recommender", relevance: sp.csr_matrix, on: str) -> None:
    history = getattr(model, "history_", None)
    if history is None:
        return
    if history.shape != relevance.shape:
        raise ValueError(f"the model was fit on {history.shape[0]} users x {history.shape[1]} items, "
                         f"the split has {relevance.shape[0]} x {relevance.shape[1]}: not the same dataset")
    if sp.csr_matrix(history).multiply(relevance).nnz:
        raise ValueError(f"the model's training history holds held-out {on} items: fit it on "
                         f"{'split.train' if on == 'valid' else 'split.fit_data()'}")


def evaluate_model(model: "Recommender", split: Split, *, ks: Sequence[int] = (10, 20), on: str = "test",
                   batch_size: int = 1024, item_popularity: np.ndarray | None = None,
                   item_categories: np.ndarray | None = None,
                   item_embeddings: np.ndarray | None = None) -> EvaluationResult:
    """Recommend top ``max(ks)`` to every evaluated user and score the lists.

    Candidates are all items (or ``split.candidates``: the held-out items of an
    item-cold split) except ``split.seen_for(on)`` (train + valid for
    test, train for valid), whatever the model was fit on; users are scored in
    batches of ``batch_size``. Raises if the model's history contains the
    held-out items (it was fit on them).
    """
    relevance = split.relevant(on)
    _check_no_leak(model, relevance, on)
    users = np.flatnonzero(np.diff(relevance.indptr) > 0)
    kmax = max(int(k) for k in ks)
    recs = model.recommend(users, kmax, exclude_seen=False, exclude=split.seen_for(on), batch_size=batch_size,
                           candidates=split.candidates)
    ranked = recommendations_matrix(recs, users, kmax)
    return evaluate_recommendations(ranked, users, split, ks=ks, on=on, item_popularity=item_popularity,
                                    item_categories=item_categories, item_embeddings=item_embeddings)


def metric_curve(ranked: np.ndarray, relevant, *, metric: str = "recall", max_k: int | None = None
                 ) -> pd.DataFrame:
    """Mean of ``metric`` at every cut-off 1..max_k (rows of ``ranked`` aligned with ``relevant``)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    ranked = np.asarray(ranked, dtype=np.int64)
    max_k = ranked.shape[1] if max_k is None else int(max_k)
    hits = hits_matrix(ranked, relevant)
    n_rel = n_relevant(relevant)
    ks = np.arange(1, max_k + 1)
    values = [float(metric_at_k(metric, hits, n_rel, int(k)).mean()) if len(hits) else float("nan") for k in ks]
    return pd.DataFrame({"k": ks, metric: values})
