"""Miscalibration of recommendation lists (Steck 2018, "Calibrated recommendations").

A customer's genre distribution p(g|u) is the mean over the items in their history
of the items' genre distributions p(g|i) (Eq. 1, with uniform item weights); a
list's distribution q(g|u) weights each listed item by its rank (Eq. 2, the DCG
weight 1/log2(r+1)). Miscalibration is C_KL(p, q) = sum_g p(g|u) log(p(g|u) / q~(g|u))
with q~ = (1 - alpha) q + alpha p and alpha = 0.01 (Eq. 3), so it stays finite when the
list misses a genre of the history. Natural logarithm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.fairness.exposure import position_weights

ALPHA = 0.01
_BLOCK = 8192


def genre_matrix(labels: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """One-hot ``p(g|i)`` (items x genres) from one label per item; missing labels give empty rows."""
    series = pd.Series(np.asarray(labels, dtype=object), dtype=object)
    codes, names = pd.factorize(series, sort=True, use_na_sentinel=True)
    rows = np.flatnonzero(codes >= 0)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, codes[rows])), shape=(len(series), len(names)))
    return matrix, np.asarray(names, dtype=object)


def _normalise(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)


def history_distribution(history: sp.spmatrix, genres: sp.spmatrix) -> np.ndarray:
    """p(g|u) for each row of ``history`` (users x items, any weights; only presence counts).

    Rows without a genre-labelled item are NaN.
    """
    binary = sp.csr_matrix(history, copy=True)
    binary.data[:] = 1.0
    return _normalise(np.asarray((binary @ genres).todense(), dtype=np.float64))


def list_distribution(ranked: np.ndarray, genres: sp.spmatrix, weighting: str = "log") -> np.ndarray:
    """q(g|u) of ranked lists (-1 slots are empty), each slot weighted by its rank."""
    ranked = np.asarray(ranked, dtype=np.int64)
    n_users, k = ranked.shape
    w = np.broadcast_to(position_weights(k, weighting), ranked.shape)
    valid = ranked >= 0
    rows = np.broadcast_to(np.arange(n_users)[:, None], ranked.shape)
    slots = sp.csr_matrix((w[valid], (rows[valid], ranked[valid])), shape=(n_users, genres.shape[0]))
    return _normalise(np.asarray((slots @ genres).todense(), dtype=np.float64))


def kl_miscalibration(p: np.ndarray, q: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """C_KL(p, q) per row with Steck's smoothing; NaN where p or q is undefined."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape:
        raise ValueError("p and q must have the same shape (users x genres)")
    if not 0.0 <= alpha < 1.0:
        raise ValueError("alpha must be in [0, 1)")
    q_tilde = (1.0 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q_tilde), 0.0)
    out = terms.sum(axis=1)
    undefined = np.isnan(p).any(axis=1) | np.isnan(q).any(axis=1)
    return np.where(undefined, np.nan, out)


def miscalibration(history: sp.spmatrix, ranked: np.ndarray, genres: sp.spmatrix, *, alpha: float = ALPHA,
                   weighting: str = "log") -> np.ndarray:
    """C_KL per list; row ``i`` of ``history`` (users x items) belongs to row ``i`` of ``ranked``."""
    history = sp.csr_matrix(history)
    ranked = np.asarray(ranked, dtype=np.int64)
    if history.shape[0] != ranked.shape[0]:
        raise ValueError("history and ranked must have one row per customer each")
    out = np.empty(ranked.shape[0])
    for start in range(0, ranked.shape[0], _BLOCK):
        stop = start + _BLOCK
        p = history_distribution(history[start:stop], genres)
        q = list_distribution(ranked[start:stop], genres, weighting)
        out[start:stop] = kl_miscalibration(p, q, alpha)
    return out
