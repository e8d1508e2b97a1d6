"""Per-customer top-N lists for campaigns, with business rules, an optional re-ranker and reasons.

Each list is built from the model's scores in batches of customers: excluded items are
masked (already seen, already bought, categories left out), the best candidates are
optionally re-ranked (``recsys.fairness.rerank``), then capped per category. Every row says
why in a few words: the history item contributing most to the score for item-item models
(EASE, ItemKNN), else how much of the customer's history is in the item's category.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.fairness.exposure import popularity_tiers
from recsys.fairness.rerank import CalibratedReranker, ExposureReranker, MMRReranker, Reranker
from recsys.models.base import Recommender
from recsys.models.weighting import apply_weighting
from recsys.segments.audience import default_batch_size

RERANK_METHODS = ("calibrated", "exposure", "mmr")
LIST_COLUMNS = ["user_id", "rank", "item_id", "title", "category", "score", "reason"]


@dataclass(frozen=True)
class ListOptions:
    """Business rules of the lists.

    Parameters
    ----------
    n : int
        Items per customer.
    include_categories, exclude_categories : tuple of str
        Only these categories / never these (case-insensitive).
    exclude_seen : bool
        Leave out items the customer already interacted with (as the model saw it).
    exclude_bought : bool
        Leave out items the customer already bought (purchase events; any event without types).
    max_per_category : int, optional
        At most this many items of one category per list.
    rerank : {"calibrated", "exposure", "mmr"}, optional
        Re-ranker over the top ``n_candidates`` (Steck 2018; FA*IR-style popularity-tail
        exposure; MMR over categories), at ``strength`` in [0, 1].
    """

    n: int = 10
    include_categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    exclude_seen: bool = True
    exclude_bought: bool = True
    max_per_category: int | None = None
    rerank: str | None = None
    strength: float = 0.5
    n_candidates: int = 100

    def __post_init__(self):
        if self.n < 1:
            raise ValueError("lists need n >= 1 items")
        if self.rerank is not None and self.rerank not in RERANK_METHODS:
            raise ValueError(f"unknown re-ranker {self.rerank!r}; choose one of {', '.join(RERANK_METHODS)}")
        if not 0.0 <= float(self.strength) <= 1.0:
            raise ValueError("the re-ranking strength must be in [0, 1]")
        if self.max_per_category is not None and self.max_per_category < 1:
            raise ValueError("max_per_category must be at least 1")

    @property
    def needs_categories(self) -> bool:
        return bool(self.include_categories or self.exclude_categories or self.max_per_category or self.rerank
                     in ("calibrated", "mmr"))

    def to_dict(self) -> dict:
        out = asdict(self)
        out["include_categories"], out["exclude_categories"] = list(self.include_categories), \
            list(self.exclude_categories)
        return out


@dataclass(frozen=True)
class CustomerLists:
    """The lists (``LIST_COLUMNS``, one row per customer and rank), options, re-ranker and counts."""

    frame: pd.DataFrame
    options: ListOptions
    reranker: dict | None = None
    stats: dict = field(default_factory=dict)


def customer_lists(model: Recommender, data: Dataset, options: ListOptions = ListOptions(),
                   users: np.ndarray | None = None, *, batch_size: int | None = None) -> CustomerLists:
    """Top-``options.n`` lists for ``users`` (default: every customer with history in the model)."""
    started = time.perf_counter()
    history = model.history_
    if users is None:
        users = np.flatnonzero(np.diff(history.indptr) > 0)
    users = np.asarray(users, dtype=np.int64)
    categories = _categories(data, options.needs_categories)
    blocked = _blocked_items(data, categories, options)
    bought = purchases(data) if options.exclude_bought else None
    wide = options.rerank is not None or options.max_per_category is not None
    width = max(options.n_candidates, options.n) if wide else options.n
    batch = batch_size or default_batch_size(data.n_items)
    reasons = _Reasons(model, data, categories)
    parts, described = [], None
    for start in range(0, len(users), batch):
        rows = users[start:start + batch]
        scores = np.asarray(model.score(rows), dtype=np.float64)
        scores[np.isnan(scores)] = -np.inf
        scores[:, blocked] = -np.inf
        if options.exclude_seen:
            _mask(scores, history[rows])
        if bought is not None:
            _mask(scores, bought[rows])
        cand = _top(scores, min(width, scores.shape[1]))
        cand_scores = np.take_along_axis(scores, cand, axis=1)
        cand = np.where(np.isfinite(cand_scores), cand, -1)
        if options.rerank is not None:
            reranker = make_reranker(options.rerank, options.strength, data, history[rows], categories)
            described = described or reranker.describe()
            cand = reranker.rerank(cand, cand_scores, cand.shape[1])
        if options.max_per_category is not None:
            cand = _cap_per_category(cand, categories, options.max_per_category)
        cand = _compact(cand)[:, :options.n]
        parts.append(_rows(rows, cand, scores, data, categories, reasons))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=LIST_COLUMNS)
    stats = {"n_customers": int(len(users)), "n_rows": int(len(frame)),
             "n_short_lists": int((frame.groupby("user_id").size() < options.n).sum()) if len(frame) else 0,
             "batch_size": int(batch), "seconds": round(time.perf_counter() - started, 4),
             "reasons": reasons.kind}
    return CustomerLists(frame[LIST_COLUMNS], options, described, stats)


def make_reranker(method: str, strength: float, data: Dataset, history_rows: sp.csr_matrix,
                  categories: np.ndarray | None) -> Reranker:
    """A re-ranker for the lists of the customers whose history rows are given."""
    if method == "calibrated":
        return CalibratedReranker.from_history(_binary(history_rows), _require(categories, method), strength)
    if method == "mmr":
        return MMRReranker(_require(categories, method), lam=strength)
    if method == "exposure":
        counts = np.bincount(data.frame["item_idx"].to_numpy(), minlength=data.n_items)
        tail = popularity_tiers(counts) == "tail"
        return ExposureReranker(tail, max(float(tail.mean()), 1e-9), strength, group="popularity_tier=tail")
    raise ValueError(f"unknown re-ranker {method!r}; choose one of {', '.join(RERANK_METHODS)}")


def purchases(data: Dataset) -> sp.csr_matrix:
    """Customers x items: 1 where the customer bought the item (any event when there are no types)."""
    frame = data.frame
    keep = np.ones(len(frame), dtype=bool)
    if "event_type" in frame:
        keep = (frame["event_type"].astype("string").str.lower() == "purchase").fillna(False).to_numpy(bool)
    m = sp.csr_matrix((np.ones(int(keep.sum()), np.float32),
                       (frame["user_idx"].to_numpy()[keep], frame["item_idx"].to_numpy()[keep])),
                      shape=(data.n_users, data.n_items))
    m.sum_duplicates()
    return m


# ----- selection helpers ---------------------------------------------------------------------------

def _categories(data: Dataset, required: bool) -> np.ndarray | None:
    features = data.item_features
    if features is None or "category" not in features:
        if required:
            raise ValueError("these list rules need an item 'category' attribute, and the catalog has none")
        return None
    return features["category"].astype("string").to_numpy(dtype=object, na_value=None)


def _require(categories: np.ndarray | None, method: str) -> np.ndarray:
    if categories is None:
        raise ValueError(f"the {method} re-ranker needs item categories")
    return categories


def _blocked_items(data: Dataset, categories: np.ndarray | None, options: ListOptions) -> np.ndarray:
    blocked = np.zeros(data.n_items, dtype=bool)
    if categories is None:
        return blocked
    folded = np.array([str(c).casefold() if c is not None else None for c in categories], dtype=object)
    if options.include_categories:
        wanted = {c.strip().casefold() for c in options.include_categories}
        blocked |= ~np.array([c in wanted for c in folded], dtype=bool)
    if options.exclude_categories:
        unwanted = {c.strip().casefold() for c in options.exclude_categories}
        blocked |= np.array([c in unwanted for c in folded], dtype=bool)
    return blocked


def _binary(rows: sp.csr_matrix) -> sp.csr_matrix:
    out = sp.csr_matrix(rows, dtype=np.float32, copy=True)
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


def _mask(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    r, c = rows.nonzero()
    scores[r, c] = -np.inf


def _top(scores: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` best items per row, best first; equal scores by item index."""
    n_items = scores.shape[1]
    top = np.argpartition(-scores, width - 1, axis=1)[:, :width] if width < n_items else \
        np.tile(np.arange(n_items), (len(scores), 1))
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)
    return np.take_along_axis(top, order, axis=1)


def _cap_per_category(cand: np.ndarray, categories: np.ndarray, cap: int) -> np.ndarray:
    """Drop candidates beyond the ``cap``-th of their category in each row (order kept)."""
    codes, _ = pd.factorize(pd.Series(categories, dtype=object), use_na_sentinel=True)
    n_codes = int(codes.max(initial=-1)) + 2  # missing categories get their own bucket
    item_code = np.where(codes >= 0, codes, n_codes - 1)
    code = np.where(cand >= 0, item_code[np.where(cand >= 0, cand, 0)], -1)
    rows, width = cand.shape
    key = (np.arange(rows)[:, None] * n_codes + code).ravel()
    order = np.argsort(key, kind="stable")  # within a (row, category) group: list order
    sorted_key = key[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    group_start = np.repeat(first, np.diff(np.r_[first, len(key)]))
    occurrence = np.empty(len(key), np.int64)
    occurrence[order] = np.arange(len(key)) - group_start
    over = (occurrence.reshape(rows, width) >= cap) & (cand >= 0)
    return np.where(over, -1, cand)


def _compact(cand: np.ndarray) -> np.ndarray:
    """Move valid entries (>= 0) to the front of each row, keeping their order."""
    order = np.argsort(cand < 0, axis=1, kind="stable")
    return np.take_along_axis(cand, order, axis=1)


def _rows(users: np.ndarray, cand: np.ndarray, scores: np.ndarray, data: Dataset, categories: np.ndarray | None,
          reasons: "_Reasons") -> pd.DataFrame:
    row, slot = np.nonzero(cand >= 0)
    items = cand[row, slot]
    features = data.item_features
    titles = (features["title"].astype("string").fillna("").to_numpy(dtype=object)[items]
              if features is not None and "title" in features else data.items.to_raw(items).astype(str))
    return pd.DataFrame({
        "user_id": data.users.to_raw(users[row]).astype(str),
        "rank": (slot + 1).astype(np.int64),
        "item_id": data.items.to_raw(items).astype(str),
        "title": titles,
        "category": categories[items] if categories is not None else None,
        "score": scores[row, items].astype(np.float64),
        "reason": reasons.explain(users, row, items),
    })


# ----- reasons -----------------------------------------------------------------------------------

class _Reasons:
    """Short reasons: the top contributing history item (item-item models) or category affinity."""

    def __init__(self, model: Recommender, data: Dataset, categories: np.ndarray | None):
        self.model, self.data, self.categories = model, data, categories
        self.weights = getattr(model, "weights_", None)
        if self.weights is None:
            self.weights = getattr(model, "similarity_", None)
        self.weighting = getattr(model, "weighting", "binary")
        features = data.item_features
        self.titles = (features["title"].astype("string").fillna("").to_numpy(dtype=object)
                       if features is not None and "title" in features else data.items.ids.astype(str))
        self.kind = "history item" if self.weights is not None else "category affinity" if categories is not None \
            else "model score"

    def explain(self, users: np.ndarray, row: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = np.empty(len(items), dtype=object)
        done = np.zeros(len(items), dtype=bool)
        if self.weights is not None and len(items):
            source = self._top_history_item(users, row, items)
            done = source >= 0
            out[done] = [f'Similar to "{self.titles[h]}" in their history' for h in source[done]]
        if self.categories is not None and (~done).any():
            out[~done] = self._category_reasons(users, row[~done], items[~done])
        elif (~done).any():
            out[~done] = "High predicted score"
        return out

    def _top_history_item(self, users: np.ndarray, row: np.ndarray, items: np.ndarray) -> np.ndarray:
        x = apply_weighting(self.model.history_[users], self.weighting)
        counts = np.diff(x.indptr)[row]
        pair = np.repeat(np.arange(len(items)), counts)
        starts = np.repeat(x.indptr[row], counts)
        offset = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        entry = starts + offset
        source, target = x.indices[entry], items[pair]
        weights = self.weights
        w = weights[source, target] if isinstance(weights, np.ndarray) else np.asarray(
            sp.csr_matrix(weights)[source, target]).ravel()
        contribution = x.data[entry] * np.asarray(w, dtype=np.float64).ravel()
        best = np.full(len(items), -1, np.int64)
        if len(pair):
            order = np.lexsort((-contribution, pair))
            first = order[np.r_[True, pair[order][1:] != pair[order][:-1]]]
            positive = contribution[first] > 0
            best[pair[first][positive]] = source[first][positive]
        return best

    def _category_reasons(self, users: np.ndarray, row: np.ndarray, items: np.ndarray) -> list[str]:
        codes, names = pd.factorize(pd.Series(self.categories, dtype=object), use_na_sentinel=True)
        x = _binary(self.model.history_[users])
        known = codes >= 0
        onehot = sp.csr_matrix((np.ones(int(known.sum()), np.float32), (np.flatnonzero(known), codes[known])),
                               shape=(len(codes), max(len(names), 1)))
        per_category = np.asarray((x @ onehot).todense())
        totals = np.asarray(x.sum(axis=1)).ravel()
        out = []
        for r, i in zip(row, items):
            code = codes[i]
            if code < 0:
                out.append("High predicted score")
                continue
            share = per_category[r, code] / totals[r] if totals[r] else 0.0
            out.append(f"{share:.0%} of their history is {names[code]}" if share > 0
                       else f"New category for them: {names[code]}")
        return out
