"""Beyond-accuracy metrics of ranked lists: coverage, novelty, diversity, popularity.

``ranked`` is always an (n_users, K) array of item indices, best first, -1
padded. Per-user metrics of an empty list are NaN (there is nothing to measure),
so summaries should use ``np.nanmean``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Users per block of the pairwise (K x K) computations: bounds memory at block * K^2.
_PAIR_BLOCK = 4096


def _as_ranked(ranked: np.ndarray) -> np.ndarray:
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2:
        raise ValueError("ranked must be a 2-D (n_users, K) array")
    return ranked


def _per_user_mean(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    n = valid.sum(axis=1)
    total = np.where(valid, values, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def catalog_coverage(ranked: np.ndarray, n_items: int) -> float:
    """Share of the catalog's ``n_items`` that appear in at least one list."""
    ranked = _as_ranked(ranked)
    if n_items <= 0:
        raise ValueError("n_items must be positive")
    counts = np.bincount(ranked[ranked >= 0], minlength=n_items)
    return np.count_nonzero(counts) / float(n_items)


def novelty(ranked: np.ndarray, item_popularity: np.ndarray, n_users: int) -> np.ndarray:
    """Mean self-information ``-log2(pop_i / n_users)`` of each user's items.

    ``item_popularity`` counts distinct users per item among ``n_users``; items
    never seen count as one user (the largest self-information), not infinity.
    """
    ranked = _as_ranked(ranked)
    pop = np.clip(np.asarray(item_popularity, dtype=np.float64), 1.0, None)
    info = -np.log2(pop / float(max(n_users, 1)))
    valid = ranked >= 0
    return _per_user_mean(info[np.where(valid, ranked, 0)], valid)


def average_popularity(ranked: np.ndarray, item_popularity: np.ndarray) -> np.ndarray:
    """Mean popularity of each user's recommended items."""
    ranked = _as_ranked(ranked)
    pop = np.asarray(item_popularity, dtype=np.float64)
    valid = ranked >= 0
    return _per_user_mean(pop[np.where(valid, ranked, 0)], valid)


def long_tail_share(ranked: np.ndarray, item_popularity: np.ndarray, *, head_fraction: float = 0.2
                    ) -> np.ndarray:
    """Share of each user's items outside the popular head (APLT, Abdollahpouri et al. 2017).

    The head is the ``head_fraction`` most popular items of the catalog.
    """
    ranked = _as_ranked(ranked)
    pop = np.asarray(item_popularity, dtype=np.float64)
    n_head = int(round(head_fraction * len(pop)))
    head = np.zeros(len(pop), bool)
    head[np.argsort(-pop, kind="stable")[:n_head]] = True
    valid = ranked >= 0
    return _per_user_mean((~head[np.where(valid, ranked, 0)]).astype(np.float64), valid)


def gini_index(ranked: np.ndarray, n_items: int) -> float:
    """Gini coefficient of how often each catalog item is recommended (0 = equal exposure)."""
    ranked = _as_ranked(ranked)
    counts = np.sort(np.bincount(ranked[ranked >= 0], minlength=n_items)[:n_items]).astype(np.float64)
    if counts.sum() == 0:
        return 0.0
    n = len(counts)
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * counts).sum() / (n * counts.sum()))


def intra_list_diversity(ranked: np.ndarray, item_categories: np.ndarray | None = None,
                         item_embeddings: np.ndarray | None = None) -> np.ndarray:
    """Mean pairwise dissimilarity within each user's list.

    With ``item_categories`` (one label per item; missing labels are left out of
    the pairs) it is the share of item pairs whose categories differ; with
    ``item_embeddings`` (n_items, d) it is the mean pairwise cosine distance.
    Lists with fewer than two comparable items are NaN.
    """
    ranked = _as_ranked(ranked)
    if (item_categories is None) == (item_embeddings is None):
        raise ValueError("give exactly one of item_categories or item_embeddings")
    out = np.full(ranked.shape[0], np.nan)
    if item_categories is not None:
        codes, _ = pd.factorize(pd.Series(np.asarray(item_categories, dtype=object)), use_na_sentinel=True)
        for start in range(0, ranked.shape[0], _PAIR_BLOCK):
            block = ranked[start:start + _PAIR_BLOCK]
            c = np.where(block >= 0, codes[np.where(block >= 0, block, 0)], -1)
            known = c >= 0
            pair = known[:, :, None] & known[:, None, :]
            differ = (c[:, :, None] != c[:, None, :]) & pair
            out[start:start + len(block)] = _pair_mean(differ.astype(np.float64), pair)
        return out
    emb = np.asarray(item_embeddings, dtype=np.float64)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    unit = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)
    for start in range(0, ranked.shape[0], _PAIR_BLOCK):
        block = ranked[start:start + _PAIR_BLOCK]
        valid = block >= 0
        vecs = unit[np.where(valid, block, 0)]
        dist = 1.0 - np.einsum("ukd,uld->ukl", vecs, vecs)
        pair = valid[:, :, None] & valid[:, None, :]
        out[start:start + len(block)] = _pair_mean(dist, pair)
    return out


def _pair_mean(values: np.ndarray, pair: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over unordered pairs i < j flagged in ``pair`` (per user)."""
    k = values.shape[1]
    upper = np.triu(np.ones((k, k), bool), 1)
    mask = pair & upper
    n = mask.sum(axis=(1, 2))
    total = np.where(mask, values, 0.0).sum(axis=(1, 2))
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)
