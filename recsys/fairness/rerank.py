"""Post-processing re-rankers: trade a little relevance for calibration, exposure or diversity.

Each re-ranker takes any model's candidate lists (e.g. its top 100) with their
scores and greedily builds a top-k. Scores are min-max scaled within each list,
so the strength ``lam`` in [0, 1] means the same for every model: 0 keeps the
model's order, 1 follows the fairness or diversity objective alone.
"""

from __future__ import annotations

from abc import ABC
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.fairness.calibration import ALPHA, genre_matrix, history_distribution
from recsys.fairness.exposure import position_weights

if TYPE_CHECKING:
    from recsys.models.base import Recommendations

_BLOCK = 4096


class Reranker(ABC):
    """Greedy re-ranking of candidate lists; subclasses define the objective."""

    method: ClassVar[str] = ""
    reference: ClassVar[str] = ""

    def __init__(self, lam: float = 0.5):
        if not 0.0 <= float(lam) <= 1.0:
            raise ValueError(f"the strength lam must be in [0, 1], not {lam}")
        self.lam = float(lam)

    def rerank(self, candidates: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
        """Top-``k`` item indices per row (-1 padded) chosen from ``candidates``.

        ``candidates`` (users, C) holds item indices (-1 = no candidate) and
        ``scores`` (users, C) the model's scores (higher is better).
        """
        candidates = np.asarray(candidates, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64)
        if candidates.ndim != 2 or candidates.shape != scores.shape:
            raise ValueError("candidates and scores must be (users, C) arrays of the same shape")
        if k < 1:
            raise ValueError("k must be positive")
        self._check_rows(len(candidates))
        out = np.full((len(candidates), k), -1, np.int64)
        for start in range(0, len(candidates), _BLOCK):
            rows = slice(start, start + _BLOCK)
            out[rows] = self._rerank_block(candidates[rows], scores[rows], k, start)
        return out

    def describe(self) -> dict:
        """The method and its settings, JSON-safe (for manifests of exported lists)."""
        return {"method": self.method, "lambda": self.lam, "reference": self.reference, **self._settings()}

    def _settings(self) -> dict:
        return {}

    def _check_rows(self, n_rows: int) -> None:
        """Raise if per-row settings do not match ``n_rows`` lists."""

    def _rerank_block(self, cand: np.ndarray, scores: np.ndarray, k: int, offset: int) -> np.ndarray:
        valid = (cand >= 0) & np.isfinite(scores)
        order = np.argsort(np.where(valid, -scores, np.inf), axis=1, kind="stable")
        cand = np.take_along_axis(cand, order, 1)
        valid = np.take_along_axis(valid, order, 1)
        rel = _scaled(np.take_along_axis(scores, order, 1), valid)
        state = self._start(cand, valid, offset)
        available = valid.copy()
        rows = np.arange(len(cand))
        out = np.full((len(cand), k), -1, np.int64)
        for t in range(min(k, cand.shape[1])):
            objective = self._objective(state, rel, cand, t)
            objective = self._constrain(state, objective, available, cand, t)
            objective[~available] = -np.inf
            pick = np.argmax(objective, axis=1)
            has = available[rows, pick]
            out[has, t] = cand[rows[has], pick[has]]
            available[rows[has], pick[has]] = False
            self._update(state, cand, pick, has, t)
        return out

    def _start(self, cand: np.ndarray, valid: np.ndarray, offset: int) -> dict:
        return {}

    def _objective(self, state: dict, rel: np.ndarray, cand: np.ndarray, t: int) -> np.ndarray:
        """Gain of placing each candidate at rank ``t`` (a fresh array: the caller masks it)."""
        if self.lam == 0:
            return rel.copy()
        return (1.0 - self.lam) * rel - self.lam * self._cost(state, cand, t)

    def _cost(self, state: dict, cand: np.ndarray, t: int) -> np.ndarray:
        return np.zeros(cand.shape)

    def _constrain(self, state: dict, objective: np.ndarray, available: np.ndarray, cand: np.ndarray,
                   t: int) -> np.ndarray:
        return objective

    def _update(self, state: dict, cand: np.ndarray, pick: np.ndarray, has: np.ndarray, t: int) -> None:
        """Record the items just placed at rank ``t`` (rows where ``has``)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lam={self.lam:g})"


def _scaled(scores: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Min-max scale each row's valid scores to [0, 1] (all 1 when they are equal)."""
    low = np.where(valid, scores, np.inf).min(axis=1, keepdims=True)
    high = np.where(valid, scores, -np.inf).max(axis=1, keepdims=True)
    span = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(span > 0, (scores - low) / np.where(span > 0, span, 1.0), 1.0)
    return np.where(valid, out, 0.0)


class CalibratedReranker(Reranker):
    """Calibrated re-ranking (Steck 2018, Eq. 6): greedily maximise (1-lam) s(I) - lam C_KL(p, q(I)).

    Parameters
    ----------
    item_genres : (n_items,) labels or (n_items, G) matrix of p(g|i)
        Genre of each item (e.g. the category); missing labels belong to no genre.
    targets : (users, G) array
        p(g|u) of the customer behind each candidate row (``history_distribution``);
        rows of NaN (no labelled history) are ranked by score alone.
    lam : float in [0, 1]
        Weight of miscalibration against (scaled) relevance.
    alpha : float
        Steck's smoothing of q (0.01).
    """

    method = "calibrated"
    reference = "Steck 2018, Calibrated recommendations (RecSys)"

    def __init__(self, item_genres, targets: np.ndarray, lam: float = 0.5, *, alpha: float = ALPHA,
                 weighting: str = "log", genre_names=None):
        super().__init__(lam)
        if np.ndim(item_genres) == 1:
            matrix, names = genre_matrix(item_genres)
        else:
            matrix, names = sp.csr_matrix(item_genres), genre_names
        self.genres = np.asarray(matrix.todense(), dtype=np.float64)
        self.genre_names = None if names is None else [str(n) for n in names]
        self.targets = np.asarray(targets, dtype=np.float64)
        if self.targets.ndim != 2 or self.targets.shape[1] != self.genres.shape[1]:
            raise ValueError(f"targets must be (users, {self.genres.shape[1]}) genre distributions")
        self.alpha = float(alpha)
        self.weighting = weighting
        per_item = (self.genres > 0).sum(axis=1)
        self._codes = np.where(per_item == 1, self.genres.argmax(axis=1), -1) if per_item.max(initial=0) <= 1 \
            else None

    @classmethod
    def from_history(cls, history: sp.spmatrix, item_labels: np.ndarray, lam: float = 0.5, **kw
                     ) -> "CalibratedReranker":
        """Targets from each row's history (rows of ``history`` align with the candidate rows)."""
        matrix, names = genre_matrix(item_labels)
        return cls(matrix, history_distribution(history, matrix), lam, genre_names=names, **kw)

    def _settings(self) -> dict:
        return {"alpha": self.alpha, "weighting": self.weighting, "genres": self.genre_names,
                "n_genres": int(self.genres.shape[1])}

    def _check_rows(self, n_rows: int) -> None:
        if len(self.targets) != n_rows:
            raise ValueError(f"targets has {len(self.targets)} rows for {n_rows} candidate lists")

    def _start(self, cand, valid, offset):
        p = self.targets[offset:offset + len(cand)]
        return {"p": np.nan_to_num(p), "known": ~np.isnan(p).any(axis=1),
                "acc": np.zeros(p.shape), "w": position_weights(cand.shape[1], self.weighting)}

    def _kl(self, p: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """C_KL(p, q) with q = counts normalised over the last axis (Steck Eq. 3)."""
        total = counts.sum(axis=-1, keepdims=True)
        q = counts / np.where(total > 0, total, 1.0)
        q_tilde = (1.0 - self.alpha) * q + self.alpha * p
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(p > 0, p * np.log(p / q_tilde), 0.0).sum(axis=-1)

    def _cost(self, state, cand, t):
        p, acc, w = state["p"], state["acc"], state["w"][t]
        if self._codes is not None:
            # One genre per item: only the candidate's genre h changes in q, so with
            # base_g = q~_g after renormalising by the new total, sum_g p_g log q~_g(h) =
            # sum_g p_g log base_g + p_h (log(base_h + c) - log base_h): O(genres) per list.
            n_genres = p.shape[1]
            total = acc.sum(axis=1, keepdims=True) + w
            base = (1.0 - self.alpha) * acc / total + self.alpha * p
            lift = (1.0 - self.alpha) * w / total
            with np.errstate(divide="ignore", invalid="ignore"):
                log_base = np.where(p > 0, np.log(base), 0.0)
                entropy = np.where(p > 0, p * np.log(p), 0.0).sum(axis=1, keepdims=True)
                change = np.where(p > 0, p * (np.log(base + lift) - log_base), 0.0)
            per_genre = entropy - (p * log_base).sum(axis=1, keepdims=True) - change
            kl = np.concatenate([per_genre, self._kl(p, acc)[:, None]], axis=1)
            codes = np.where(cand >= 0, self._codes[np.where(cand >= 0, cand, 0)], -1)
            cost = np.take_along_axis(kl, np.where(codes >= 0, codes, n_genres), axis=1)
        else:
            options = acc[:, None, :] + w * self.genres[np.where(cand >= 0, cand, 0)]
            cost = self._kl(p[:, None, :], options)
        return np.where(state["known"][:, None], cost, 0.0)

    def _update(self, state, cand, pick, has, t):
        rows = np.flatnonzero(has)
        state["acc"][rows] += state["w"][t] * self.genres[cand[rows, pick[rows]]]


class ExposureReranker(Reranker):
    """Exposure-fair re-ranking for a protected item group, FA*IR-style (Zehlike et al. 2017).

    FA*IR requires every prefix of a list to hold a minimum number of protected
    items. Here the minimum for the first t slots of list i is
    floor(lam * target_share * t + u_i), with u_i in [0, 1) spread evenly over the
    lists (a Weyl sequence): each list gets the expected count lam * target_share * t
    rounded down or up, so across lists the protected share of every prefix is at
    least lam * target_share on average, even when target_share * k < 1 (where a
    per-list floor would never place one). When a prefix falls short the best
    protected candidate goes next, otherwise the best candidate of any group; lists
    whose candidates run out of protected items are filled by score.

    Parameters
    ----------
    protected : (n_items,) bool
        Items of the protected group (e.g. long-tail items or a niche category).
    target_share : float in (0, 1]
        The share to guarantee at full strength (e.g. the group's catalog share).
    lam : float in [0, 1]
        Strength: the guaranteed share is lam * target_share.
    group : str
        Name of the protected group, for ``describe``.
    """

    method = "exposure"
    reference = "Zehlike et al. 2017, FA*IR: A fair top-k ranking algorithm (CIKM)"
    _GOLDEN = 0.6180339887498949

    def __init__(self, protected: np.ndarray, target_share: float, lam: float = 0.5, *, group: str = ""):
        super().__init__(lam)
        if not 0.0 < float(target_share) <= 1.0:
            raise ValueError("target_share must be in (0, 1]")
        self.protected = np.asarray(protected, dtype=bool)
        self.target_share = float(target_share)
        self.group = str(group)

    def _settings(self) -> dict:
        return {"target_share": self.target_share, "group": self.group,
                "n_protected_items": int(self.protected.sum()), "rounding": "Weyl offsets per list"}

    def minimum_counts(self, rows: np.ndarray, k: int) -> np.ndarray:
        """Protected items required among the first t = 1..k slots of each list in ``rows``."""
        offsets = ((np.asarray(rows, dtype=np.float64) + 1.0) * self._GOLDEN) % 1.0
        expected = self.lam * self.target_share * np.arange(1, k + 1)
        return np.floor(expected[None, :] + offsets[:, None] + 1e-12).astype(np.int64)

    def _start(self, cand, valid, offset):
        is_protected = np.where(cand >= 0, self.protected[np.where(cand >= 0, cand, 0)], False)
        return {"protected": is_protected & valid, "count": np.zeros(len(cand), np.int64),
                "minimum": self.minimum_counts(offset + np.arange(len(cand)), cand.shape[1])}

    def _objective(self, state, rel, cand, t):
        # The constraint, not a soft cost, carries the strength: rank by relevance alone.
        return rel.copy()

    def _constrain(self, state, objective, available, cand, t):
        open_protected = state["protected"] & available
        short = (state["count"] < state["minimum"][:, t]) & open_protected.any(axis=1)
        return np.where(short[:, None] & ~open_protected, -np.inf, objective)

    def _update(self, state, cand, pick, has, t):
        rows = np.flatnonzero(has)
        state["count"][rows] += state["protected"][rows, pick[rows]]


class MMRReranker(Reranker):
    """Maximal marginal relevance (Carbonell & Goldstein 1998, Eq. 1) for diverse lists.

    Greedily picks argmax (1-lam) rel(i) - lam max_{j in S} sim(i, j): with
    ``item_categories`` the similarity is 1 for items of the same category, else 0;
    with ``item_vectors`` it is the cosine similarity of the vectors. (The paper's
    lambda weights relevance; here lam is the weight of diversity.)
    """

    method = "mmr"
    reference = "Carbonell & Goldstein 1998, The use of MMR, diversity-based reranking (SIGIR)"

    def __init__(self, item_categories: np.ndarray | None = None, item_vectors: np.ndarray | None = None,
                 lam: float = 0.5):
        super().__init__(lam)
        if (item_categories is None) == (item_vectors is None):
            raise ValueError("give exactly one of item_categories or item_vectors")
        self.similarity = "category" if item_categories is not None else "cosine"
        if item_categories is not None:
            codes, _ = pd.factorize(pd.Series(np.asarray(item_categories, dtype=object), dtype=object),
                                    use_na_sentinel=True)
            self._codes = codes
            self._n_codes = int(codes.max(initial=-1)) + 1
        else:
            vectors = np.asarray(item_vectors, dtype=np.float64)
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            self._unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)

    def _settings(self) -> dict:
        return {"similarity": self.similarity}

    def _start(self, cand, valid, offset):
        safe = np.where(cand >= 0, cand, 0)
        if self.similarity == "category":
            # Unknown categories map to a column that is never marked, so they are never "similar".
            codes = np.where(cand >= 0, self._codes[safe], -1)
            return {"codes": np.where(codes >= 0, codes, self._n_codes),
                    "seen": np.zeros((len(cand), self._n_codes + 1), bool)}
        return {"vectors": self._unit[safe], "max_sim": np.zeros(cand.shape), "any": np.zeros(len(cand), bool)}

    def _cost(self, state, cand, t):
        if self.similarity == "category":
            return np.take_along_axis(state["seen"], state["codes"], axis=1).astype(np.float64)
        return np.where(state["any"][:, None], state["max_sim"], 0.0)

    def _update(self, state, cand, pick, has, t):
        rows = np.flatnonzero(has)
        if self.similarity == "category":
            state["seen"][rows, state["codes"][rows, pick[rows]]] = True
            state["seen"][:, self._n_codes] = False
            return
        chosen = state["vectors"][rows, pick[rows]]
        sim = np.einsum("bcd,bd->bc", state["vectors"][rows], chosen)
        first = ~state["any"][rows]
        state["max_sim"][rows] = np.where(first[:, None], sim, np.maximum(state["max_sim"][rows], sim))
        state["any"][rows] = True


def candidate_lists(recs: "Recommendations", users: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(items, scores) arrays (len(users), width) from a model's recommendations, best first.

    Missing slots are -1 with score -inf.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.full((len(users), width), -1, np.int64)
    scores = np.full((len(users), width), -np.inf)
    row = pd.Index(users).get_indexer(np.asarray(recs.user_idx))
    rank = np.asarray(recs.rank)
    keep = (row >= 0) & (rank <= width)
    items[row[keep], rank[keep] - 1] = np.asarray(recs.item_idx)[keep]
    scores[row[keep], rank[keep] - 1] = np.asarray(recs.score, dtype=np.float64)[keep]
    return items, scores
