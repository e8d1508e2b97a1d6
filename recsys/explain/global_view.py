"""Model-wide views: SHAP summary of the Hybrid, a 2D map of items, the most influential history items."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.explain.dispatch import explain, resolve_method
from recsys.explain.record import item_labels
from recsys.explain.shap_groups import global_shap
from recsys.explain.similar import item_vectors
from recsys.models.base import Recommender


def sample_users(model: Recommender, n: int, seed: int = 0) -> np.ndarray:
    """Up to ``n`` customers with a history, drawn with ``seed`` (sorted)."""
    active = np.flatnonzero(np.diff(model.history_.indptr) > 0)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(active, size=min(int(n), len(active)), replace=False))


def shap_summary(model: Recommender, data: Dataset, *, n_users: int = 100, seed: int = 0,
                 background: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Group SHAP values of each sampled customer's top recommendation, and their summary.

    Returns ``(values, summary)``: values long (user_idx, item_idx, group, value,
    base_value, user_id, item_id); summary per group: mean_abs, mean, share of the
    total mean |SHAP|, sorted by mean_abs.
    """
    users = sample_users(model, n_users, seed)
    recs = model.recommend(users, 1)
    values = global_shap(model, data, recs.user_idx, recs.item_idx, background=background, seed=seed)
    values["user_id"] = data.users.to_raw(values["user_idx"].to_numpy()).astype(str)
    values["item_id"] = data.items.to_raw(values["item_idx"].to_numpy()).astype(str)
    summary = values.groupby("group")["value"].agg(mean_abs=lambda v: float(np.abs(v).mean()), mean="mean")
    summary["share"] = summary["mean_abs"] / max(float(summary["mean_abs"].sum()), 1e-12)
    return values, summary.sort_values("mean_abs", ascending=False).reset_index()


def embedding_map(model: Recommender, data: Dataset, *, method: str = "pca", seed: int = 0) -> pd.DataFrame:
    """Items placed in 2D by PCA (dense embeddings) or truncated SVD (sparse or item-item rows).

    Columns: item_idx, item_id, title, category, x, y, popularity (distinct customers).
    """
    if method not in ("pca", "svd"):
        raise ValueError(f"method must be 'pca' or 'svd', got {method!r}")
    vectors = item_vectors(model)
    if method == "pca" and not sp.issparse(vectors):
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=seed).fit_transform(np.asarray(vectors, np.float64))
    else:
        from sklearn.decomposition import TruncatedSVD

        xy = TruncatedSVD(n_components=2, random_state=seed).fit_transform(vectors)
    frame = item_labels(data, np.arange(len(xy)))
    frame.insert(0, "item_idx", np.arange(len(xy)))
    frame["x"], frame["y"] = xy[:, 0], xy[:, 1]
    popularity = np.asarray((model.history_ != 0).sum(axis=0)).ravel()
    frame["popularity"] = popularity[: len(frame)]
    frame["category"] = frame["category"].fillna("unknown")
    return frame


def influential_items(model: Recommender, data: Dataset, *, method: str = "auto", n_users: int = 100,
                      seed: int = 0, top: int = 3) -> pd.DataFrame:
    """History items that drive the most recommendations across a sample of customers.

    For each sampled customer's top recommendation, the ``top`` history items with the
    largest positive contribution each count one "driven" recommendation; ``total`` sums
    their contributions. Sorted by recommendations driven, then total.
    """
    method = resolve_method(model, method)
    users = sample_users(model, n_users, seed)
    recs = model.recommend(users, 1)
    rows = []
    for u, i in zip(recs.user_idx, recs.item_idx):
        e = explain(model, data, int(u), int(i), method)
        if "item_idx" not in e.contributions:
            raise ValueError(f"{method} explains {type(model).__name__} by features, not history items")
        per_item = e.contributions.groupby("item_idx")["value"].sum()
        rows.extend({"item_idx": int(j), "value": float(v)} for j, v in per_item.nlargest(top).items() if v > 0)
    frame = pd.DataFrame(rows, columns=["item_idx", "value"])
    table = frame.groupby("item_idx")["value"].agg(recommendations_driven="size", total="sum").reset_index()
    table = table.sort_values(["recommendations_driven", "total"], ascending=False).reset_index(drop=True)
    labels = item_labels(data, table["item_idx"].to_numpy())
    return pd.concat([table[["item_idx"]], labels, table[["recommendations_driven", "total"]]], axis=1)
