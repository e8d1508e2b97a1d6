"""Implicit ALS on Spark ML with the local ALS's hyper-parameters and event weighting.

The objective is the local one (``recsys.models.als``): summed event-type weights per
(customer, item) (the dataset's event weights, default ``DEFAULT_EVENT_WEIGHTS``), read by the
``weighting`` scheme (``log``: log2(1 + w)), give ``r_ui``; confidence is ``1 + alpha r_ui``;
the penalty is ``regularization x`` the row's number of observed cells. Spark ML's implicit
ALS uses exactly that confidence and the same per-row scaling of ``regParam`` (ALS-WR), so
the names map one to one:

=================  ==================  =====================================================
local ALS          Spark ML ALS        difference
=================  ==================  =====================================================
factors            rank
regularization     regParam            none (both x n_u); Spark's docs call it "scaled"
alpha              alpha               none (Spark: 1 + alpha |r|; r >= 0 here)
iterations         maxIter             local sweeps are 3 CG steps + a final exact user pass;
                                       Spark solves every row exactly each sweep
weighting          (the rating column) applied before Spark, identically
seed               seed                different initialisations, so factors differ
=================  ==================  =====================================================

Rankings agree closely but not bit for bit; ``tests/spark`` bounds the NDCG@10 gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from recsys.data.dataset import DEFAULT_EVENT_WEIGHTS
from recsys.models.weighting import WEIGHTINGS
from recsys.spark._deps import DataFrame, F
from recsys.spark.collect import to_pandas
from recsys.spark.errors import SparkDataError
from recsys.spark.settings import SparkSettings


@dataclass(frozen=True)
class ALSParams:
    """The local ALS's hyper-parameters (same names, defaults and ranges)."""

    factors: int = 64
    regularization: float = 0.1
    alpha: float = 1.0
    iterations: int = 15
    weighting: str = "log"

    def __post_init__(self):
        checks = [(2 <= int(self.factors) <= 512, "factors must be in [2, 512]"),
                  (0 <= float(self.regularization) <= 1000, "regularization must be in [0, 1000]"),
                  (0 <= float(self.alpha) <= 1000, "alpha must be in [0, 1000]"),
                  (1 <= int(self.iterations) <= 100, "iterations must be in [1, 100]"),
                  (self.weighting in WEIGHTINGS, f"weighting must be one of {', '.join(WEIGHTINGS)}")]
        for ok, message in checks:
            if not ok:
                raise SparkDataError(f"{message}; got {self}")

    def to_dict(self) -> dict:
        return {"factors": int(self.factors), "regularization": float(self.regularization),
                "alpha": float(self.alpha), "iterations": int(self.iterations), "weighting": self.weighting}


@dataclass
class SparkFactors:
    """Fitted factors as numpy (float32, rows in id-map order; zero for ids without events)."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    params: ALSParams
    spark_params: dict = field(default_factory=dict)


def event_weight(event_weights: Mapping[str, float] | None) -> object:
    """Column expression: the event type's weight (1.0 for unknown types or no type column)."""
    weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    pairs = []
    for key, value in weights.items():
        pairs += [F.lit(str(key).lower()), F.lit(float(value))]
    return F.coalesce(F.element_at(F.create_map(*pairs), F.lower(F.col("event_type"))), F.lit(1.0)) if pairs \
        else F.lit(1.0)


def summed_weights(events: DataFrame, event_weights: Mapping[str, float] | None = None) -> DataFrame:
    """(user_idx, item_idx, weight): event-type weights summed per cell, as ``Dataset.matrix()``."""
    weight = event_weight(event_weights) if "event_type" in events.columns else F.lit(1.0)
    # float32 like the local matrix, so the weighting reads the same numbers
    return (events.groupBy("user_idx", "item_idx").agg(F.sum(weight.cast("float")).cast("float").alias("weight")))


def weighted_ratings(cells: DataFrame, weighting: str) -> DataFrame:
    """The ``rating`` column Spark learns from: ``recsys.models.weighting`` on the summed weights."""
    w = F.col("weight")
    if weighting == "binary":
        rating = F.lit(1.0)
    elif weighting == "log":
        rating = F.log2(1.0 + F.greatest(w, F.lit(0.0)))
    else:
        rating = w
    return cells.where(w != 0).withColumn("rating", rating.cast("float"))


def fit_als(cells: DataFrame, n_users: int, n_items: int, params: ALSParams, *,
            settings: SparkSettings | None = None, seed: int = 0) -> SparkFactors:
    """Fit implicit ALS on summed-weight cells; factors come back to the driver as numpy."""
    from pyspark.ml.recommendation import ALS

    settings = settings or SparkSettings.from_env()
    ratings = weighted_ratings(cells, params.weighting)
    spark_params = {"rank": int(params.factors), "maxIter": int(params.iterations),
                    "regParam": float(params.regularization), "alpha": float(params.alpha), "implicitPrefs": True,
                    "nonnegative": False, "numUserBlocks": settings.blocks, "numItemBlocks": settings.blocks,
                    "seed": int(seed)}
    als = ALS(userCol="user_idx", itemCol="item_idx", ratingCol="rating", coldStartStrategy="drop", **spark_params)
    model = als.fit(ratings.select(F.col("user_idx").cast("int"), F.col("item_idx").cast("int"), "rating"))
    users = collect_factors(model.userFactors, n_users, params.factors)
    items = collect_factors(model.itemFactors, n_items, params.factors)
    return SparkFactors(users, items, params, spark_params)


def collect_factors(frame: DataFrame, n_rows: int, rank: int) -> np.ndarray:
    """Spark ALS factors (id, features) as a float32 (n_rows, rank) array; missing ids stay zero."""
    out = np.zeros((n_rows, rank), np.float32)
    batch = to_pandas(frame)
    if len(batch):
        out[batch["id"].to_numpy(np.int64)] = np.stack(batch["features"].to_numpy()).astype(np.float32)
    return out
