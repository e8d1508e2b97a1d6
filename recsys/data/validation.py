"""Validation report: turn raw string tables into the canonical tables, saying what was wrong.

Blocking problems become ``error`` issues, doubtful ones ``warning`` issues, and
every row that is dropped lands in ``report.dropped`` with its source row number
(header = row 1, as a spreadsheet shows the file) and the reason.  The happy
path is vectorised (pyarrow/pandas string kernels, distinct values cleaned once).

This module runs the whole validation; the parts live in :mod:`recsys.data.report`
(``Issue``, ``ValidationReport``), :mod:`recsys.data.checks` (per-table checks) and
:mod:`recsys.data.parsing` (ids, numbers, times, tags, attribute types).

Issue codes
-----------
Errors (block an import): ``missing_table``, ``unknown_table``, ``bad_mapping``,
``mapping_column_missing``, ``missing_required_column``, ``empty_file``, ``header_only``,
``unreadable``, ``unsupported_format``, ``duplicate_columns``, ``ragged_rows``,
``no_valid_rows``, ``bad_timestamps`` and ``non_numeric_value`` (above the allowed
share), ``internal_error`` (a bug; reported rather than raised).
Warnings: ``empty_rows``, ``missing_ids``, ``float_ids``, ``bad_timestamps``,
``missing_timestamps``, ``non_numeric_value`` (rows dropped), ``ambiguous_dates``,
``suspicious_timestamps``, ``no_timestamp``, ``extreme_values``, ``negative_values``,
``duplicate_rows``, ``unknown_items``, ``unknown_users``, ``single_event_users``,
``single_event_items``, ``duplicate_item_ids``, ``duplicate_user_ids``,
``unparseable_dates``, ``unparseable_values``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from recsys.data.checks import TableCheck, check_table, interaction_stats
from recsys.data.errors import DataValidationError
from recsys.data.mapping import parse_mappings
from recsys.data.parsing import (  # noqa: F401  (re-exported: the public parsing API lived here)
    clean_column,
    clean_ids,
    clean_strings,
    factorize_clean,
    infer_attribute,
    normalise_tags,
    parse_datetimes,
    parse_numbers,
)
from recsys.data.readers import read_table
from recsys.data.report import Issue, ValidationReport  # noqa: F401  (re-exported)
from recsys.data.schema import TABLES


def validate_tables(
    raw: Mapping[str, pd.DataFrame],
    mappings: Mapping[str, Any] | None,
    files: Mapping[str, str] | None = None,
    *,
    max_bad_timestamp_share: float = 0.05,
    now: Any = None,
    _issues: list[Issue] | None = None,
) -> ValidationReport:
    """Check and clean raw string tables into canonical tables.

    Parameters
    ----------
    raw : dict of str to DataFrame
        ``"interactions"`` (required), ``"items"``, ``"users"``; as :func:`read_table` returns them.
    mappings : dict of str to ColumnMapping or dict, optional
        Roles given win; roles not mentioned are auto-detected (``None`` keeps a role unmapped).
    files : dict of str to str, optional
        File names for messages.
    max_bad_timestamp_share : float, default 0.05
        Share of unparseable times (and of non-numeric values) above which the
        table is rejected; below it, those rows are dropped and counted.
    now : timestamp-like, optional
        Reference time for "future timestamp" warnings (default: current UTC time).

    Returns
    -------
    ValidationReport
    """
    issues: list[Issue] = list(_issues or [])
    files = dict(files or {})
    mappings = dict(mappings or {})
    now_ts = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    if now_ts.tzinfo is not None:
        now_ts = now_ts.tz_convert("UTC").tz_localize(None)
    report = ValidationReport(issues=issues, files=files)
    read_failed = {i.table for i in issues if i.severity == "error"}
    if "interactions" not in raw and "interactions" not in read_failed:
        issues.append(Issue("error", "missing_table", "an interactions table is required",
                            "interactions", files.get("interactions", "")))
    checked: dict[str, TableCheck] = {}
    for table in [t for t in TABLES if t in raw] + [t for t in raw if t not in TABLES]:
        file = files.get(table) or str(getattr(raw[table], "attrs", {}).get("file", "") or table)
        files[table] = file
        if table not in TABLES:
            issues.append(Issue("error", "unknown_table",
                                f"unknown table {table!r}; expected {', '.join(TABLES)}", table, file))
            continue
        try:
            t, canon, stats = check_table(table, raw[table], mappings.get(table), file, issues,
                                            max_bad_timestamp_share, now_ts)
        except DataValidationError as err:
            issues.append(Issue("error", err.code, err.message, table, err.file or file, err.column))
            continue
        except Exception as err:  # never let a surprise in one table hide the others' findings
            issues.append(Issue("error", "internal_error",
                                f"unexpected problem while checking: {type(err).__name__}: {err}", table, file))
            continue
        report.mappings[table] = t.mapping
        checked[table] = t
        blocked = any(i.severity == "error" and i.table == table for i in issues)
        report.dropped[table] = t.dropped_frame()
        report.stats[table] = {
            "rows_read": len(t.raw), "rows": 0, "dropped": int(t.dropped_mask.sum()),
            "dropped_by_reason": dict(t.drop_counts), "source_columns": [str(c) for c in t.raw.columns],
            **stats,
        }
        if canon is not None and not blocked:
            kept = canon[~t.dropped_mask].reset_index(drop=True) if t.dropped_mask.any() else canon
            report.tables[table] = kept
            report.encodings[table] = _kept_encodings(t, kept)
            report.stats[table]["rows"] = len(kept)
            report.stats[table]["columns"] = list(kept.columns)
    if "interactions" in report.tables:
        try:
            report.stats["interactions"].update(
                interaction_stats(checked["interactions"], report.tables["interactions"], report.tables))
        except Exception as err:
            issues.append(Issue("error", "internal_error",
                                f"unexpected problem while profiling: {type(err).__name__}: {err}",
                                "interactions", files.get("interactions", "")))
    for table in list(report.tables):
        if any(i.severity == "error" and i.table == table for i in issues):
            del report.tables[table]
            report.encodings.pop(table, None)
    return report


def _kept_encodings(t: TableCheck, kept: pd.DataFrame) -> dict:
    """The table check's column codes, restricted to the kept rows."""
    alive = ~t.dropped_mask
    return {col: (codes if alive.all() else codes[alive], uniques)
            for col, (codes, uniques) in t.codes.items() if col in kept.columns and len(codes) == len(alive)}


def _source_name(source: Any, table: str) -> str:
    if isinstance(source, pd.DataFrame):
        return str(source.attrs.get("file") or table)
    if isinstance(source, (str, os.PathLike)):
        return os.path.basename(os.fspath(source))
    name = getattr(source, "name", None)
    return os.path.basename(name) if isinstance(name, str) and name else table


def load_and_validate(
    sources: Mapping[str, Any],
    mappings: Mapping[str, Any] | str | None = None,
    *,
    max_bad_timestamp_share: float = 0.05,
    now: Any = None,
) -> ValidationReport:
    """Read each source with :func:`read_table` and validate; never raises for bad data.

    Parameters
    ----------
    sources : dict of str to source
        ``{"interactions": path_or_bytes_or_upload, "items": ..., "users": ...}``;
        ``None`` values are skipped, DataFrames are used as they are.
    mappings : dict or JSON text, optional
        ``{"interactions": ColumnMapping | {"user_id": "CustomerID", ...}, ...}``;
        roles not given are auto-detected.

    Returns
    -------
    ValidationReport
        Read failures and bad mappings appear as error issues.
    """
    issues: list[Issue] = []
    raw: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    for table, source in dict(sources or {}).items():
        if source is None:
            continue
        try:
            file = _source_name(source, table)
        except Exception:
            file = table
        files[table] = file
        try:
            raw[table] = source if isinstance(source, pd.DataFrame) else read_table(source, name=file)
        except DataValidationError as err:
            issues.append(Issue("error", err.code, err.message, table, err.file or file, err.column,
                                0, pd.DataFrame({"row": [err.row]}) if err.row else pd.DataFrame()))
        except Exception as err:
            issues.append(Issue("error", "unreadable", f"cannot read the file: {type(err).__name__}: {err}",
                                table, file))
    parsed: dict[str, Any] = {}
    if mappings:
        try:
            parsed = parse_mappings(mappings)
        except DataValidationError as err:
            issues.append(Issue("error", "bad_mapping", err.message, "interactions", files.get("interactions", "")))
        except Exception as err:
            issues.append(Issue("error", "bad_mapping", f"cannot use the mapping: {err}", "interactions",
                                files.get("interactions", "")))
    try:
        return validate_tables(raw, parsed, files, max_bad_timestamp_share=max_bad_timestamp_share,
                               now=now, _issues=issues)
    except Exception as err:
        issues.append(Issue("error", "internal_error", f"unexpected problem: {type(err).__name__}: {err}",
                            "interactions", files.get("interactions", "")))
        return ValidationReport(issues=issues, files=files)
