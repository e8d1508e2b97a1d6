"""Top-K accuracy metrics computed in Spark SQL, with ``recsys.evaluation.metrics``'s definitions.

Per evaluated customer (one with a relevant item), from their ranked list and relevant items:
Precision@K = hits/K, Recall@K = hits/|rel|, Hit@K = hits > 0, NDCG@K = sum 1/log2(r+1) over
hit ranks / IDCG over min(|rel|, K), MAP@K = sum Precision@r over hit ranks / min(|rel|, K),
MRR@K = 1 / first hit rank. Averages are taken over the evaluated customers, as locally.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from recsys.evaluation.metrics import METRICS
from recsys.spark._deps import DataFrame, F, Window


def per_user_metrics(top: DataFrame, relevant: DataFrame, ks: Sequence[int] = (10, 20)) -> DataFrame:
    """One row per customer with relevant items: ``user_idx``, ``n_relevant`` and ``<metric>@<k>`` columns."""
    ks = sorted({int(k) for k in ks})
    rel = relevant.select("user_idx", "item_idx").distinct()
    n_rel = rel.groupBy("user_idx").agg(F.count(F.lit(1)).alias("n_relevant"))
    hits = (top.select("user_idx", "item_idx", "rank").join(rel, ["user_idx", "item_idx"])
            .withColumn("_hits_so_far", F.row_number().over(Window.partitionBy("user_idx").orderBy("rank"))))
    aggs = []
    for k in ks:
        within = F.col("rank") <= k
        aggs += [F.sum(within.cast("long")).alias(f"_hits@{k}"),
                 F.sum(F.when(within, 1.0 / F.log2(F.col("rank") + 1.0)).otherwise(0.0)).alias(f"_dcg@{k}"),
                 F.sum(F.when(within, F.col("_hits_so_far") / F.col("rank")).otherwise(0.0)).alias(f"_ap@{k}"),
                 F.min(F.when(within, F.col("rank"))).alias(f"_first@{k}")]
    per_user = n_rel.join(hits.groupBy("user_idx").agg(*aggs), "user_idx", "left")
    columns = [F.col("user_idx"), F.col("n_relevant")]
    for k in ks:
        ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
        idcg = F.element_at(F.array(*(F.lit(float(v)) for v in ideal)), (F.least(F.col("n_relevant"), F.lit(k)) + 1).cast("int"))
        n_hits = F.coalesce(F.col(f"_hits@{k}"), F.lit(0))
        cut = F.least(F.col("n_relevant"), F.lit(k))
        values = {"ndcg": F.coalesce(F.col(f"_dcg@{k}"), F.lit(0.0)) / idcg,
                  "recall": n_hits / F.col("n_relevant"),
                  "precision": n_hits / float(k),
                  "map": F.coalesce(F.col(f"_ap@{k}"), F.lit(0.0)) / cut,
                  "mrr": F.coalesce(1.0 / F.col(f"_first@{k}"), F.lit(0.0)),
                  "hit": (n_hits > 0).cast("double")}
        columns += [values[name].cast("double").alias(f"{name}@{k}") for name in METRICS]
    return per_user.select(*columns)


def summarize(per_user: DataFrame) -> dict[str, float]:
    """Mean of every metric column over the evaluated customers (aggregated in Spark)."""
    names = [c for c in per_user.columns if "@" in c]
    row = per_user.agg(*(F.avg(c).alias(c) for c in names), F.count(F.lit(1)).alias("n_users")).first()
    out = {name: float(row[name]) if row[name] is not None else 0.0 for name in names}
    out["n_users"] = int(row["n_users"])
    return out
