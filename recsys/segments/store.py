"""Segments and exports in the workspace: save, list, re-run, export with a manifest.

Records of kind ``"segments"`` hold the rule, run, counts and provenance; the members live
beside them in ``segments/<id>/members.parquet`` (customer ids, affinity, rank: no contact
details). Records of kind ``"exports"`` describe each exported file, stored with its manifest
in ``exports/<id>/``. Files are written first and the record last (``Workspace`` writes are
atomic), so a listed export is always complete.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys.segments.audience import Audience, build_audience
from recsys.segments.formats import (FORMATS, TABLE_FORMATS, ExportFile, contact_table,
                                     customer_match_file, meta_file, segment_table, table_file)
from recsys.segments.lists import CustomerLists
from recsys.segments.manifest import Manifest, build_manifest, manifest_name
from recsys.segments.privacy import DEFAULT_MIN_SIZE, check_min_size, pseudonymous_ids, workspace_salt
from recsys.segments.rules import SegmentRule

if TYPE_CHECKING:
    from recsys.runs import LoadedRun
    from recsys.workspace import Workspace

SEGMENTS = "segments"
EXPORTS = "exports"
MEMBERS_FILE = "members.parquet"


@dataclass(frozen=True)
class SavedExport:
    """An export written to the workspace: its id, file name, bytes and manifest."""

    id: str
    file_name: str
    data: bytes
    manifest: Manifest

    @property
    def manifest_name(self) -> str:
        return manifest_name(self.file_name)

    @property
    def manifest_bytes(self) -> bytes:
        return self.manifest.to_bytes()

    @property
    def mime(self) -> str:
        return FORMATS[self.manifest.format][1]


# ----- building and saving segments --------------------------------------------------------------

def load_for_rule(workspace: "Workspace", rule: SegmentRule) -> "LoadedRun":
    from recsys.runs import load_run

    return load_run(workspace, rule.run_id)


def build_segment(workspace: "Workspace", rule: SegmentRule, *, loaded: "LoadedRun | None" = None,
                  batch_size: int | None = None) -> Audience:
    """Build ``rule`` on its run and the run's dataset as it is now; provenance goes into ``stats``."""
    loaded = loaded or load_for_rule(workspace, rule)
    if loaded.record.id != rule.run_id:
        raise ValueError(f"the loaded run {loaded.record.id} is not the rule's run {rule.run_id}")
    audience = build_audience(rule, loaded.model, loaded.data, batch_size=batch_size)
    return replace(audience, stats={**audience.stats, **_provenance(workspace, loaded)})


def save_segment(workspace: "Workspace", audience: Audience, *, parent: str | None = None) -> str:
    """Store the audience (members file, then the record); returns the segment id."""
    rule = audience.rule
    segment_id = workspace.new_id(SEGMENTS, _slug(rule.name, 20))
    members = audience.members[["user_id", "affinity", "rank"]]
    workspace.write_artifact(SEGMENTS, segment_id, MEMBERS_FILE, _parquet(members))
    stats = audience.stats
    workspace.put_record(SEGMENTS, segment_id, {
        "name": rule.name, "rule": rule.to_dict(), "run_id": rule.run_id, "dataset": stats.get("dataset"),
        "dataset_fingerprint": stats.get("dataset_fingerprint"), "model": stats.get("model"),
        "n_members": audience.size, "description": rule.describe(), "parent": parent,
        "stats": {k: v for k, v in stats.items() if k not in ("dataset", "dataset_fingerprint", "model")},
    })
    return segment_id


def list_segments(workspace: "Workspace", dataset: str | None = None) -> pd.DataFrame:
    """Saved segments, newest first."""
    records = workspace.list_records(SEGMENTS, dataset=dataset) if dataset else workspace.list_records(SEGMENTS)
    columns = ["segment_id", "name", "created_at", "n_members", "run_id", "model", "dataset", "description",
               "parent"]
    return pd.DataFrame([{"segment_id": r["id"], **{c: r.get(c) for c in columns[1:]}} for r in records],
                        columns=columns)


def load_segment(workspace: "Workspace", segment_id: str) -> tuple[SegmentRule, pd.DataFrame]:
    """The saved rule and members (``user_id``, ``affinity``, ``rank``)."""
    record = workspace.get_record(SEGMENTS, segment_id)
    members = pd.read_parquet(io.BytesIO(workspace.read_artifact(SEGMENTS, segment_id, MEMBERS_FILE)))
    return SegmentRule.from_dict(record["rule"]), members


def rerun_segment(workspace: "Workspace", segment_id: str, *, run_id: str | None = None, save: bool = True
                  ) -> tuple[Audience, str | None]:
    """Re-build a saved segment on the current data, or on another (newer) run; one call.

    Returns the audience and, with ``save``, the id of the new segment (its ``parent`` is
    ``segment_id``).
    """
    rule, _ = load_segment(workspace, segment_id)
    if run_id is not None:
        rule = rule.with_run(run_id)
    audience = build_segment(workspace, rule)
    return audience, (save_segment(workspace, audience, parent=segment_id) if save else None)


# ----- exports -----------------------------------------------------------------------------------

def segment_file(audience: Audience, data, fmt: str, *, ids: np.ndarray | None = None) -> ExportFile:
    """The bytes of an audience in ``fmt`` (no size check, nothing stored)."""
    users = audience.members["user_idx"].to_numpy(np.int64)
    if fmt in TABLE_FORMATS:
        return table_file(segment_table(audience.members, data, ids=ids), fmt, sheet_name=audience.rule.name)
    if fmt == "customer-match":
        return customer_match_file(contact_table(data, users))
    if fmt == "meta":
        return meta_file(contact_table(data, users), extern_ids=ids)
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def export_segment(workspace: "Workspace", audience: Audience, fmt: str, *, loaded: "LoadedRun | None" = None,
                   segment_id: str | None = None, pseudonymous: bool = False, min_size: int | None = None
                   ) -> SavedExport:
    """Check the minimum size, write the file and its manifest to the workspace, record the export.

    ``pseudonymous`` replaces customer ids with salted HMAC ids (the salt stays in the workspace).
    """
    rule = audience.rule
    check_min_size(audience.size, rule.min_size if min_size is None else min_size)
    loaded = loaded or load_for_rule(workspace, rule)
    ids = _pseudonyms(workspace, audience.members["user_id"]) if pseudonymous else None
    file = segment_file(audience, loaded.data, fmt, ids=ids)
    stats = audience.stats
    settings = {"min_size": rule.min_size if min_size is None else int(min_size), "pseudonymous_ids": pseudonymous,
                "segment_id": segment_id, "segment_name": rule.name, "format_description": FORMATS[fmt][2]}
    return _store_export(workspace, "segment", file, _slug(rule.name, 20), loaded, stats, settings,
                         rule=rule.to_dict(), reranker=None)


def export_lists(workspace: "Workspace", lists: CustomerLists, fmt: str, *, loaded: "LoadedRun",
                 name: str = "lists", pseudonymous: bool = False, min_size: int = DEFAULT_MIN_SIZE,
                 segment_id: str | None = None) -> SavedExport:
    """Write per-customer lists (CSV, Parquet or Excel) and their manifest; record the export."""
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"lists export as {', '.join(TABLE_FORMATS)}, not {fmt!r}")
    check_min_size(lists.stats.get("n_customers", 0), min_size, what="list export")
    frame = lists.frame
    if pseudonymous:
        frame = frame.assign(user_id=_pseudonyms(workspace, frame["user_id"])).rename(columns={"user_id": "pseudo_id"})
    file = table_file(frame, fmt, sheet_name="lists")
    settings = {**lists.options.to_dict(), "min_size": int(min_size), "pseudonymous_ids": pseudonymous,
                "segment_id": segment_id}
    return _store_export(workspace, "lists", file, _slug(name, 20), loaded, {**lists.stats,
                         **_provenance(workspace, loaded)}, settings, rule=None, reranker=lists.reranker)


def list_exports(workspace: "Workspace", dataset: str | None = None) -> pd.DataFrame:
    """Exports, newest first: what, when, format, rows and the file's SHA-256."""
    records = workspace.list_records(EXPORTS, dataset=dataset) if dataset else workspace.list_records(EXPORTS)
    columns = ["export_id", "created_at", "kind", "name", "format", "row_count", "run_id", "file_name",
               "file_sha256", "segment_id"]
    return pd.DataFrame([{"export_id": r["id"], **{c: r.get(c) for c in columns[1:]}} for r in records],
                        columns=columns)


def read_export(workspace: "Workspace", export_id: str) -> SavedExport:
    """An earlier export's bytes and manifest."""
    record = workspace.get_record(EXPORTS, export_id)
    data = workspace.read_artifact(EXPORTS, export_id, record["file_name"])
    manifest = Manifest.from_json(workspace.read_artifact(EXPORTS, export_id, manifest_name(record["file_name"])))
    return SavedExport(export_id, record["file_name"], data, manifest)


def _store_export(workspace: "Workspace", kind: str, file: ExportFile, stem: str, loaded: "LoadedRun",
                  stats: dict, settings: dict, *, rule: dict | None, reranker: dict | None) -> SavedExport:
    provenance = _provenance(workspace, loaded)
    export_id = workspace.new_id(EXPORTS, stem)
    file_name = f"{stem}-{file.format}{file.extension}"
    manifest = build_manifest(kind=kind, fmt=file.format, file_name=file_name, data=file.data,
                              row_count=file.row_count, run_id=provenance["run_id"], dataset=provenance["dataset"],
                              dataset_fingerprint=provenance["dataset_fingerprint"], model=provenance["model"],
                              rule=rule, reranker=reranker, settings=settings,
                              stats={**{k: v for k, v in stats.items() if k not in provenance}, **file.stats})
    workspace.write_artifact(EXPORTS, export_id, file_name, file.data)
    workspace.write_artifact(EXPORTS, export_id, manifest_name(file_name), manifest.to_bytes())
    workspace.put_record(EXPORTS, export_id, {
        "kind": kind, "name": settings.get("segment_name") or stem, "format": file.format, "file_name": file_name,
        "row_count": file.row_count, "file_sha256": manifest.file_sha256, "run_id": manifest.run_id,
        "dataset": manifest.dataset, "segment_id": settings.get("segment_id")})
    return SavedExport(export_id, file_name, file.data, manifest)


def _provenance(workspace: "Workspace", loaded: "LoadedRun") -> dict:
    record = loaded.record
    fingerprint = record.dataset_fingerprint
    if workspace.has_dataset(record.dataset):
        fingerprint = workspace.dataset_info(record.dataset).fingerprint
    return {"run_id": record.id, "dataset": record.dataset, "dataset_fingerprint": fingerprint,
            "model": record.display_name}


def _pseudonyms(workspace: "Workspace", ids: pd.Series) -> np.ndarray:
    return pseudonymous_ids(ids.astype(str), workspace_salt(workspace))


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _slug(text: str, limit: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-").lower()[:limit].strip("-")
    return slug or "segment"
