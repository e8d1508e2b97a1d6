"""The item view: similar items with the reason, and the customers most likely to engage.

A similar item's reason is the evidence that supports it: co-interaction (customers
who engaged with both), text similarity (TF-IDF cosine of title + description), or,
failing both, closeness in the model's learned item space.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.explain.record import item_labels
from recsys.models.base import Recommender
from recsys.models.similarity import cosine_to, top_similar
from recsys.models.weighting import apply_weighting

MIN_CO_CUSTOMERS = 3
MIN_TEXT_SIMILARITY = 0.15
PRIVATE_COLUMNS = {"email", "phone", "name", "first_name", "last_name", "full_name", "address", "street",
                   "postcode", "zip", "ip", "ip_address"}


def item_vectors(model: Recommender) -> np.ndarray | sp.spmatrix:
    """One vector per item from the model: embeddings, item-item rows or content vectors."""
    if hasattr(model, "item_embeddings"):
        return model.item_embeddings()
    net = getattr(model, "network_", None)
    if net is not None and hasattr(net, "item_embedding"):
        return net.item_embedding.weight[1:].detach().float().cpu().numpy()
    if model.key == "hybrid":
        import torch

        with torch.no_grad():  # the FM vector of each item: id, attributes, tags and text together
            terms = model.network_.side_terms(model.tables_.item_inputs(), "item")
        return terms.sum_v.float().cpu().numpy()
    if model.key == "ease":
        return model.weights_
    if model.key == "itemknn":
        return sp.csr_matrix(model.similarity_.T)
    if model.key == "content_tfidf":
        return model.item_vectors
    raise ValueError(f"{type(model).__name__} has no item representation to compare items with")


def similar_items(model: Recommender, data: Dataset, item_idx: int, k: int = 10) -> pd.DataFrame:
    """The ``k`` items most similar to ``item_idx`` by the model, with co-interaction and text evidence."""
    i = int(item_idx)
    if hasattr(model, "similar_items"):
        found = model.similar_items(i, k)
        candidates, sims = found.similar_idx, found.score
    else:
        vectors = item_vectors(model)
        dense = vectors.toarray() if sp.issparse(vectors) else np.asarray(vectors)
        found = top_similar(i, cosine_to(i, dense), k)
        candidates, sims = found.similar_idx, found.score
    co = co_customers(data, i)[candidates]
    text = text_similarity(data, i)[candidates]
    frame = item_labels(data, candidates)
    frame.insert(0, "rank", np.arange(1, len(candidates) + 1))
    frame.insert(1, "item_idx", candidates)
    frame["similarity"] = np.asarray(sims, np.float64)
    frame["co_customers"] = co.astype(np.int64)
    frame["text_similarity"] = text
    frame["reason"] = [_reason(c, t) for c, t in zip(co, text)]
    return frame


def _reason(co: int, text: float) -> str:
    if co >= MIN_CO_CUSTOMERS:
        return f"co-interaction: {int(co)} customers engaged with both"
    if text >= MIN_TEXT_SIMILARITY:
        return f"text: similar title and description (cosine {text:.2f})"
    return "model: close in the learned item space"


def co_customers(data: Dataset, item_idx: int) -> np.ndarray:
    """Number of customers who engaged with both ``item_idx`` and each item."""
    x = data.matrix(binary=True)
    column = x[:, [int(item_idx)]]
    return np.asarray((column.T @ x).toarray()).ravel().astype(np.int64)


def text_similarity(data: Dataset, item_idx: int) -> np.ndarray:
    """TF-IDF cosine of each item's title + description with ``item_idx``'s (0 without text)."""
    features = data.item_features
    cols = [c for c in ("title", "description") if features is not None and c in features]
    if not cols:
        return np.zeros(data.n_items)
    from sklearn.feature_extraction.text import TfidfVectorizer

    text = features[cols[0]].fillna("").astype(str)
    for c in cols[1:]:
        text = text + " " + features[c].fillna("").astype(str)
    try:
        m = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(text.tolist())
    except ValueError:  # no usable words at all
        return np.zeros(data.n_items)
    return np.asarray((m @ m[int(item_idx)].T).toarray()).ravel()


def likely_customers(model: Recommender, data: Dataset, item_idx: int, n: int = 10) -> pd.DataFrame:
    """Customers who have not engaged with ``item_idx`` yet, highest score first, with where it
    would rank in their list (1 = top) and their non-personal attributes."""
    i = int(item_idx)
    users = np.flatnonzero(np.diff(model.history_.indptr) > 0)
    scores = _column(model, users, i)
    engaged = model.history_[users][:, [i]].toarray().ravel() != 0
    scores = np.where(engaged, -np.inf, scores.astype(np.float64))
    top = np.argsort(-scores, kind="stable")[:n]
    top = top[np.isfinite(scores[top])]
    chosen = users[top]
    full = model.score(chosen) if len(chosen) else np.zeros((0, model.n_items_))
    seen = apply_weighting(model.history_[chosen], "binary").toarray() > 0
    full = np.where(seen, -np.inf, full)
    rank = (full > scores[top][:, None]).sum(1) + 1
    frame = pd.DataFrame({"user_idx": chosen, "user_id": data.users.to_raw(chosen).astype(str),
                          "score": scores[top], "rank_in_their_list": rank})
    if data.user_features is not None:
        attrs = data.user_features.iloc[chosen]
        for col in attrs.columns:
            if col != "user_id" and str(col).lower() not in PRIVATE_COLUMNS:
                frame[col] = attrs[col].to_numpy()
    return frame


def _column(model: Recommender, users: np.ndarray, item_idx: int, batch: int = 1024) -> np.ndarray:
    """Scores of one item for many customers; the Hybrid scores just those rows, not the full matrix."""
    if hasattr(model, "forward_groups"):
        import torch

        with torch.no_grad():
            parts = [model.forward_groups(model.encode(users[s:s + batch], [item_idx])).double().cpu().numpy()
                     for s in range(0, len(users), batch)]
    else:
        parts = [model.score(users[s:s + batch], [item_idx])[:, 0] for s in range(0, len(users), batch)]
    return np.concatenate(parts) if parts else np.zeros(0)
