"""Full-ranking top-K accuracy metrics as pure, vectorised functions.

Definitions follow RecBole (and the project's benchmark scorer), per user:

- Precision@K = hits@K / K
- Recall@K    = hits@K / |rel|
- HitRate@K   = 1 if hits@K > 0
- NDCG@K      = sum_{hit at rank r <= K} 1/log2(r+1) / IDCG, IDCG over min(|rel|, K) ideal hits
- MAP@K       = sum_{hit at rank r <= K} Precision@r / min(|rel|, K)
- MRR@K       = 1 / rank of the first hit within K (0 if none)

``hits`` is a boolean (n_users, L) matrix; K may exceed L (missing slots are
misses, Precision still divides by K). Users with no relevant item score 0.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

METRICS = ("ndcg", "recall", "precision", "map", "mrr", "hit")


def _relevance_csr(relevant, n_rows: int) -> sp.csr_matrix:
    if sp.issparse(relevant):
        rel = sp.csr_matrix(relevant)
    else:
        rows = [np.asarray(r, dtype=np.int64).ravel() for r in relevant]
        indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
        indices = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        n_cols = int(indices.max()) + 1 if len(indices) else 0
        rel = sp.csr_matrix((np.ones(len(indices), np.float32), indices, indptr), shape=(len(rows), n_cols))
    if rel.shape[0] != n_rows:
        raise ValueError(f"relevance has {rel.shape[0]} rows for {n_rows} ranked lists")
    return rel


def unique_int(values: np.ndarray, *, return_inverse: bool = False):
    """Sorted distinct integers (optionally with the inverse map), like ``np.unique``.

    Sort-based: numpy 2.4's hash-based ``np.unique`` is 30-60x slower on large
    int64 arrays with many distinct values.
    """
    values = np.asarray(values)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(len(ordered), bool)
    first[1:] = ordered[1:] != ordered[:-1]
    if not return_inverse:
        return ordered[first]
    inverse = np.empty(len(values), np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def _relevance_keys(rel: sp.csr_matrix, width: np.int64) -> np.ndarray:
    rows = np.repeat(np.arange(rel.shape[0], dtype=np.int64), np.diff(rel.indptr))
    return unique_int(rows * width + rel.indices.astype(np.int64))


def n_relevant(relevant) -> np.ndarray:
    """Number of distinct relevant items per row (int64)."""
    n_rows = relevant.shape[0] if sp.issparse(relevant) else len(relevant)
    rel = _relevance_csr(relevant, n_rows)
    width = np.int64(max(rel.shape[1], 1))
    return np.bincount(_relevance_keys(rel, width) // width, minlength=n_rows).astype(np.int64)


def hits_matrix(ranked: np.ndarray, relevant) -> np.ndarray:
    """Whether each ranked slot holds a relevant item.

    Parameters
    ----------
    ranked : (n_users, L) int array
        Item indices, best first, -1 padded.
    relevant : list of int arrays or scipy.sparse matrix
        Relevant items of each row of ``ranked`` (sparse: structural non-zeros).

    Returns
    -------
    (n_users, L) bool array
    """
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2:
        raise ValueError("ranked must be a 2-D (n_users, L) array")
    rel = _relevance_csr(relevant, ranked.shape[0])
    width = np.int64(max(rel.shape[1], int(ranked.max(initial=-1)) + 1, 1))
    rel_keys = _relevance_keys(rel, width)
    valid = ranked >= 0
    keys = np.arange(ranked.shape[0], dtype=np.int64)[:, None] * width + ranked
    pos = np.searchsorted(rel_keys, keys)
    found = rel_keys[np.minimum(pos, len(rel_keys) - 1)] == keys if len(rel_keys) else np.zeros_like(valid)
    return found & valid


def _cut(hits: np.ndarray, k: int) -> np.ndarray:
    if k < 1:
        raise ValueError("k must be at least 1")
    return np.asarray(hits, dtype=bool)[:, :k]


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def precision_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """hits@K / K per user."""
    return _cut(hits, k).sum(axis=1) / float(k)


def recall_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """hits@K / |rel| per user (0 without relevant items)."""
    return _safe_div(_cut(hits, k).sum(axis=1), n_relevant)


def hit_rate_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """1.0 if any of the top K is relevant, else 0.0."""
    return _cut(hits, k).any(axis=1).astype(np.float64)


def ndcg_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """DCG@K / IDCG@K with binary gains; IDCG over min(|rel|, K) hits."""
    h = _cut(hits, k)
    disc = _discounts(k)
    dcg = h @ disc[: h.shape[1]]
    ideal = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal[np.minimum(np.asarray(n_relevant, np.int64), k)]
    return _safe_div(dcg, idcg)


def map_at_k(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """Sum of Precision@r over hit ranks r <= K, divided by min(|rel|, K)."""
    h = _cut(hits, k)
    ranks = np.arange(1, h.shape[1] + 1)
    ap = (np.cumsum(h, axis=1) / ranks * h).sum(axis=1)
    return _safe_div(ap, np.minimum(np.asarray(n_relevant, np.int64), k))


def mrr_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """1 / rank of the first hit within K (0 if none)."""
    h = _cut(hits, k)
    if h.shape[1] == 0:
        return np.zeros(h.shape[0])
    first = np.argmax(h, axis=1) + 1
    return np.where(h.any(axis=1), 1.0 / first, 0.0)


def ranking_metrics(hits: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int] = (10, 20)
                    ) -> dict[str, np.ndarray]:
    """Every accuracy metric at every K, keyed ``"ndcg@10"`` etc. (per-user arrays)."""
    return {f"{name}@{k}": metric_at_k(name, hits, n_relevant, k) for k in ks for name in METRICS}


def metric_at_k(name: str, hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    """One metric by name (one of ``METRICS``) at cut-off ``k``, per user."""
    if name in ("ndcg", "recall", "map"):
        return {"ndcg": ndcg_at_k, "recall": recall_at_k, "map": map_at_k}[name](hits, n_relevant, k)
    if name in ("precision", "mrr", "hit"):
        return {"precision": precision_at_k, "mrr": mrr_at_k, "hit": hit_rate_at_k}[name](hits, k)
    raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(METRICS)}")
