"""Segments on the cluster: a ``recsys.segments.rules.SegmentRule`` turned into members by Spark.

The same rule as the local builder (``recsys.segments.audience.build_audience``): target items,
a category or an item attribute query; ``max``, ``mean`` or ``rank`` affinity; customer
attribute filters, minimum events, recent activity, buyers of the target left out; capped by
size and/or threshold (``rank``: at most that rank); strongest first, ties by customer id.
Catalogs are small and live in the workspace, so the target and the customer filter are
resolved on the driver with the local query language; events are counted and customers
scored on the executors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys.data.dataset import SECONDS_PER_DAY
from recsys.segments.audience import catalog_attributes, target_indices
from recsys.segments.rules import RuleError, SegmentRule, Target, evaluate
from recsys.spark._deps import DataFrame, F, SparkSession, Window
from recsys.spark.errors import SparkDataError
from recsys.spark.exports import RunFactors, history_pairs, ids_frame, indexed_events, purchases, read_run_factors
from recsys.spark.scoring import factors_frame, target_affinity, target_rank, with_exclusions

MEMBER_COLUMNS = ["user_id", "user_idx", "affinity", "rank"]


def spark_audience(spark: SparkSession, workspace: Any, rule: SegmentRule, *, as_of: int | None = None
                   ) -> tuple[DataFrame, dict]:
    """Members (``MEMBER_COLUMNS``) of ``rule`` in rank order, and counts known without extra jobs.

    ``as_of`` (Unix seconds, default the latest event) anchors ``active_days``.
    """
    run = read_run_factors(workspace, rule.run_id)
    try:
        targets = target_items(workspace, run, rule.target)
        allowed = customers_matching(workspace, run, rule)
    except RuleError as exc:
        raise SparkDataError(str(exc)) from None
    counts: dict = {"n_customers": len(run.user_ids), "n_target_items": int(len(targets))}
    if allowed is not None:
        counts["n_after_attributes"] = int(len(allowed))
    pool = factors_frame(spark, run.user_factors, allowed)
    if rule.min_events or rule.active_days or rule.exclude_buyers:
        events = indexed_events(spark, workspace, run)
        pool, as_of = _filter_by_events(pool, events, rule, targets, as_of)
        if as_of is not None:
            counts["as_of"] = as_of
    if rule.affinity == "rank":
        scored = target_rank(with_exclusions(pool, history_pairs(spark, run)), run.item_factors, targets)
    else:
        scored = target_affinity(pool, run.item_factors, targets, rule.affinity)
    return _ranked(spark, run, scored, rule), counts


def spark_segment(spark: SparkSession, workspace: Any, run_id: str, *, target: str | None = None,
                  items: tuple[str, ...] = (), category: str | None = None, affinity: str = "max",
                  size: int | None = None, threshold: float | None = None, min_events: int = 0,
                  exclude_buyers: bool = True, customer_query: str | None = None, active_days: float | None = None,
                  buyer_events: tuple[str, ...] = ("purchase",)) -> tuple[DataFrame, dict]:
    """``spark_audience`` for a rule given as keywords; ``target`` is ``Target.parse`` text."""
    try:
        parsed = Target.parse(target) if target else Target(items=tuple(items), category=category)
        rule = SegmentRule(name="spark-segment", run_id=run_id, target=parsed, affinity=affinity,
                           customer_query=customer_query or None, min_events=int(min_events),
                           active_days=active_days, exclude_buyers=exclude_buyers, buyer_events=tuple(buyer_events),
                           size=size, threshold=threshold, min_size=1)
    except RuleError as exc:
        raise SparkDataError(str(exc)) from None
    return spark_audience(spark, workspace, rule)


def target_items(workspace: Any, run: RunFactors, target: Target) -> np.ndarray:
    """Item indices of ``target`` in the run's item map (ascending), as ``resolve_target`` locally."""
    def attributes() -> pd.DataFrame:
        catalog = workspace.load_table(run.record["dataset"], "items")
        return catalog_attributes(_aligned(catalog, "item_id", run.item_ids), run.item_ids)

    return target_indices(target, run.item_ids, attributes)


def customers_matching(workspace: Any, run: RunFactors, rule: SegmentRule) -> np.ndarray | None:
    """User indices passing the rule's customer query; None when the rule has none."""
    if not rule.customer_query:
        return None
    table = workspace.load_table(run.record["dataset"], "users")
    attributes = _aligned(table, "user_id", run.user_ids)
    if attributes is None:
        raise RuleError("this dataset has no customer table, so customer filters cannot apply")
    return np.flatnonzero(evaluate(rule.customer_clauses(), attributes)).astype(np.int64)


def _aligned(table: pd.DataFrame | None, key: str, ids: np.ndarray) -> pd.DataFrame | None:
    """``table``'s rows in the order of ``ids`` (one row per id, missing ids as empty rows)."""
    if table is None or key not in table:
        return None
    rows = table.drop_duplicates(key)
    rows.index = rows[key].astype(str).to_numpy(dtype=object)
    aligned = rows.reindex(ids)
    aligned.index = pd.RangeIndex(len(ids))
    return aligned


def _filter_by_events(pool: DataFrame, events: DataFrame, rule: SegmentRule, targets: np.ndarray,
                      as_of: int | None) -> tuple[DataFrame, int | None]:
    if rule.min_events:
        active = events.groupBy("user_idx").count().where(F.col("count") >= int(rule.min_events)).select("user_idx")
        pool = pool.join(active, "user_idx", "left_semi")
    if rule.active_days:
        if "timestamp" not in events.columns:
            raise SparkDataError("'active in the last N days' needs event times, and this dataset has none")
        seconds = F.col("timestamp").cast("long")
        if as_of is None:
            latest = events.agg(F.max(seconds)).first()[0]
            if latest is None:
                raise SparkDataError("'active in the last N days' needs event times, and no event has one")
            as_of = int(latest)
        recent = events.where(seconds >= as_of - float(rule.active_days) * SECONDS_PER_DAY).select("user_idx")
        pool = pool.join(recent.distinct(), "user_idx", "left_semi")
    if rule.exclude_buyers:
        spark = events.sparkSession
        target_frame = spark.createDataFrame(pd.DataFrame({"item_idx": targets.astype(np.int64)}),
                                             schema="item_idx long")
        buyers = purchases(events, rule.buyer_events).join(F.broadcast(target_frame), "item_idx")
        pool = pool.join(buyers.select("user_idx").distinct(), "user_idx", "left_anti")
    return pool, as_of


def _ranked(spark: SparkSession, run: RunFactors, scored: DataFrame, rule: SegmentRule) -> DataFrame:
    """Finite affinities past the threshold, strongest first (rank: lowest first), ties by customer id."""
    higher = rule.affinity != "rank"
    kept = scored.where(~F.isnan("affinity") & (F.abs("affinity") != float("inf")))
    if rule.threshold is not None:
        bound = float(rule.threshold)
        kept = kept.where(F.col("affinity") >= bound if higher else F.col("affinity") <= bound)
    order = [F.desc("affinity") if higher else F.asc("affinity"), F.asc("user_id")]
    ordered = kept.join(ids_frame(spark, run.user_ids, "user"), "user_idx").orderBy(*order)
    if rule.size is not None:
        ordered = ordered.limit(int(rule.size))
    # one ordered partition for the final numbering: the segment is already cut to size
    members = ordered.withColumn("rank", F.row_number().over(Window.orderBy(*order)))
    return members.select(*MEMBER_COLUMNS)


__all__ = ["MEMBER_COLUMNS", "customers_matching", "spark_audience", "spark_segment", "target_items"]
