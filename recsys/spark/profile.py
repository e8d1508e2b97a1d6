"""The data profile of a Spark dataset, computed on the cluster, as small pandas tables.

Mirrors ``recsys.data.profile``: headline counts, events per user and per item (histograms
on power-of-two buckets and quantiles), the item long tail, event types and events per month.
"""

from __future__ import annotations

import pandas as pd

from recsys.spark._deps import DataFrame, F
from recsys.spark.collect import to_pandas

QUANTILES = (0.5, 0.9, 0.99)


def spark_profile(events: DataFrame, known: dict | None = None) -> dict[str, pd.DataFrame]:
    """Small summary tables of canonical events (``user_id``, ``item_id``, optional time/type).

    ``known`` may carry ``n_rows_kept``, ``n_users`` and ``n_items`` from the validation.
    """
    known = known or {}
    per_user = events.groupBy("user_id").count().persist()
    per_item = events.groupBy("item_id").count().persist()
    n_events = known.get("n_rows_kept") or events.count()
    stats = {"events": n_events, "users": known.get("n_users") or per_user.count(),
             "items": known.get("n_items") or per_item.count()}
    stats["density"] = n_events / max(stats["users"] * stats["items"], 1)
    tables = {"profile_stats": pd.DataFrame({"stat": list(stats), "value": [float(v) for v in stats.values()]})}
    for what, counts in (("user", per_user), ("item", per_item)):
        tables[f"profile_events_per_{what}"] = _histogram(counts, what)
        q = counts.approxQuantile("count", list(QUANTILES), 0.001)
        tables["profile_stats"] = pd.concat([tables["profile_stats"], pd.DataFrame(
            {"stat": [f"events_per_{what}_p{int(p * 100)}" for p in QUANTILES], "value": q})], ignore_index=True)
    top = per_item.orderBy(F.desc("count"), "item_id").limit(int(max(stats["items"] * 0.01, 1))) \
        .agg(F.sum("count")).first()[0] or 0
    tables["profile_stats"].loc[len(tables["profile_stats"])] = ["top_1pct_items_event_share", top / max(n_events, 1)]
    if "event_type" in events.columns:
        tables["profile_event_types"] = to_pandas(events.groupBy("event_type").count().orderBy(F.desc("count"))
                                                  .withColumnRenamed("count", "events").limit(50))
    if "timestamp" in events.columns:
        tables["profile_events_over_time"] = to_pandas(
            events.where(F.col("timestamp").isNotNull())
            .groupBy(F.date_format("timestamp", "yyyy-MM").alias("period")).count()
            .withColumnRenamed("count", "events").orderBy("period"))
    per_user.unpersist()
    per_item.unpersist()
    return tables


def _histogram(counts: DataFrame, what: str) -> pd.DataFrame:
    """How many users (items) have 1, 2-3, 4-7, ... events."""
    bucket = F.floor(F.log2(F.col("count"))).cast("int")
    out = to_pandas(counts.groupBy(bucket.alias("bucket")).agg(F.count(F.lit(1)).alias(f"{what}s"),
                                                               F.sum("count").alias("events")).orderBy("bucket"))
    out.insert(0, "events_from", (2 ** out["bucket"]).astype("int64"))
    out.insert(1, "events_to", (2 ** (out["bucket"] + 1) - 1).astype("int64"))
    return out.drop(columns="bucket")
