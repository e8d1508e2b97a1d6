"""Item-based k-nearest-neighbours with shrunk cosine similarity (Sarwar et al. 2001)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.models.base import Recommender
from recsys.models.similarity import SimilarItems, top_similar
from recsys.models.weighting import apply_weighting
from recsys.training.options import FitOptions
from recsys.training.progress import ProgressEvent

# Similarity entries materialised per block of target items before pruning to top-k.
_BLOCK_ENTRIES = 1 << 23


class ItemKNN(Recommender):
    """Item-based collaborative filtering: score items similar to what the user has.

    Similarity of items i and j is the shrunk cosine of their user columns,
    ``s_ij = x_i . x_j / (||x_i|| ||x_j|| + shrink)``; each target item j keeps its
    ``n_neighbors`` most similar items N(j), and a user's score for j is
    ``sum_{i in N(j)} x_ui s_ij^q`` (Sarwar et al. 2001, eq. 2 without the rating
    normalisation, which top-N ranking does not need; the locality exponent q
    is Aiolli's 2013 refinement).

    Parameters
    ----------
    n_neighbors : int in [1, 2000], default 100
        Neighbours kept per item; fewer is faster and more conservative.
    shrink : float in [0, 1000], default 2.0
        Added to the cosine denominator so that pairs seen together by only a
        few users do not get extreme similarity.
    locality : float in [0.5, 8], default 2.0
        Exponent q on the similarities when scoring: above 1 the closest
        neighbours count more than many loosely similar ones (1 = plain
        Sarwar). q = 2 ranked better than 1 on MovieLens and retail data here.
    weighting : {"binary", "log", "raw"}, default "binary"
        How summed event weights enter both the similarity and the scoring
        (see ``recsys.models.weighting``).

    Attributes
    ----------
    similarity_ : csr_matrix of shape (n_items, n_items), float32
        ``s_ij^q`` for the kept pairs; column j holds the neighbours N(j) of item
        j, and scores are exactly the (weighted) history rows times this matrix.

    Notes
    -----
    Fitting is a sparse X^T X in blocks of target items, each pruned to top-k at
    once, so memory stays O(n_items * n_neighbors) plus one block. Scoring is
    one sparse product of the batch's history rows with ``similarity_``.

    References
    ----------
    Sarwar, Karypis, Konstan & Riedl, "Item-based collaborative filtering
    recommendation algorithms", WWW 2001.
    Aiolli, "Efficient top-N recommendation for very large scale binary rated
    datasets", RecSys 2013.
    """

    key = "itemknn"
    capabilities = frozenset({"similar_items"})

    def __init__(self, n_neighbors: int = 100, shrink: float = 2.0, locality: float = 2.0,
                 weighting: str = "binary"):
        self.n_neighbors = n_neighbors
        self.shrink = shrink
        self.locality = locality
        self.weighting = weighting

    def _fit(self, train: Dataset, options: FitOptions) -> None:
        if int(self.n_neighbors) < 1 or float(self.shrink) < 0 or not float(self.locality) > 0:
            raise ValueError("n_neighbors must be >= 1, shrink >= 0 and locality > 0")
        x = apply_weighting(self.history_, self.weighting)
        cosine = item_cosine_topk(x, int(self.n_neighbors), float(self.shrink), options)
        self.similarity_ = cosine.power(float(self.locality)).astype(np.float32)

    def _score(self, users: np.ndarray, *, context: dict | None = None) -> np.ndarray:
        rows = apply_weighting(self.history_[users], self.weighting)
        return (rows @ self.similarity_).toarray().astype(np.float32, copy=False)

    def similar_items(self, item_idx: int, k: int = 10) -> SimilarItems:
        """The ``k`` items with the highest similarity to ``item_idx`` among its neighbours."""
        self._check_fitted()
        column = self.similarity_[:, [int(item_idx)]].toarray().ravel()
        column[column <= 0] = -np.inf
        return top_similar(item_idx, column, k)

    def _get_state(self):
        return {"similarity_": self.similarity_, "similarity_powered_": np.array(True)}, None

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        similarity = sp.csr_matrix(arrays["similarity_"], dtype=np.float32)
        if "similarity_powered_" not in arrays:
            # Saved before ``similarity_`` held the powered values: it is the plain cosine.
            similarity = similarity.power(float(self.locality)).astype(np.float32)
        self.similarity_ = similarity


def item_cosine_topk(x: sp.csr_matrix, k: int, shrink: float,
                     options: FitOptions | None = None) -> sp.csr_matrix:
    """Shrunk cosine similarity between the columns of ``x``, top-``k`` per column.

    Returns an (n_items, n_items) CSR matrix whose column j holds the ``k``
    largest ``s_ij`` (i != j, s_ij > 0).
    """
    n_items = x.shape[1]
    xt = sp.csr_matrix(x.T, dtype=np.float64)
    xc = sp.csc_matrix(x, dtype=np.float64)
    norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel())
    block = max(1, _BLOCK_ENTRIES // max(n_items, 1))
    rows, cols, vals = [], [], []
    n_blocks = -(-n_items // block)
    for b, start in enumerate(range(0, n_items, block)):
        if options is not None:
            options.check_cancel()
        stop = min(start + block, n_items)
        gram = sp.csc_matrix(xt @ xc[:, start:stop])
        gram.sort_indices()
        topk = _dense_topk if gram.nnz > 0.1 * n_items * (stop - start) else _sparse_topk
        row, col, sim = topk(gram, norms, start, k, shrink)
        rows.append(row), cols.append(col), vals.append(sim.astype(np.float32))
        if options is not None:
            options.emit(ProgressEvent(stage="fit", step=b + 1, total=n_blocks, elapsed=options.elapsed(),
                                       message="item similarities"))
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n_items, n_items), dtype=np.float32)


def _shrunk_cosine(dot: np.ndarray, norm_row: np.ndarray, norm_col: np.ndarray, shrink: float) -> np.ndarray:
    return dot / (norm_row * norm_col + shrink + 1e-12)


def _dense_topk(gram: sp.csc_matrix, norms: np.ndarray, start: int, k: int, shrink: float):
    """Top-k per column of a dense-ish gram block (one contiguous row per target item)."""
    n, width = gram.shape
    cols = np.arange(start, start + width)
    sim = sp.csr_matrix(gram.T).toarray().astype(np.float32, copy=False)  # (width, n)
    denom = np.multiply.outer(norms[cols].astype(np.float32), norms.astype(np.float32))
    denom += np.float32(shrink + 1e-12)
    sim /= denom
    del denom
    sim[np.arange(width), cols] = 0.0
    k = min(k, n - 1)
    if k < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    top = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < n else np.broadcast_to(np.arange(n), (width, n))
    val = np.take_along_axis(sim, top, axis=1).ravel()
    row, col = top.ravel(), np.repeat(cols, top.shape[1])
    keep = val > 0
    return row[keep], col[keep], val[keep]


def _sparse_topk(gram: sp.csc_matrix, norms: np.ndarray, start: int, k: int, shrink: float):
    """Top-k per column of a sparse gram block by one sort of (column, -similarity)."""
    col = np.repeat(np.arange(start, start + gram.shape[1]), np.diff(gram.indptr))
    row = gram.indices
    sim = _shrunk_cosine(gram.data, norms[row], norms[col], shrink)
    keep = (row != col) & (sim > 0)
    row, col, sim = row[keep], col[keep], sim[keep]
    # sim is in (0, 1], so col - sim/2 orders by column, then by descending similarity;
    # the stable sort keeps row order (ascending item index) among ties.
    order = np.argsort(col - 0.5 * sim, kind="stable")
    row, col, sim = row[order], col[order], sim[order]
    first = np.searchsorted(col, np.arange(start, start + gram.shape[1]))
    top = np.arange(len(col)) - first[col - start] < k
    return row[top], col[top], sim[top]
