"""Apply new events to a fitted model without retraining it from scratch.

Each family updates what it scores from: ALS folds changed customers in (exact
per-user solve against fixed item factors), BPR takes a few SGD steps on their
vectors, history-scored models (ItemKNN, EASE, MultVAE/MultDAE, content TF-IDF)
get the new history rows, sequence models (GRU4Rec, SASRec) the new sequences,
popularity models their new counts, and the models with per-customer embeddings
(NeuMF, Hybrid, ContentNeural) re-fit those customers' rows against a fixed item
side (``recsys.adapt.deep_update``). Content models place new items from their
text. ``method="finetune"`` then trains a deep model a few more epochs on old +
new events from its current weights. The shared model is never changed: the
result is a shallow copy whose untouched arrays are the original's (read-only).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from recsys.adapt.deep_update import DEEP_KEYS, FoldInSettings, fold_in_users
from recsys.data.dataset import SECONDS_PER_DAY, Dataset, IdMap, _index_frame
from recsys.models.base import Recommender
from recsys.models.torch_model import TorchRecommender
from recsys.models.weighting import apply_weighting
from recsys.training.options import FitOptions

_HISTORY_KEYS = frozenset({"itemknn", "ease", "multvae", "multdae"})
_SEQUENCE_KEYS = frozenset({"gru4rec", "sasrec"})
_CONTENT_KEYS = frozenset({"content_tfidf"})
SUPPORTED_KEYS = (frozenset({"als", "bpr", "popularity", "trending"}) | _HISTORY_KEYS | _SEQUENCE_KEYS
                  | _CONTENT_KEYS | DEEP_KEYS)
#: Models that place items unseen at fit time from their content (title, description, labels).
PLACING_KEYS = frozenset({"content_tfidf", "content_neural"})
METHODS = ("auto", "finetune")


@dataclass(frozen=True)
class UpdateReport:
    """What an update changed.

    ``users_updated`` are user indices (in the updated maps) whose scores now
    reflect new events; ``new_users`` / ``new_items`` are raw ids added to the
    maps; ``n_skipped`` counts events on items the model cannot place;
    ``details`` holds method-specific figures (losses, epochs, steps).
    """

    model_key: str
    method: str
    n_events: int
    n_skipped: int
    users_updated: np.ndarray
    new_users: tuple[str, ...]
    new_items: tuple[str, ...]
    seconds: float
    data: Dataset = field(repr=False)
    details: dict = field(default_factory=dict)

    @property
    def n_users_updated(self) -> int:
        return int(len(self.users_updated))

    def summary(self) -> dict:
        return {"model": self.model_key, "method": self.method, "events": self.n_events,
                "skipped_events": self.n_skipped, "customers_updated": self.n_users_updated,
                "new_customers": len(self.new_users), "new_items": len(self.new_items),
                "seconds": round(self.seconds, 4), **self.details}


def update_run(model: Recommender, data: Dataset, new_events: pd.DataFrame,
               items: pd.DataFrame | None = None, *, customers: pd.DataFrame | None = None,
               method: str = "auto", epochs: int = 2,
               fold_in: FoldInSettings = FoldInSettings(),
               options: FitOptions | None = None) -> tuple[Recommender, UpdateReport]:
    """Append ``new_events`` (canonical interactions: ``user_id``, ``item_id``, ...) and update.

    New customers extend the user map. New items extend the item map only where
    the model can place them (content models, from rows of ``items``: title,
    description, category, tags); events on other unknown items are skipped.
    ``customers`` (a customers table) gives new customers their attributes, which
    attribute-aware models (Hybrid) score them from.
    ``method="finetune"`` (deep models) follows the update with ``epochs`` epochs of
    training on old + new events from the current weights (``options`` as for fit).
    Returns the updated copy and a report whose ``data`` is the extended dataset.
    """
    start = time.perf_counter()
    key = _check_supported(model)
    events = new_events.copy()
    events["user_id"] = events["user_id"].astype(str)
    events["item_id"] = events["item_id"].astype(str)
    new_items = _new_item_ids(events, data, items) if key in PLACING_KEYS else ()
    item_map = IdMap(np.concatenate([data.items.ids, np.asarray(new_items, dtype=object)]))
    known = item_map.index_of(events["item_id"].to_numpy(dtype=object)) >= 0
    n_skipped = int((~known).sum())
    events = events[known]
    unseen_users = pd.unique(events["user_id"][data.users.index_of(events["user_id"].to_numpy(dtype=object)) < 0])
    user_map = IdMap(np.concatenate([data.users.ids, np.asarray(unseen_users, dtype=object)]))
    new_item_rows = None
    if new_items:
        new_item_rows = items.set_index(items["item_id"].astype(str)).loc[list(new_items)].reset_index(drop=True)
    extended = _extend(data, user_map, item_map, new_item_rows, customers)
    frame = _index_frame(events, user_map, item_map, data.event_weights)
    frame = frame[[c for c in data.frame.columns if c in frame.columns]]
    merged = extended.with_frame(pd.concat([extended.frame, frame], ignore_index=True))
    if merged.has_timestamps:
        merged = merged.with_frame(merged.frame.sort_values("timestamp", kind="stable"))
    updated, described, details = _update(model, extended.with_frame(frame), new_item_rows=new_item_rows,
                                          method=method, epochs=epochs, full=merged, fold_in=fold_in,
                                          options=options)
    users = np.unique(frame["user_idx"].to_numpy())
    return updated, UpdateReport(key, described, int(len(frame)), n_skipped, users, tuple(map(str, unseen_users)),
                                 tuple(new_items), time.perf_counter() - start, merged, details)


def update_model(model: Recommender, new: Dataset, *,
                 new_item_vectors: sp.csr_matrix | None = None, new_item_rows: pd.DataFrame | None = None,
                 method: str = "auto", epochs: int = 2, full: Dataset | None = None,
                 fold_in: FoldInSettings = FoldInSettings(),
                 options: FitOptions | None = None) -> tuple[Recommender, str]:
    """The updated copy of ``model`` after the events of ``new`` (already indexed).

    ``new`` carries the (possibly extended) id maps; its frame holds only the new
    events. New items are given as ``new_item_rows`` (items-table rows in index
    order; content models) or, for ContentTFIDF, as ready ``new_item_vectors``.
    ``method="finetune"`` needs ``full`` (old + new events on ``new``'s maps).
    Returns ``(copy, method)``; ``method`` names the update that was made.
    """
    updated, described, _ = _update(model, new, new_item_vectors=new_item_vectors, new_item_rows=new_item_rows,
                                    method=method, epochs=epochs, full=full, fold_in=fold_in, options=options)
    return updated, described


def _update(model: Recommender, new: Dataset, *, new_item_vectors=None, new_item_rows=None, method="auto",
            epochs=2, full=None, fold_in=FoldInSettings(), options=None) -> tuple[Recommender, str, dict]:
    key = _check_supported(model)
    if method not in METHODS:
        raise ValueError(f"unknown update method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "finetune":
        if not isinstance(model, TorchRecommender):
            raise ValueError(f"a fine-tune needs a deep (torch) model; {type(model).__name__} is updated in "
                             "closed form: use method='auto'")
        if full is None or full.n_users != new.n_users or full.n_items != new.n_items:
            raise ValueError("a fine-tune needs the old + new events on the updated id maps (full=...)")
    if new_item_rows is not None and key == "content_tfidf" and new_item_vectors is None:
        new_item_vectors = model.vectorize(new_item_rows)
    n_added = (len(new_item_rows) if new_item_rows is not None
               else 0 if new_item_vectors is None else new_item_vectors.shape[0])
    if new.n_items != model.n_items_ + n_added:
        raise ValueError("new events must use the model's item map (plus placed new items)")
    out, described, details = _incremental(model, key, new, new_item_vectors, new_item_rows, fold_in)
    if method == "finetune":
        start = time.perf_counter()
        out = out.fine_tune(full, int(epochs), options=options)
        described += f"; then a warm-start fine-tune of {int(epochs)} epoch(s) on old + new events (all weights)"
        details = {**details, "fine_tune_epochs": int(epochs), "fine_tune_events": int(full.n_events),
                   "fine_tune_loss": [round(float(x), 5) for x in out.loss_history_],
                   "fine_tune_seconds": round(time.perf_counter() - start, 3)}
    return out, described, details


def _incremental(model, key: str, new: Dataset, new_item_vectors, new_item_rows,
                 fold_in: FoldInSettings) -> tuple[Recommender, str, dict]:
    """The closed-form or few-step update of each family (``method="auto"``)."""
    added = new.matrix()
    history = _grow(model.history_, new.n_users, new.n_items) + added
    users = np.unique(new.frame["user_idx"].to_numpy())
    if key in DEEP_KEYS:
        out, details = fold_in_users(model, history, users, user_features=new.user_features,
                                     new_items=new_item_rows if key == "content_neural" else None,
                                     settings=fold_in)
        out.history_, out.n_users_, out.n_items_ = history, new.n_users, new.n_items
        placed = ", new items embedded from their text" if new_item_rows is not None and len(new_item_rows) else ""
        return out, (f"{', '.join(details['tables'])} rows of the customers re-fitted ({fold_in.steps} Adam steps "
                     f"on their whole history, items fixed){placed}"), details
    out = copy.copy(model)
    out.history_ = history
    out.n_users_, out.n_items_ = new.n_users, new.n_items
    if key == "als":
        out.user_factors_ = _grow_rows(model.user_factors_, new.n_users)
        out.user_factors_[users] = als_fold_in(model, out.history_[users])
        return out, "ALS fold-in (exact per-customer solve, item factors fixed)", {}
    if key == "bpr":
        out.user_factors_ = _grow_rows(model.user_factors_, new.n_users)
        out.user_factors_[users] = bpr_fold_in(model, out.history_[users], out.user_factors_[users])
        return out, "BPR SGD steps on the customers' vectors (items fixed)", {}
    if key in _HISTORY_KEYS:
        return out, "history rows updated (scores follow the history)", {}
    if key in _SEQUENCE_KEYS:
        out.sequence_indptr_, out.sequence_items_ = _append_sequences(model, new)
        return out, "sequences extended (used at the next scoring)", {}
    if key in _CONTENT_KEYS:
        _update_content(out, model, new, new_item_vectors)
        placed = ", new items placed from text" if new_item_vectors is not None else ""
        return out, "content profiles updated" + placed, {}
    _update_popularity(out, model, new)
    return out, "item counts updated", {}


def als_fold_in(model, rows: sp.csr_matrix) -> np.ndarray:
    """ALS factors of many history rows at once: the batched form of ``ALS.recalculate_user``."""
    from recsys.models.als import _PaddedRows  # the solver recalculate_user uses, batched
    items = torch.from_numpy(model.item_factors_)
    padded = _PaddedRows.build(apply_weighting(sp.csr_matrix(rows, dtype=np.float32), model.weighting),
                               torch.device("cpu"))
    return padded.solve(items, items.T @ items, float(model.regularization), float(model.alpha)).numpy()


def bpr_fold_in(model, rows: sp.csr_matrix, start: np.ndarray, *, steps: int = 200,
                learning_rate: float = 0.05, seed: int = 0) -> np.ndarray:
    """BPR user vectors after ``steps`` full-batch gradient steps, item factors and biases fixed.

    Each step pairs every history item with one uniformly drawn negative.
    """
    rng = np.random.default_rng(seed)
    rows = sp.csr_matrix(rows)
    x = np.array(start, np.float32, copy=True)
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    pos = rows.indices
    if not len(pos):
        return x
    q, b = model.item_factors_, model.item_bias_
    counts = np.maximum(np.diff(rows.indptr), 1)[:, None].astype(np.float32)
    reg = float(model.regularization)
    for _ in range(steps):
        neg = rng.integers(0, q.shape[0], len(pos))
        d = q[pos] - q[neg]
        diff = np.einsum("ij,ij->i", x[r], d) + b[pos] - b[neg]
        g = (1.0 / (1.0 + np.exp(diff)))[:, None] * d  # d/dx log sigmoid(diff)
        grad = np.zeros_like(x)
        np.add.at(grad, r, g)
        x += learning_rate * (grad / counts - reg * x)
    return x


def _append_sequences(model, new: Dataset) -> tuple[np.ndarray, np.ndarray]:
    from recsys.models.sequences import collapse_repeats
    old_users = np.repeat(np.arange(len(model.sequence_indptr_) - 1), np.diff(model.sequence_indptr_))
    add_users, add_items = new.frame["user_idx"].to_numpy(), new.frame["item_idx"].to_numpy()
    users = np.concatenate([old_users, add_users])
    items = np.concatenate([model.sequence_items_, add_items]).astype(np.int64)
    order = np.argsort(users, kind="stable")  # old events first, then new ones in time order
    counts = np.bincount(users, minlength=new.n_users)
    return collapse_repeats(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), items[order])


def _update_content(out, model, new: Dataset, new_item_vectors) -> None:
    if new_item_vectors is not None:
        out.item_vectors_ = sp.vstack([model.item_vectors_, new_item_vectors], format="csr")
    half_life = float(model.half_life_days)
    old = _grow(model.user_weights_, new.n_users, new.n_items)
    if new.has_timestamps and model.reference_time_ >= 0 and len(new.frame):
        ref = max(int(new.frame["timestamp"].max()), int(model.reference_time_))
        if half_life:
            old = old * np.float32(0.5 ** ((ref - model.reference_time_) / SECONDS_PER_DAY / half_life))
        out.reference_time_ = ref
        out.user_weights_ = (old + new.matrix(half_life_days=half_life or None, now=ref)).tocsr()
    else:
        out.user_weights_ = (old + new.matrix()).tocsr()


def _update_popularity(out, model, new: Dataset) -> None:
    if model.key == "trending":
        ts = new.frame["timestamp"].to_numpy(np.int64)
        ref = max(int(ts.max()), int(model.reference_time_))
        hl = float(model.half_life_days)
        w = np.power(0.5, (ref - ts) / SECONDS_PER_DAY / hl)
        if model.weighted:
            w = w * new.frame["weight"].to_numpy(np.float64)
        old = model.item_scores_ * 0.5 ** ((ref - model.reference_time_) / SECONDS_PER_DAY / hl)
        out.item_scores_ = (old + np.bincount(new.frame["item_idx"].to_numpy(), weights=w,
                                              minlength=new.n_items)).astype(np.float32)
        out.reference_time_ = ref
        return
    m = new.matrix(binary=model.count == "users")
    if model.count == "users":  # distinct customers: count only pairs not seen before
        m = m - m.multiply(_grow(model.history_, new.n_users, new.n_items).astype(bool))
    out.item_scores_ = (model.item_scores_ + np.asarray(m.sum(axis=0)).ravel()).astype(np.float32)


def _check_supported(model: Recommender) -> str:
    model._check_fitted()
    if model.key not in SUPPORTED_KEYS:
        raise ValueError(f"{type(model).__name__} has no incremental update; supported: {sorted(SUPPORTED_KEYS)}")
    return model.key


def _new_item_ids(events: pd.DataFrame, data: Dataset, items: pd.DataFrame | None) -> tuple[str, ...]:
    if items is None or "item_id" not in items:
        return ()
    candidates = pd.unique(np.concatenate([events["item_id"].to_numpy(dtype=object),
                                           items["item_id"].astype(str).to_numpy(dtype=object)]))
    candidates = candidates[data.items.index_of(candidates) < 0]  # one lookup for the whole catalog
    described = set(items["item_id"].astype(str))
    return tuple(c for c in candidates if c in described)


def _extend(data: Dataset, users: IdMap, items: IdMap, new_item_rows: pd.DataFrame | None,
            customers=None) -> Dataset:
    item_features = data.item_features
    if new_item_rows is not None and item_features is not None:
        shared = [c for c in new_item_rows.columns if c in item_features.columns]
        item_features = pd.concat([item_features, new_item_rows[shared]], ignore_index=True)
    user_features = data.user_features
    if user_features is not None and len(users) > len(user_features):
        new_ids = users.ids[len(user_features):]
        rows = pd.DataFrame(index=pd.RangeIndex(len(user_features), len(users)), columns=user_features.columns)
        if "user_id" in rows:
            rows["user_id"] = new_ids
        if customers is not None and "user_id" in customers:
            given = (customers.assign(user_id=customers["user_id"].astype(str))
                     .drop_duplicates("user_id").set_index("user_id").reindex(new_ids))
            for column in (c for c in rows.columns if c in given.columns):
                rows[column] = given[column].to_numpy()
        user_features = pd.concat([user_features, rows])
    return Dataset(users, items, data.frame, item_features, user_features, data.event_weights)


def _grow(m: sp.csr_matrix, n_rows: int, n_cols: int) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    if m.shape == (n_rows, n_cols):
        return m
    return sp.csr_matrix((m.data, m.indices, np.concatenate([m.indptr, np.full(n_rows - m.shape[0], m.indptr[-1])])),
                         shape=(n_rows, n_cols))


def _grow_rows(a: np.ndarray, n_rows: int) -> np.ndarray:
    out = np.zeros((n_rows, a.shape[1]), a.dtype)
    out[: len(a)] = a
    return out
