"""Import interactions from cluster paths as a workspace dataset with ``engine="spark"``.

The cleaned events stay on cluster storage (``<out>/events``, Parquet, with the dropped rows
and their reasons in ``<out>/dropped``); the workspace records where they are, the mapping,
the validation checks and the profile as small tables, and the item/customer catalogs. Data
small enough (``local_copy``; by default up to ``LOCAL_COPY_MAX_ROWS`` events) is also copied
into the workspace as the usual ``interactions`` table, so every local page and model works
on it too.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from recsys.spark._deps import DataFrame, F, SparkSession
from recsys.spark.collect import to_pandas
from recsys.spark.catalogs import read_catalog
from recsys.spark.errors import SparkDataError, first_line
from recsys.spark.ingest import ROW, SparkValidation, read_source, validate_events
from recsys.spark.profile import spark_profile
from recsys.spark.session import get_session
from recsys.spark.settings import SparkSettings

SCHEMA_VERSION = 1
LOCAL_COPY_MAX_ROWS = 1_000_000
CHECKS_TABLE = "spark_checks"


def validate_source(spark: SparkSession, interactions: Sequence[str], *, items: Sequence[str] = (),
                    users: Sequence[str] = (), mapping: Mapping[str, Any] | None = None, fmt: str | None = None,
                    delimiter: str | None = None, time_format: str | None = None,
                    max_bad_timestamp_share: float = 0.05) -> SparkValidation:
    """Read and validate the files; ``mapping`` is ``{"interactions": {...}, "items": {...}}`` overrides."""
    mapping = dict(mapping or {})
    catalogs: dict[str, pd.DataFrame] = {}
    for table, paths in (("items", items), ("users", users)):
        if paths:
            catalogs[table], _ = read_catalog(spark, table, list(paths), mapping=mapping.get(table), fmt=fmt,
                                              delimiter=delimiter)
    raw = read_source(spark, list(interactions), fmt=fmt, delimiter=delimiter)
    return validate_events(spark, raw, files=list(interactions), mapping=mapping.get("interactions"),
                           catalogs=catalogs, max_bad_timestamp_share=max_bad_timestamp_share,
                           time_format=time_format)


def default_output(workspace: Any, name: str, settings: SparkSettings) -> str:
    """Where cleaned events go when no ``out`` is given: inside the workspace, local masters only."""
    if not settings.is_local:
        raise SparkDataError("give an output folder the cluster can write and read (--out hdfs://..., s3a://...); "
                             "the workspace folder is on this machine only")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return str(Path(workspace.root) / "spark-data" / f"{name}@{stamp}")


def import_spark_dataset(workspace: Any, name: str, interactions: Sequence[str], *, items: Sequence[str] = (),
                         users: Sequence[str] = (), mapping: Mapping[str, Any] | None = None, fmt: str | None = None,
                         delimiter: str | None = None, time_format: str | None = None, out: str | None = None,
                         settings: SparkSettings | None = None, local_copy: bool | None = None,
                         event_weights: Mapping[str, float] | None = None, overwrite: bool = False,
                         max_bad_timestamp_share: float = 0.05) -> tuple[Any, SparkValidation]:
    """Validate on Spark, write the cleaned events to ``out``, record dataset ``name`` (engine "spark").

    Returns ``(DatasetInfo, SparkValidation)``; raises SparkDataError when validation finds errors.
    """
    from recsys.workspace import validate_name

    name = validate_name(name, "dataset name")
    if not overwrite and workspace.has_dataset(name):
        raise SparkDataError(f"dataset {name!r} already exists (use --overwrite)")
    settings = settings or SparkSettings.from_env()
    spark = get_session(settings)
    report = validate_source(spark, interactions, items=items, users=users, mapping=mapping, fmt=fmt,
                             delimiter=delimiter, time_format=time_format,
                             max_bad_timestamp_share=max_bad_timestamp_share)
    if not report.ok:
        raise SparkDataError(f"cannot import: {report.errors[0]}")
    out = (out or default_output(workspace, name, settings)).rstrip("/")
    events_path, dropped_path = f"{out}/events", f"{out}/dropped"
    report.events.write.mode("overwrite").parquet(events_path)
    report.dropped.write.mode("overwrite").parquet(dropped_path)
    report.events.unpersist()
    events = spark.read.parquet(events_path)
    n_events = int(report.stats["n_rows_kept"])
    copy = n_events <= LOCAL_COPY_MAX_ROWS if local_copy is None else bool(local_copy)
    tables: dict[str, pd.DataFrame] = dict(report.catalogs)
    if copy:
        tables["interactions"] = local_events(events)
    tables.update(spark_profile(events, report.stats))
    tables[CHECKS_TABLE] = report.checks
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "files": {"interactions": ", ".join(interactions), **{t: ", ".join(p) for t, p in
                                                               (("items", items), ("users", users)) if p}},
        "source": {"kind": "spark", "paths": list(interactions)},
        "mappings": {"interactions": report.mapping.to_dict()},
        "row_counts": {"interactions": n_events, **{t: len(df) for t, df in report.catalogs.items()}},
        "dropped_counts": {"interactions": int(report.stats["n_rows_dropped"])},
        "has_timestamp": "timestamp" in events.columns,
        "warnings": report.checks.to_dict("records"),
        "stats": {"interactions": _json_stats(report.stats)},
        "spark": {"events_path": events_path, "dropped_path": dropped_path, "local_copy": copy,
                  "columns": events.columns, **settings.describe()},
    }
    if event_weights is not None:
        metadata["event_weights"] = {str(k): float(v) for k, v in event_weights.items()}
    info = workspace.save_dataset(name, tables, metadata=metadata, overwrite=overwrite, engine="spark")
    return info, report


def local_events(events: DataFrame) -> pd.DataFrame:
    """The canonical interactions table in source order, as the local import stores it."""
    frame = to_pandas(events.orderBy(ROW).drop(ROW))
    for col in frame.columns:
        if col == "timestamp":
            frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
        elif col == "value":
            frame[col] = frame[col].astype("float64")
        else:
            frame[col] = frame[col].astype("string")
    return frame


def dataset_events(spark: SparkSession, info: Any) -> DataFrame:
    """The events of a workspace dataset as a Spark frame with a ``row`` order column.

    Spark datasets are read where their import wrote them; local ones from the workspace's
    Parquet file (readable by local masters, or clusters that mount the workspace).
    """
    meta = info.metadata.get("spark") or {}
    if meta.get("events_path"):
        try:
            return spark.read.parquet(meta["events_path"])
        except Exception as exc:
            raise SparkDataError(f"dataset {info.name!r}: cannot read its events at {meta['events_path']}: "
                                 f"{first_line(exc)}") from None
    if "interactions" not in info.columns:
        raise SparkDataError(f"dataset {info.name!r} has no interactions table")
    frame = spark.read.parquet(str(Path(info.path) / "interactions.parquet"))
    return frame.withColumn(ROW, F.monotonically_increasing_id())


def _json_stats(stats: dict) -> dict:
    return {k: v for k, v in stats.items() if isinstance(v, (int, float, str, dict, list, type(None)))}
