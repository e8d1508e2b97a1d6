"""The ``similar_items`` answer shared by models that have an item-item view."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SimilarItems:
    """The ``k`` items most similar to ``item_idx``, best first (the item itself excluded)."""

    item_idx: int
    similar_idx: np.ndarray
    score: np.ndarray


def top_similar(item_idx: int, scores: np.ndarray, k: int) -> SimilarItems:
    """Top-``k`` of a dense score vector over the catalog, excluding ``item_idx``.

    Items with score -inf or nan are never returned; fewer than ``k`` may come back.
    """
    scores = np.array(scores, dtype=np.float32, copy=True)
    scores[int(item_idx)] = -np.inf
    scores[np.isnan(scores)] = -np.inf
    k = max(0, min(int(k), len(scores) - 1))
    top = np.argpartition(-scores, k - 1)[:k] if 0 < k < len(scores) else np.arange(len(scores))[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    top = top[np.isfinite(scores[top])]
    return SimilarItems(int(item_idx), top.astype(np.int64), scores[top])


def cosine_to(item_idx: int, factors: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``factors`` to row ``item_idx``."""
    norms = np.linalg.norm(factors, axis=1)
    norms[norms == 0] = 1.0
    return (factors @ factors[int(item_idx)]) / (norms * norms[int(item_idx)])
