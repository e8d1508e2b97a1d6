"""Validation report types: :class:`Issue` findings and the :class:`ValidationReport`."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.mapping import ColumnMapping


@dataclass
class Issue:
    """One finding of the validation.

    ``examples`` holds up to five offending source rows (original columns) with
    their source row number in a ``row`` column.
    """

    severity: str
    code: str
    message: str
    table: str
    file: str
    column: str | None = None
    count: int = 0
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)

    def where(self) -> str:
        parts = [f"{self.file} ({self.table})" if self.file and self.file != self.table else self.table]
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)

    def line(self) -> str:
        """One line: severity, where, count and message."""
        return f"{self.severity.upper()} [{self.code}] {self.where()}: {self.message}"

    def to_dict(self, examples: bool = True) -> dict[str, Any]:
        """JSON-safe form; ``examples=False`` leaves the example rows out."""
        out = {
            "severity": self.severity, "code": self.code, "message": self.message,
            "table": self.table, "file": self.file, "column": self.column, "count": int(self.count),
        }
        if examples:
            out["examples"] = _records(self.examples)
        return out


@dataclass
class ValidationReport:
    """Outcome of validating the analyst's tables.

    Attributes
    ----------
    issues : list of Issue
    tables : dict of str to DataFrame
        Cleaned canonical tables (only tables without blocking errors).
    dropped : dict of str to DataFrame
        Dropped rows per table: original columns, ``row`` and ``reason``.
    stats : dict
        Per-table counts (JSON-safe).
    mappings : dict of str to ColumnMapping
        The mappings that were applied.
    files : dict of str to str
        Table -> file name.
    encodings : dict
        Table -> column -> ``(codes, uniques)`` for columns the validation already
        dictionary-encoded (codes over the rows of ``tables[table]``, -1 for missing), so
        the workspace can store them without hashing the strings again.
    """

    issues: list[Issue] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    dropped: dict[str, pd.DataFrame] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, ColumnMapping] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    encodings: dict[str, dict[str, tuple[np.ndarray, pd.Index]]] = field(default_factory=dict, repr=False)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when nothing blocks an import."""
        return not self.errors

    @property
    def n_dropped(self) -> int:
        return int(sum(len(d) for d in self.dropped.values()))

    def summary(self) -> str:
        """One line for status bars, logs and dataset metadata."""
        n_warn = len(self.warnings)
        warn = f"{n_warn} warning{'s' if n_warn != 1 else ''}"
        if not self.ok:
            first = self.errors[0]
            n_err = len(self.errors)
            return (f"{n_err} error{'s' if n_err != 1 else ''}, {warn}; first: "
                    f"{first.where()}: {first.message}")
        parts = []
        for table, df in self.tables.items():
            dropped = len(self.dropped.get(table, ()))
            text = f"{table} {plural(len(df), 'row', 'rows')}" + (f" ({dropped:,} dropped)" if dropped else "")
            if table == "interactions":
                st = self.stats.get(table, {})
                text += (f", {plural(st.get('n_users', 0), 'user', 'users')}, "
                         f"{plural(st.get('n_items', 0), 'item', 'items')}")
            parts.append(text)
        return f"OK: {'; '.join(parts)}; {warn}"

    def lines(self) -> list[str]:
        """One line per issue, errors first."""
        return [i.line() for i in self.errors + self.warnings]

    def to_dict(self, examples: bool = True) -> dict[str, Any]:
        """JSON-safe form (without the tables themselves; ``examples=False``: nor example rows)."""
        return _jsonable({
            "ok": self.ok,
            "summary": self.summary(),
            "n_dropped": self.n_dropped,
            "dropped_counts": {t: len(d) for t, d in self.dropped.items()},
            "issues": [i.to_dict(examples) for i in self.issues],
            "stats": self.stats,
            "mappings": {t: m.to_dict() for t, m in self.mappings.items()},
            "files": dict(self.files),
            "row_counts": {t: len(df) for t, df in self.tables.items()},
        })


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, (pd.Timestamp, _dt.datetime, _dt.date)):
        return None if pd.isna(obj) else obj.isoformat()
    if isinstance(obj, np.bool_):
        return bool(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    return obj


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    if df is None or df.empty:
        return []
    return [_jsonable({str(k): (None if is_missing(v) else v) for k, v in rec.items()})
            for rec in df.to_dict("records")]


def is_missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def plural(count: int, one: str, many: str) -> str:
    """``1 row``, ``2,000 rows``."""
    return f"{count:,} {one if count == 1 else many}"
