"""Scores by factor dot products, computed on the executors with numpy in float32 as locally.

The item factors travel with the task (one copy per Python worker); customer factors and the
items to leave out arrive as rows. Each task scores a few thousand customers at a time
(``SCORE_BUDGET_FLOATS``), so no customers x items matrix ever exists. Rankings follow the
local rule: score descending, ties by item index.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.segments.ranking import best_target_rank
from recsys.spark._deps import DataFrame, F, SparkSession

SCORE_BUDGET_FLOATS = 8_000_000
TOP_SCHEMA = "user_idx long, rank int, item_idx long, score double"
AFFINITY_SCHEMA = "user_idx long, affinity double"


def factors_frame(spark: SparkSession, user_factors: np.ndarray, users: np.ndarray | None = None) -> DataFrame:
    """(user_idx, features) rows for ``users`` (default all) from a numpy factor matrix."""
    users = np.arange(len(user_factors)) if users is None else np.asarray(users, np.int64)
    frame = pd.DataFrame({"user_idx": users.astype(np.int64),
                          "features": list(np.asarray(user_factors[users], np.float32))})
    return spark.createDataFrame(frame, schema="user_idx long, features array<float>")


def with_exclusions(users: DataFrame, pairs: DataFrame | None) -> DataFrame:
    """``users`` (user_idx, features) plus ``exclude``: the items of ``pairs`` (user_idx, item_idx) per user."""
    if pairs is None:
        return users.withColumn("exclude", F.array().cast("array<long>"))
    grouped = pairs.groupBy("user_idx").agg(F.collect_set(F.col("item_idx").cast("long")).alias("exclude"))
    return (users.drop("exclude").join(grouped, "user_idx", "left")
            .withColumn("exclude", F.coalesce("exclude", F.array().cast("array<long>"))))


def top_k(users: DataFrame, item_factors: np.ndarray, k: int) -> DataFrame:
    """(user_idx, rank, item_idx, score): each customer's ``k`` best items outside ``exclude``."""
    items = np.ascontiguousarray(item_factors, dtype=np.float32)
    k = int(k)

    def run(batches):
        for pdf in batches:
            for part in _chunks(pdf, items.shape[0]):
                yield _top_rows(part, items, k)

    return users.select("user_idx", "features", "exclude").mapInPandas(run, TOP_SCHEMA)


def target_affinity(users: DataFrame, item_factors: np.ndarray, targets: np.ndarray, mode: str) -> DataFrame:
    """(user_idx, affinity): max or mean of the customer's scores on the target items."""
    if mode not in ("max", "mean"):
        raise ValueError(f"unknown affinity {mode!r} for target_affinity: max or mean (rank: target_rank)")
    block = np.ascontiguousarray(item_factors[np.asarray(targets, np.int64)], dtype=np.float32)

    def run(batches):
        for pdf in batches:
            for part in _chunks(pdf, block.shape[0]):
                scores = _matrix(part) @ block.T
                scores[np.isnan(scores)] = -np.inf
                value = scores.max(axis=1) if mode == "max" else scores.mean(axis=1, dtype=np.float64)
                yield pd.DataFrame({"user_idx": part["user_idx"].to_numpy(np.int64),
                                    "affinity": value.astype(np.float64)})

    return users.select("user_idx", "features").mapInPandas(run, AFFINITY_SCHEMA)


def target_rank(users: DataFrame, item_factors: np.ndarray, targets: np.ndarray) -> DataFrame:
    """(user_idx, affinity): the rank of the customer's best target item in their full list.

    ``users`` carries ``exclude`` (the training history): those items do not compete. As in
    ``recsys.segments.audience.affinities``: 1 + the non-target, unseen items that score above
    the best target item, or equal with a lower index.
    """
    items = np.ascontiguousarray(item_factors, dtype=np.float32)
    targets = np.asarray(targets, np.int64)

    def run(batches):
        for pdf in batches:
            for part in _chunks(pdf, items.shape[0]):
                scores = _matrix(part) @ items.T
                scores[np.isnan(scores)] = -np.inf
                seen = np.zeros(scores.shape, dtype=bool)
                for row, excluded in enumerate(part["exclude"]):
                    if excluded is not None and len(excluded):
                        seen[row, np.asarray(excluded, np.int64)] = True
                yield pd.DataFrame({"user_idx": part["user_idx"].to_numpy(np.int64),
                                    "affinity": best_target_rank(scores, targets, seen).astype(np.float64)})

    return users.select("user_idx", "features", "exclude").mapInPandas(run, AFFINITY_SCHEMA)


def _chunks(pdf: pd.DataFrame, width: int):
    step = max(1, SCORE_BUDGET_FLOATS // max(width, 1))
    for start in range(0, len(pdf), step):
        yield pdf.iloc[start:start + step]


def _matrix(part: pd.DataFrame) -> np.ndarray:
    return np.stack([np.asarray(v, np.float32) for v in part["features"]]) if len(part) else \
        np.zeros((0, 0), np.float32)


def _top_rows(part: pd.DataFrame, items: np.ndarray, k: int) -> pd.DataFrame:
    if not len(part):
        return pd.DataFrame({"user_idx": [], "rank": [], "item_idx": [], "score": []})
    scores = _matrix(part) @ items.T  # float32: the float64 copy of the top-k only, below
    scores[np.isnan(scores)] = -np.inf
    for row, excluded in enumerate(part["exclude"]):
        if excluded is not None and len(excluded):
            scores[row, np.asarray(excluded, np.int64)] = -np.inf
    width = min(k, scores.shape[1])
    top = np.argpartition(-scores, width - 1, axis=1)[:, :width] if width < scores.shape[1] else \
        np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -top_scores), axis=1)
    top, top_scores = np.take_along_axis(top, order, 1), np.take_along_axis(top_scores, order, 1)
    row, slot = np.nonzero(np.isfinite(top_scores))
    users = part["user_idx"].to_numpy(np.int64)
    return pd.DataFrame({"user_idx": users[row], "rank": (slot + 1).astype(np.int32),
                         "item_idx": top[row, slot].astype(np.int64),
                         "score": top_scores[row, slot].astype(np.float64)})


__all__ = ["factors_frame", "target_affinity", "target_rank", "top_k", "with_exclusions"]
