"""Per-customer lists scored on the cluster, and the writer of lists and segments with a manifest.

Lists start from a stored run's factors (an ``als`` run, local or Spark) and the dataset's
events on the cluster. The rules follow ``recsys.segments``: lists leave out what the
customer already interacted with (the run's training history) and already bought (purchase
events; any event without types), ranked by score then item index. Segments are built in
``recsys.spark.segments`` from the helpers here (the run's factors, id maps and events).

The output is a folder of part files (Parquet or CSV with a header); beside it,
``<out>.manifest.json`` is ``recsys.segments.manifest``'s manifest. A folder has no single
file hash, so ``file_sha256`` is the SHA-256 of the lines ``"<part> <part sha256>"`` in part
order, and ``settings["parts"]`` lists each part's own SHA-256 (computed on the executors).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.segments.manifest import Manifest, build_manifest, manifest_name
from recsys.spark._deps import DataFrame, F, SparkSession
from recsys.spark.errors import SparkDataError
from recsys.spark.importer import dataset_events
from recsys.spark.scoring import factors_frame, top_k, with_exclusions

FORMATS = ("parquet", "csv")
LIST_COLUMNS = ["user_id", "rank", "item_id", "title", "category", "score"]


@dataclass
class RunFactors:
    """A stored run's factors, training history and id maps, read from the workspace."""

    record: dict
    user_factors: np.ndarray
    item_factors: np.ndarray
    history: Any
    user_ids: np.ndarray
    item_ids: np.ndarray


def read_run_factors(workspace: Any, run_id: str) -> RunFactors:
    """The factors of a stored ``als`` run (local or Spark-trained), without loading its dataset."""
    from recsys.models.registry import get_spec
    from recsys.runs import ITEM_IDS_FILE, MODEL_DIR, USER_IDS_FILE

    record = workspace.get_record("runs", run_id)
    if record.get("model_key") != "als":
        raise SparkDataError(f"run {run_id} is a {record.get('model_key')!r} run; Spark exports score ALS factors")
    run_dir = workspace.artifact_dir("runs", run_id)
    model = get_spec("als").load_class().load(run_dir / MODEL_DIR)
    users = pd.read_parquet(run_dir / USER_IDS_FILE)["user_id"].astype(str).to_numpy(dtype=object)
    items = pd.read_parquet(run_dir / ITEM_IDS_FILE)["item_id"].astype(str).to_numpy(dtype=object)
    return RunFactors(record, model.user_factors_, model.item_factors_, model.history_, users, items)


def indexed_events(spark: SparkSession, workspace: Any, run: RunFactors) -> DataFrame:
    """The run's dataset events with the run's user/item indices (ids outside the run dropped)."""
    info = workspace.dataset_info(run.record["dataset"])
    events = dataset_events(spark, info)
    return events.join(ids_frame(spark, run.user_ids, "user"), "user_id") \
        .join(ids_frame(spark, run.item_ids, "item"), "item_id")


def ids_frame(spark: SparkSession, ids: np.ndarray, what: str) -> DataFrame:
    """(``<what>_idx`` long, ``<what>_id`` string): a run's id map as a Spark table."""
    frame = pd.DataFrame({f"{what}_idx": np.arange(len(ids), dtype=np.int64), f"{what}_id": ids})
    return spark.createDataFrame(frame, schema=f"{what}_idx long, {what}_id string")


def purchases(events: DataFrame, buyer_events: tuple[str, ...] = ("purchase",)) -> DataFrame:
    """(user_idx, item_idx) of purchase events (types in ``buyer_events``); every event without types."""
    if "event_type" in events.columns:
        events = events.where(F.lower(F.trim(F.col("event_type"))).isin(list(buyer_events)))
    return events.select("user_idx", "item_idx")


def history_pairs(spark: SparkSession, run: RunFactors) -> DataFrame:
    """(user_idx, item_idx) of the run's training history: what lists and ``rank`` leave out."""
    history = run.history.tocoo()
    return spark.createDataFrame(pd.DataFrame({"user_idx": history.row.astype(np.int64),
                                               "item_idx": history.col.astype(np.int64)}),
                                 schema="user_idx long, item_idx long")


def spark_lists(spark: SparkSession, workspace: Any, run_id: str, n: int = 10, *, exclude_bought: bool = True
                ) -> DataFrame:
    """Top-``n`` lists (``LIST_COLUMNS``) of every customer with history in the run."""
    if n < 1:
        raise SparkDataError("lists need n >= 1 items")
    run = read_run_factors(workspace, run_id)
    users = np.unique(run.history.tocoo().row)
    seen = history_pairs(spark, run)
    if exclude_bought:
        seen = seen.unionByName(purchases(indexed_events(spark, workspace, run)))
    frame = with_exclusions(factors_frame(spark, run.user_factors, users), seen)
    top = top_k(frame, run.item_factors, n)
    return _with_names(spark, workspace, run, top)


def _with_names(spark: SparkSession, workspace: Any, run: RunFactors, top: DataFrame) -> DataFrame:
    ids = pd.DataFrame({"item_idx": np.arange(len(run.item_ids)), "item_id": run.item_ids})
    items = workspace.load_table(run.record["dataset"], "items") if workspace.has_dataset(run.record["dataset"]) \
        else None
    ids["title"] = ids["item_id"]
    ids["category"] = None
    if items is not None:
        catalog = items.drop_duplicates("item_id")
        catalog = catalog.set_index(catalog["item_id"].astype(str))
        if "title" in catalog:
            ids["title"] = catalog["title"].reindex(ids["item_id"]).astype("string").fillna("").to_numpy(dtype=object)
        if "category" in catalog:
            ids["category"] = catalog["category"].reindex(ids["item_id"]).astype("string").to_numpy(dtype=object)
    ids = ids.astype({"item_id": str, "title": str}).astype({"category": object})
    names = spark.createDataFrame(ids, schema="item_idx long, item_id string, title string, category string")
    return top.join(F.broadcast(names), "item_idx").join(ids_frame(spark, run.user_ids, "user"), "user_idx") \
        .select(*LIST_COLUMNS)


def write_export(spark: SparkSession, frame: DataFrame, out: str, fmt: str, *, kind: str, workspace: Any,
                 run_id: str, rule: dict | None = None, settings: dict | None = None,
                 stats: dict | None = None) -> Manifest:
    """Write ``frame`` to the folder ``out`` and the manifest beside it (``<out>.manifest.json``)."""
    if fmt not in FORMATS:
        raise SparkDataError(f"unsupported format {fmt!r}; use {' or '.join(FORMATS)}")
    out = out.rstrip("/")
    writer = frame.write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", True).csv(out)
    else:
        writer.parquet(out)
    parts = (spark.read.format("binaryFile").option("pathGlobFilter", "part-*").load(out)
             .select("path", "length", F.sha2("content", 256).alias("sha256")).orderBy("path").collect())
    written = spark.read.option("header", True).csv(out) if fmt == "csv" else spark.read.parquet(out)
    row_count = written.count()
    listing = [{"name": r["path"].rsplit("/", 1)[-1], "bytes": int(r["length"]), "sha256": r["sha256"]} for r in parts]
    digest = _parts_text(listing)
    record = workspace.get_record("runs", run_id)
    fingerprint = record["dataset_fingerprint"]
    if workspace.has_dataset(record["dataset"]):
        fingerprint = workspace.dataset_info(record["dataset"]).fingerprint
    manifest = build_manifest(
        kind=kind, fmt=fmt, file_name=out.rsplit("/", 1)[-1], data=digest, row_count=row_count, run_id=run_id,
        dataset=record["dataset"], dataset_fingerprint=fingerprint, model=record.get("display_name", ""),
        rule=rule, settings={**(settings or {}), "engine": "spark", "path": out, "sha256_of": "parts",
                             "parts": listing}, stats=stats or {})
    target = _local_path(out)
    if target is not None:
        target.with_name(manifest_name(target.name)).write_bytes(manifest.to_bytes())
    stem = "spark-" + kind
    export_id = workspace.new_id("exports", stem)
    workspace.write_artifact("exports", export_id, manifest_name(manifest.file_name), manifest.to_bytes())
    workspace.put_record("exports", export_id, {
        "kind": kind, "name": f"{stem}-{run_id[-6:]}", "format": fmt, "file_name": manifest.file_name,
        "row_count": row_count, "file_sha256": manifest.file_sha256, "run_id": run_id, "dataset": record["dataset"],
        "segment_id": None, "engine": "spark", "path": out})
    return manifest


def _local_path(out: str) -> Path | None:
    if out.startswith("file://"):
        return Path(out[len("file://"):])
    return None if "://" in out else Path(out)


def _parts_text(parts: list[dict]) -> bytes:
    """What a folder export's ``file_sha256`` hashes: one ``"<part> <part sha256>"`` line per part."""
    return "\n".join(f"{p['name']} {p['sha256']}" for p in parts).encode()


def manifest_digest(parts: list[dict]) -> str:
    """``file_sha256`` of a folder export from its part listing (to check a download)."""
    return hashlib.sha256(_parts_text(parts)).hexdigest()


__all__ = ["FORMATS", "history_pairs", "ids_frame", "indexed_events", "manifest_digest", "purchases",
           "read_run_factors", "spark_lists", "write_export"]
