"""Leave-last-out on the cluster, the same rule as ``recsys.evaluation.splits.leave_last_out``.

Users with at least ``min_events`` distinct items hold out the item of their last event
(latest Unix second, then latest source row, as the local frame's stable time sort); every
event of that user on that item leaves train, and test keeps the last one. Without
validation, so ``make_split(data, "leave_last_out", with_valid=False, min_events=...)`` is the
local twin (``SPLIT_ARGS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.spark._deps import DataFrame, F
from recsys.spark.errors import SparkDataError
from recsys.spark.ingest import ROW

PROTOCOL = "leave_last_out"


def split_args(min_events: int = 2) -> dict:
    """The ``make_split`` arguments of the local twin of this split."""
    return {"with_valid": False, "min_events": int(min_events)}


@dataclass
class SparkSplit:
    """Train events (all columns) and test events (one per held-out user), plus counts."""

    train: DataFrame
    test: DataFrame
    params: dict
    cached: DataFrame | None = None  # the per-user table train and test are read from

    def unpersist(self) -> None:
        """Free the cached per-user table once train and test are no longer read."""
        if self.cached is not None:
            self.cached.unpersist()


def leave_last_out(events: DataFrame, *, min_events: int = 2) -> SparkSplit:
    """Split indexed events (``user_idx``, ``item_idx``, ``timestamp``, ``row``)."""
    if min_events < 2:
        raise SparkDataError("min_events must be at least 2 so every held-out user keeps a train item")
    if "timestamp" not in events.columns:
        raise SparkDataError("leave-last-out needs event times, and this dataset has none")
    keyed = events.withColumn("_second", F.unix_seconds(F.col("timestamp")))
    per_user = keyed.groupBy("user_idx").agg(
        F.countDistinct("item_idx").alias("_distinct"),
        F.max(F.struct("_second", ROW, "item_idx")).alias("_last")).persist()
    held = (per_user.where(F.col("_distinct") >= min_events)
            .select("user_idx", F.col("_last.item_idx").alias("_held_item"), F.col(f"_last.{ROW}").alias("_held_row")))
    joined = keyed.join(held, "user_idx", "left")
    on_held = F.col("_held_item").isNotNull() & (F.col("item_idx") == F.col("_held_item"))
    test = joined.where(on_held & (F.col(ROW) == F.col("_held_row"))).drop("_second", "_held_item", "_held_row")
    train = joined.where(~on_held).drop("_second", "_held_item", "_held_row")
    users = per_user.agg(F.sum((F.col("_distinct") >= min_events).cast("long")).alias("n_test"),
                         F.sum((F.col("_distinct") < min_events).cast("long")).alias("short")).first()
    n_test = int(users["n_test"] or 0)
    if n_test == 0:
        raise SparkDataError(f"no user has {min_events} distinct items to hold one out")
    events_count = joined.agg(F.count(F.lit(1)).alias("n"), F.sum(on_held.cast("long")).alias("on_held")).first()
    n_on_held = int(events_count["on_held"] or 0)
    params = {"with_valid": False, "min_events": int(min_events), "n_test_users": n_test, "n_valid_users": 0,
              "n_users_too_short": int(users["short"] or 0), "n_dropped_events": n_on_held - n_test,
              "n_train_events": int(events_count["n"]) - n_on_held}
    return SparkSplit(train, test, params, per_user)
