"""Import a validated report into the workspace as a named dataset."""

from __future__ import annotations

import os
from typing import Any

from recsys.data.errors import DataValidationError

SCHEMA_VERSION = 1
DROPPED_PREFIX = "dropped_"


def import_dataset(
    report: Any,
    name: str,
    workspace: Any = None,
    *,
    source: dict | None = None,
    overwrite: bool = False,
) -> Any:
    """Save the cleaned tables of ``report`` as dataset ``name``.

    Parameters
    ----------
    report : ValidationReport
        Must have no errors.
    name : str
        Dataset name (validated by the workspace).
    workspace : Workspace, path or None
        Default: ``Workspace()`` (``$RECSYS_WORKSPACE`` or ``./workspace``).
    source : dict, optional
        Where the data came from (file names, sample key...), kept in the metadata.
    overwrite : bool, default False
        Replace an existing dataset of that name.

    Returns
    -------
    DatasetInfo

    Notes
    -----
    Dropped rows are stored next to the tables as ``dropped_<table>`` (original
    columns, ``row`` and ``reason``) so they can be downloaded later. The metadata
    holds the mappings, row and dropped counts, the report summary and its warnings.

    Raises
    ------
    DataValidationError
        When the report has blocking errors.
    """
    from recsys.workspace import Workspace

    if not report.ok:
        first = report.errors[0]
        raise DataValidationError(
            f"cannot import: the validation found {len(report.errors)} blocking "
            f"error{'s' if len(report.errors) != 1 else ''}; first: {first.message}",
            file=first.file or None, column=first.column, code="not_validated",
        )
    if "interactions" not in report.tables:
        raise DataValidationError("cannot import: there is no interactions table", code="not_validated")
    if workspace is None or isinstance(workspace, (str, os.PathLike)):
        workspace = Workspace(workspace)
    tables = dict(report.tables)
    for table, dropped in report.dropped.items():
        if dropped is not None and len(dropped):
            tables[DROPPED_PREFIX + table] = dropped
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "summary": report.summary(),
        "files": dict(report.files),
        "source": source or {},
        "mappings": {t: m.to_dict() for t, m in report.mappings.items()},
        "row_counts": {t: len(df) for t, df in report.tables.items()},
        "dropped_counts": {t: len(df) for t, df in report.dropped.items()},
        "dropped_tables": sorted(DROPPED_PREFIX + t for t, df in report.dropped.items() if len(df)),
        "has_timestamp": "timestamp" in report.tables["interactions"].columns,
        "warnings": [issue.to_dict(examples=False) for issue in report.warnings],
        "stats": report.to_dict(examples=False)["stats"],
    }
    return workspace.save_dataset(name, tables, metadata=metadata, overwrite=overwrite,
                                  encodings=getattr(report, "encodings", None))
