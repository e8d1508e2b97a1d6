"""Read interactions from paths the cluster can read, map their columns, validate them on Spark.

The checks mirror ``recsys.data.validation`` for the interactions table, in the same order and
with the same issue codes: empty rows, rows without ids, unreadable or missing times (an error
above ``max_bad_timestamp_share`` of the rows, else dropped), non-numeric values, then, on the
kept rows, exact duplicates, ids unknown to the catalog and single-event users/items. Each
drop is counted, never silent; the dropped rows themselves stay on the cluster.

Times are read as ISO 8601 (``2024-03-01``, ``2024-03-01 10:00:00``, ``...T10:00:00Z``), Unix
seconds or milliseconds (by magnitude), native Parquet timestamps, or ``time_format``.
Catalogs (items, users) are small: they are brought to the driver and checked by the local
validation itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Sequence

import pandas as pd

from recsys.data.errors import DataValidationError
from recsys.data.mapping import ColumnMapping, resolve_mapping
from recsys.data.readers import MISSING_MARKERS
from recsys.spark._deps import DataFrame, F, SparkSession, T
from recsys.spark.errors import SparkDataError, first_line

ROW = "row"  # order of the source rows (ties in time keep it, as locally)
CHECK_COLUMNS = ["severity", "code", "table", "column", "count", "message"]
_FLOAT_ID = r"^-?\d+\.0+$"
_EPOCH = r"^-?\d{1,16}(\.\d+)?$"


@dataclass
class SparkValidation:
    """What the Spark validation found.

    Attributes
    ----------
    events : pyspark DataFrame
        Kept canonical events: ``user_id``, ``item_id``, roles present (``timestamp``,
        ``event_type``, ``value``, ``session_id``), kept extra columns, and ``row``.
    dropped : pyspark DataFrame
        Dropped rows with their cleaned columns and a ``reason``.
    checks : pandas DataFrame
        One row per issue (``CHECK_COLUMNS``), errors first.
    stats : dict
        Counts (rows read, kept, dropped per reason, users, items, duplicates...).
    """

    events: Any
    dropped: Any
    checks: pd.DataFrame
    stats: dict
    mapping: ColumnMapping
    files: list[str]
    catalogs: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.checks["severity"] == "error").any()

    @property
    def errors(self) -> list[str]:
        return self.checks.loc[self.checks["severity"] == "error", "message"].tolist()


def source_format(path: str, fmt: str | None = None) -> str:
    """``parquet`` or ``csv`` from ``fmt`` or the path's extension (a folder: Parquet)."""
    if fmt:
        if fmt not in ("parquet", "csv"):
            raise SparkDataError(f"unsupported format {fmt!r}; use parquet or csv")
        return fmt
    suffixes = [s.lower() for s in PurePath(path.rstrip("/")).suffixes]
    if any(s in (".csv", ".tsv", ".txt") for s in suffixes):
        return "csv"
    if not suffixes or suffixes[-1] in (".parquet", ".pq"):
        return "parquet"
    raise SparkDataError(f"{path}: cannot tell the format from the extension {''.join(suffixes)!r}; "
                         "pass --format parquet or csv")


def read_source(spark: SparkSession, paths: Sequence[str], *, fmt: str | None = None,
                delimiter: str | None = None) -> DataFrame:
    """Read one or more files/folders of the same format (CSV: every column as text)."""
    if not paths:
        raise SparkDataError("no input path given")
    kinds = {source_format(p, fmt) for p in paths}
    if len(kinds) > 1:
        raise SparkDataError(f"mixed formats in {', '.join(paths)}; import one format at a time")
    kind = kinds.pop()
    try:
        if kind == "csv":
            sep = delimiter or ("\t" if any(p.lower().endswith((".tsv", ".tsv.gz")) for p in paths) else ",")
            return (spark.read.option("header", True).option("sep", sep).option("inferSchema", False)
                    .option("mode", "PERMISSIVE").option("multiLine", False).csv(list(paths)))
        return spark.read.parquet(*paths)
    except Exception as exc:  # AnalysisException: path not found, not Parquet...
        raise SparkDataError(f"cannot read {', '.join(paths)}: {first_line(exc)}") from None


def clean_text(col: Any) -> Any:
    """Trimmed text; empty strings and missing markers ('NA', 'null'...) become null."""
    text = F.trim(col.cast("string"))
    return F.when(text.isin(list(MISSING_MARKERS)) | text.isNull(), F.lit(None)).otherwise(text)


def parse_time(col: Any, dtype: Any, time_format: str | None = None) -> Any:
    """A timestamp column from text, epoch seconds/milliseconds or a native timestamp (null if unreadable)."""
    if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)):
        return col.cast("timestamp")
    if isinstance(dtype, T.DateType):
        return col.cast("timestamp")
    text = clean_text(col)
    number = text.try_cast("double")
    epoch = F.when(F.abs(number) >= 1e11, number / 1000.0).otherwise(number)
    parsed = F.try_to_timestamp(text, F.lit(time_format)) if time_format else F.try_to_timestamp(text)
    return F.when(text.rlike(_EPOCH), F.timestamp_seconds(epoch)).otherwise(parsed)


def validate_events(spark: SparkSession, raw: DataFrame, *, files: Sequence[str], mapping: Any = None,
                    catalogs: dict[str, pd.DataFrame] | None = None, max_bad_timestamp_share: float = 0.05,
                    time_format: str | None = None) -> SparkValidation:
    """Map and check raw interactions; the kept events are cached (they are used at once)."""
    file = ", ".join(files)
    columns = [str(c) for c in raw.columns]
    try:
        mapping = resolve_mapping("interactions", columns, mapping)
    except DataValidationError as exc:
        raise SparkDataError(f"{file}: {exc}") from None
    missing = [r for r in ("user_id", "item_id") if not mapping.source_of(r)]
    if missing:
        raise SparkDataError(f"{file}: no column for {' and '.join(missing)} among {', '.join(columns)}; "
                             'give a mapping such as {"user_id": "CustomerID", "item_id": "StockCode"}')
    for role, col in mapping.mapped().items():
        if col not in columns:
            raise SparkDataError(f"{file}: the mapping uses column {col!r} for {role}, but there is no such "
                                 f"column; found: {', '.join(columns)}")
    dtypes = {f.name: f.dataType for f in raw.schema.fields}
    src = raw.withColumn("_mono", F.monotonically_increasing_id())
    roles = mapping.mapped()
    cols: dict[str, Any] = {}
    for role in ("user_id", "item_id", "session_id"):
        if role in roles:
            cols[role] = clean_text(F.col(f"`{roles[role]}`"))
    if "timestamp" in roles:
        cols["_time_text"] = clean_text(F.col(f"`{roles['timestamp']}`"))
        cols["timestamp"] = parse_time(F.col(f"`{roles['timestamp']}`"), dtypes[roles["timestamp"]], time_format)
    if "event_type" in roles:
        cols["event_type"] = F.lower(clean_text(F.col(f"`{roles['event_type']}`")))
    if "value" in roles:
        cols["_value_text"] = clean_text(F.col(f"`{roles['value']}`"))
        cols["value"] = F.expr(f"try_cast(trim(`{roles['value']}`) AS double)")
    extras = mapping.output_names(columns)
    for source, name in extras.items():
        cols[name] = clean_text(F.col(f"`{source}`"))
    all_null = F.lit(True)
    for c in columns:
        all_null = all_null & clean_text(F.col(f"`{c}`")).isNull()
    frame = src.select(*(v.alias(k) for k, v in cols.items()), all_null.alias("_empty"), F.col("_mono").alias(ROW))

    reason = (F.when(F.col("_empty"), "empty row")
              .when(F.col("user_id").isNull() & F.col("item_id").isNull(), "missing user_id and item_id")
              .when(F.col("user_id").isNull(), "missing user_id")
              .when(F.col("item_id").isNull(), "missing item_id"))
    frame = frame.withColumn("reason", reason).persist()  # read by several passes below
    issues: list[dict] = []
    alive = F.col("reason").isNull()
    aggs = [F.count(F.lit(1)).alias("n_rows_read"),
            F.sum(F.col("_empty").cast("long")).alias("n_empty"),
            F.sum((~F.col("_empty") & (F.col("user_id").isNull() | F.col("item_id").isNull())).cast("long")).alias("n_missing_ids"),
            F.sum(alive.cast("long")).alias("n_alive"),
            *(F.sum(F.col(r).isNotNull().cast("long")).alias(f"{r}_n") for r in ("user_id", "item_id")),
            *(F.sum(F.col(r).rlike(_FLOAT_ID).cast("long")).alias(f"{r}_f") for r in ("user_id", "item_id"))]
    if "timestamp" in cols:
        aggs += [F.sum((alive & F.col("_time_text").isNotNull() & F.col("timestamp").isNull()).cast("long")).alias("n_bad_ts"),
                 F.sum((alive & F.col("_time_text").isNull() & F.col("timestamp").isNull()).cast("long")).alias("n_missing_ts")]
    if "value" in cols:
        aggs += [F.sum((alive & F.col("_value_text").isNotNull() & F.col("value").isNull()).cast("long")).alias("n_bad_value")]
    counts = frame.agg(*aggs).first().asDict()
    counts = {k: int(v or 0) for k, v in counts.items()}
    # float-typed exports ('17850.0'): strip '.0' only when every id of the column has it
    for role in ("user_id", "item_id"):
        if counts[f"{role}_n"] and counts[f"{role}_f"] == counts[f"{role}_n"]:
            frame = frame.withColumn(role, F.regexp_replace(role, r"\.0+$", ""))
            issues.append(_issue("warning", "float_ids", roles[role], 0,
                                 f"every {role} ended in '.0' (a float-typed export); the '.0' was removed"))
    if counts["n_rows_read"] == 0:
        raise SparkDataError(f"{file}: no rows (empty file, or only a header)")
    if counts["n_empty"]:
        issues.append(_issue("warning", "empty_rows", "", counts["n_empty"],
                             f"dropped {_plural(counts['n_empty'], 'empty row')}"))
    if counts["n_missing_ids"]:
        issues.append(_issue("warning", "missing_ids", f"{roles['user_id']}, {roles['item_id']}",
                             counts["n_missing_ids"],
                             f"dropped {_plural(counts['n_missing_ids'], 'row')} without user_id or item_id"))
    if counts["n_alive"] == 0:
        issues.append(_issue("error", "no_valid_rows", f"{roles['user_id']}, {roles['item_id']}", 0,
                             "no row has both a user_id and an item_id"))
    else:
        frame = _check_time(frame, counts, roles, issues, max_bad_timestamp_share, file)
        frame = _check_value(frame, counts, roles, issues, max_bad_timestamp_share)
    if "timestamp" not in cols:
        issues.append(_issue("warning", "no_timestamp", "", 0,
                             "no timestamp column: time splits, sequences, decay and replay are unavailable"))
    canonical = [c for c in ("user_id", "item_id", "timestamp", "event_type", "value", "session_id") if c in cols]
    canonical += list(extras.values())
    events = frame.where(F.col("reason").isNull()).select(*canonical, ROW).persist()
    dropped = frame.where(F.col("reason").isNotNull()).select(*canonical, ROW, "reason")
    stats = {"n_rows_read": counts["n_rows_read"], "dropped": {}}
    if not any(i["severity"] == "error" for i in issues):
        stats.update(_kept_stats(events, canonical, catalogs or {}, roles, issues))
    stats["dropped"] = {r["reason"]: int(r["count"]) for r in dropped.groupBy("reason").count().collect()}
    stats["n_rows_dropped"] = sum(stats["dropped"].values())
    frame.unpersist()
    checks = pd.DataFrame(issues, columns=CHECK_COLUMNS)
    checks = checks.sort_values("severity", key=lambda s: s.map({"error": 0, "warning": 1}), kind="stable")
    return SparkValidation(events, dropped, checks.reset_index(drop=True), stats, mapping, list(files),
                           dict(catalogs or {}))


def _check_time(frame: DataFrame, counts: dict, roles: dict, issues: list, max_share: float, file: str) -> DataFrame:
    if "timestamp" not in roles:
        return frame
    n_bad, n_missing, n_alive = counts["n_bad_ts"], counts["n_missing_ts"], counts["n_alive"]
    column = roles["timestamp"]
    if n_bad + n_missing > max_share * max(n_alive, 1):
        sample = [r[0] for r in frame.where(F.col("reason").isNull() & F.col("_time_text").isNotNull()
                                            & F.col("timestamp").isNull()).select("_time_text").limit(3).collect()]
        issues.append(_issue("error", "bad_timestamps", column, n_bad + n_missing,
                             f"{file}, column {column}: {n_bad:,} unreadable and {n_missing:,} empty times "
                             f"({(n_bad + n_missing) / max(n_alive, 1):.1%} of rows, more than the {max_share:.0%} "
                             f"allowed)" + (f"; e.g. {', '.join(map(repr, sample))}" if sample else "")
                             + ". Fix the column, give --time-format, or map no timestamp"))
        return frame
    if n_bad:
        issues.append(_issue("warning", "bad_timestamps", column, n_bad,
                             f"dropped {_plural(n_bad, 'row')} whose time could not be read"))
    if n_missing:
        issues.append(_issue("warning", "missing_timestamps", column, n_missing,
                             f"dropped {_plural(n_missing, 'row')} without a time"))
    bad = F.col("reason").isNull() & F.col("timestamp").isNull()
    return frame.withColumn("reason", F.when(bad & F.col("_time_text").isNotNull(), "unparseable timestamp")
                            .when(bad, "missing timestamp").otherwise(F.col("reason")))


def _check_value(frame: DataFrame, counts: dict, roles: dict, issues: list, max_share: float) -> DataFrame:
    if "value" not in roles:
        return frame
    n_bad, column = counts["n_bad_value"], roles["value"]
    if n_bad > max_share * max(counts["n_alive"], 1):
        issues.append(_issue("error", "non_numeric_value", column, n_bad,
                             f"column {column}: {n_bad:,} values are not numbers; map another column to value or none"))
    elif n_bad:
        issues.append(_issue("warning", "non_numeric_value", column, n_bad,
                             f"dropped {_plural(n_bad, 'row')} with a non-numeric value"))
        bad = F.col("reason").isNull() & F.col("_value_text").isNotNull() & F.col("value").isNull()
        frame = frame.withColumn("reason", F.when(bad, "non-numeric value").otherwise(F.col("reason")))
    return frame


def _kept_stats(events: DataFrame, canonical: list[str], catalogs: dict, roles: dict, issues: list) -> dict:
    per_user = events.groupBy("user_id").count()
    per_item = events.groupBy("item_id").count()
    totals = events.agg(F.count(F.lit(1)).alias("n"),
                        *([F.min("timestamp").alias("first"), F.max("timestamp").alias("last")]
                          if "timestamp" in canonical else [])).first().asDict()
    n_users, single_users = per_user.agg(F.count(F.lit(1)), F.sum((F.col("count") == 1).cast("long"))).first()
    n_items, single_items = per_item.agg(F.count(F.lit(1)), F.sum((F.col("count") == 1).cast("long"))).first()
    n_dup = events.groupBy(*canonical).count().agg(F.sum(F.col("count") - 1)).first()[0] or 0
    stats: dict[str, Any] = {"n_rows_kept": int(totals["n"]), "n_users": int(n_users), "n_items": int(n_items),
                             "density": int(totals["n"]) / max(int(n_users) * int(n_items), 1),
                             "n_duplicate_rows": int(n_dup)}
    if n_dup:
        issues.append(_issue("warning", "duplicate_rows", "", int(n_dup),
                             f"{_plural(int(n_dup), 'row')} exactly copying an earlier row (kept; remove them if "
                             "they are export glitches)"))
    spark = events.sparkSession
    for table, key in (("items", "item_id"), ("users", "user_id")):
        catalog = catalogs.get(table)
        if catalog is None:
            continue
        ids = spark.createDataFrame(pd.DataFrame({key: catalog[key].astype(str)}))
        unknown = events.select(key).join(F.broadcast(ids), key, "left_anti")
        n_ids, n_rows = unknown.agg(F.countDistinct(key), F.count(F.lit(1))).first()
        stats[f"n_unknown_{table}"] = int(n_rows)
        if n_rows:
            issues.append(_issue("warning", f"unknown_{table}", roles.get(key, key), int(n_rows),
                                 f"the {table} table lacks {_plural(int(n_ids), key)} used by "
                                 f"{_plural(int(n_rows), 'interaction')} (kept)"))
    for what, n, single in (("users", n_users, single_users), ("items", n_items, single_items)):
        stats[f"n_single_event_{what}"] = int(single or 0)
        if single:
            issues.append(_issue("warning", f"single_event_{what}", roles.get(f"{what[:-1]}_id", ""), int(single),
                                 f"{_plural(int(single), what[:-1])} ({int(single) / max(int(n), 1):.1%}) with a "
                                 "single event: little signal, and they cannot be both trained and tested"))
    if "timestamp" in canonical and totals.get("first") is not None:
        stats["first_timestamp"] = pd.Timestamp(totals["first"]).isoformat()
        stats["last_timestamp"] = pd.Timestamp(totals["last"]).isoformat()
    if "event_type" in canonical:
        rows = events.groupBy("event_type").count().orderBy(F.desc("count")).limit(50).collect()
        stats["event_types"] = {str(r["event_type"]): int(r["count"]) for r in rows}
    return stats


def _issue(severity: str, code: str, column: str, count: int, message: str) -> dict:
    return {"severity": severity, "code": code, "table": "interactions", "column": column, "count": int(count),
            "message": message}


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
