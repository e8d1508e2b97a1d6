"""Validation report: turn raw string tables into the canonical tables, saying what was wrong.

Blocking problems become ``error`` issues, doubtful ones ``warning`` issues, and
every row that is dropped lands in ``report.dropped`` with its source row number
(header = row 1, as a spreadsheet shows the file) and the reason.  The happy
path is vectorised (pyarrow/pandas string kernels, distinct values cleaned once).

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

import datetime as _dt
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.errors import DataValidationError
from recsys.data.mapping import ColumnMapping, apply_mapping, parse_mappings, resolve_mapping
from recsys.data.readers import MISSING_MARKERS, arrow_to_strings, read_table
from recsys.data.schema import TABLES, get_role, id_column, role_names, roles_for

_MISSING = list(MISSING_MARKERS)
_EXAMPLES = 5
_NS_MIN = pd.Timestamp("1677-09-22", tz="UTC")
_NS_MAX = pd.Timestamp("2262-04-11", tz="UTC")
_EARLIEST_PLAUSIBLE = pd.Timestamp("1990-01-01")
_EXTREME_IQR = 10.0

# Day-first and month-first variants are tried together; the better fit wins.
_DATE_FORMATS: tuple[str, ...] = (
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%Y/%m/%d", "%d/%m/%y %H:%M", "%m/%d/%y %H:%M", "%d/%m/%y", "%m/%d/%y", "%Y%m%d%H%M%S",
    "%d %b %Y %H:%M", "%d %b %Y", "%b %d %Y", "%d %B %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y",
)


# ----------------------------------------------------------------------------- records


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity, "code": self.code, "message": self.message,
            "table": self.table, "file": self.file, "column": self.column,
            "count": int(self.count), "examples": _records(self.examples),
        }


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
    """

    issues: list[Issue] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    dropped: dict[str, pd.DataFrame] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    mappings: dict[str, ColumnMapping] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

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
            text = f"{table} {_n(len(df), 'row', 'rows')}" + (f" ({dropped:,} dropped)" if dropped else "")
            if table == "interactions":
                st = self.stats.get(table, {})
                text += (f", {_n(st.get('n_users', 0), 'user', 'users')}, "
                         f"{_n(st.get('n_items', 0), 'item', 'items')}")
            parts.append(text)
        return f"OK: {'; '.join(parts)}; {warn}"

    def lines(self) -> list[str]:
        """One line per issue, errors first."""
        return [i.line() for i in self.errors + self.warnings]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (without the tables themselves)."""
        return _jsonable({
            "ok": self.ok,
            "summary": self.summary(),
            "n_dropped": self.n_dropped,
            "dropped_counts": {t: len(d) for t, d in self.dropped.items()},
            "issues": [i.to_dict() for i in self.issues],
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
    return [_jsonable({str(k): (None if _isna(v) else v) for k, v in rec.items()})
            for rec in df.to_dict("records")]


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# ----------------------------------------------------------------------------- value parsing


def clean_strings(s: pd.Series) -> pd.Series:
    """Strip whitespace; empty strings and missing markers become NA."""
    s = s.astype("str").str.strip()
    return s.mask(s.isin(_MISSING))


def _strip_float_suffix(u: pd.Series) -> pd.Series:
    present = u.dropna()
    if len(present) and present.str.fullmatch(r"-?\d+\.0+").all():
        return u.str.replace(r"\.0+$", "", regex=True)
    return u


def clean_ids(s: pd.Series) -> tuple[pd.Series, bool]:
    """Stripped id strings; returns (ids, whether a float-style ``.0`` suffix was removed).

    A column written by a float-typed export (``17850.0``) would never join with
    ``17850`` elsewhere, so when *every* id ends in ``.0`` the suffix goes.
    """
    ids, _, _, fixed = factorize_clean(s, ids=True)
    return ids, fixed


def factorize_clean(
    s: pd.Series, *, ids: bool = False, lower: bool = False
) -> tuple[pd.Series, np.ndarray, pd.Index, bool]:
    """Clean a string column through its distinct values; returns (column, codes, uniques, float_fixed).

    Stripping, missing markers, lower-casing (``lower``) and the float-suffix rule
    (``ids``) run on the distinct values only, so a million-row id column costs one
    hash pass, and the codes (-1 for missing) are reused for the statistics.
    """
    s = s.astype("str")
    codes, uniques = pd.factorize(s)
    u = pd.Series(uniques, dtype="str")
    cleaned = clean_strings(u)
    if lower:
        cleaned = cleaned.str.lower()
    fixed = False
    if ids:
        stripped = _strip_float_suffix(cleaned)
        fixed = not stripped.equals(cleaned)
        cleaned = stripped
    if cleaned.equals(u):
        return s, codes, uniques, fixed
    new_codes, new_uniques = pd.factorize(cleaned)
    codes = np.where(codes >= 0, new_codes[np.maximum(codes, 0)], -1) if len(new_codes) else codes
    values = new_uniques.array.take(codes, allow_fill=True) if len(new_uniques) else pd.array(
        [None] * len(s), dtype="str")
    return pd.Series(values, index=s.index, dtype="str"), codes, new_uniques, fixed


def _clean_sessions(s: pd.Series) -> pd.Series:
    # Often one distinct value per few rows, so no factorize; the float rule is checked cheaply.
    s = clean_strings(s)
    first = s.first_valid_index()
    return _strip_float_suffix(s) if first is not None and str(s[first]).endswith(".0") else s


def clean_column(s: pd.Series, *, lower: bool = False) -> pd.Series:
    """:func:`clean_strings` (and lower-casing), through distinct values when they are few."""
    head = s.iloc[:10_000]
    if len(s) > 50_000 and head.nunique() < 1_000:
        return factorize_clean(s, lower=lower)[0]
    out = clean_strings(s)
    return out.str.lower() if lower else out


def parse_numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers; returns (float64 values, mask of present but non-numeric values).

    Handles surrounding spaces, currency signs, thousands separators and decimal commas.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    s = clean_strings(s)
    present = s.notna()
    try:  # Arrow's all-or-nothing cast is 20x faster than to_numeric on clean columns
        values = pc.cast(pa.array(s.array), pa.float64()).to_numpy(zero_copy_only=False)
        num = pd.Series(np.asarray(values, dtype="float64"), index=s.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        num = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = present & ~np.isfinite(num)
    if bad.any():
        sub = s[bad].str.replace(r"[\s$€£¥]", "", regex=True)
        comma_dec = sub.str.fullmatch(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+")
        thousands = sub.str.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
        fixed = sub.where(~comma_dec, sub.str.replace(".", "", regex=False).str.replace(",", ".", regex=False))
        fixed = fixed.where(~thousands, fixed.str.replace(",", "", regex=False))
        retry = pd.to_numeric(fixed, errors="coerce").astype("float64")
        retry[~np.isfinite(retry)] = np.nan
        num[bad] = retry
        bad = present & ~np.isfinite(num)
        num[bad] = np.nan
    return num, bad


def _to_ns(parsed: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTC-aware parse result -> int64 ns (iNaT where missing) and an out-of-range mask."""
    parsed = pd.Series(parsed)
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize("UTC")
    out_of_range = ((parsed < _NS_MIN) | (parsed > _NS_MAX)).to_numpy()
    ok = parsed.where(~out_of_range)
    ns = ok.dt.tz_localize(None).astype("datetime64[ns]").to_numpy().view("int64")
    return ns, out_of_range


_EPOCH_UNITS = ((1e17, 1, "unix nanoseconds"), (1e14, 1_000, "unix microseconds"),
                (1e11, 1_000_000, "unix milliseconds"), (0.0, 1_000_000_000, "unix seconds"))
_INAT = np.iinfo(np.int64).min
_ISO_RE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$"


def _numbers(text: pd.Series) -> np.ndarray:
    """Numeric strings (already checked by regex) as float64, via Arrow's fast cast."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.cast(pa.array(text.array), pa.float64()).to_numpy(zero_copy_only=False)


def _epoch_ns(text: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Unix epoch numbers -> ns, unit chosen per value by magnitude (s, ms, us or ns).

    Integers are scaled in int64 so milliseconds stay exact. Returns (ns, ok, units).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    mag = np.abs(_numbers(text))
    scale = np.select([mag >= lo for lo, _, _ in _EPOCH_UNITS[:3]], [f for _, f, _ in _EPOCH_UNITS[:3]],
                      _EPOCH_UNITS[3][1]).astype(np.int64)
    ok = np.isfinite(mag) & (mag * scale < min(-_NS_MIN.value, _NS_MAX.value))
    ns = np.zeros(len(text), np.int64)
    integral = ~text.str.contains(".", regex=False).to_numpy(dtype=bool) & ok & (mag < 2**62)
    if integral.any():
        ints = pc.cast(pa.array(text[integral].array), pa.int64()).to_numpy(zero_copy_only=False)
        ns[integral] = ints * scale[integral]
    frac = ok & ~integral
    if frac.any():
        ns[frac] = (_numbers(text[frac]) * scale[frac]).astype(np.int64)
    units = [name for lo, f, name in _EPOCH_UNITS if (ok & (scale == f)).any()]
    return ns, ok, units


def _looks_iso(arr) -> bool:
    """Whether a sample of the column is ISO 8601 (a failed Arrow cast costs a full pass)."""
    import pyarrow.compute as pc

    present = pc.drop_null(arr)
    if len(present) == 0:
        return False
    sample = present.slice(0, 100) if len(present) <= 200 else pc.take(
        present, np.r_[0:100, len(present) - 100:len(present)])
    return bool(pc.all(pc.match_substring_regex(sample, _ISO_RE)).as_py())


def parse_datetimes(s: pd.Series) -> tuple[pd.Series, pd.Series, dict[str, Any]]:
    """Parse times to naive UTC ``datetime64[ns]``.

    A clean ISO-8601 column parses in one Arrow cast. Otherwise the distinct
    values are parsed (times repeat: an invoice log has far fewer distinct
    times than rows) trying ISO 8601 with zones (converted to UTC), Unix epoch
    numbers (seconds or milliseconds by magnitude, per value), common
    day/month formats ranked on a sample, then a per-element parser for the
    leftovers.  Naive times are taken as UTC.

    Returns
    -------
    (times, bad, info)
        ``bad`` marks values that were present but could not be parsed (or lie
        outside 1677-2262); ``info`` says which formats were used and whether
        the day/month order was ambiguous.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(s)
    info: dict[str, Any] = {"formats": [], "ambiguous_day_month": False, "out_of_range": 0}
    arr = pa.array(s.astype("str").array)
    if _looks_iso(arr):
        for typ, label in ((pa.timestamp("ns"), "iso8601"), (pa.timestamp("ns", tz="UTC"), "iso8601 with zone")):
            try:
                cast = pc.cast(arr, typ)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            out = pc.fill_null(cast.cast(pa.int64()), _INAT).to_numpy(zero_copy_only=False)
            info["formats"].append(label)
            return _finish_times(np.asarray(out, np.int64), s.index), pd.Series(np.zeros(n, bool), index=s.index), info
    cleaned = clean_strings(s)
    head = cleaned.iloc[:10_000].dropna()
    if (len(head) > 1_000 and head.nunique() > 0.9 * len(head)
            and head.str.fullmatch(r"[+-]?\d+(\.\d+)?").all()):
        # Distinct epoch numbers convert in one cheap cast: hashing them first would not pay.
        present = cleaned.notna().to_numpy()
        codes = np.where(present, np.cumsum(present) - 1, -1)
        uniques = cleaned[present].array
    else:
        codes, uniques = pd.factorize(cleaned)
    ns_u, bad_u = _parse_distinct(pd.Series(uniques, dtype="str"), info)
    safe = np.maximum(codes, 0)
    ns = np.where(codes >= 0, ns_u[safe] if len(ns_u) else _INAT, _INAT)
    bad = (codes >= 0) & (bad_u[safe] if len(bad_u) else False)
    return _finish_times(ns.astype(np.int64), s.index), pd.Series(bad, index=s.index), info


def _parse_distinct(u: pd.Series, info: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Parse present, distinct time strings; returns (int64 ns with iNaT, bad mask)."""
    n = len(u)
    out = np.full(n, _INAT, dtype=np.int64)
    todo = np.ones(n, bool)
    out_of_range = np.zeros(n, bool)
    if not n:
        return out, todo

    numeric = u.str.fullmatch(r"[+-]?\d+(\.\d+)?").fillna(False).to_numpy(dtype=bool)
    if numeric.any():
        digits = u[numeric]
        nums = _numbers(digits)
        if digits.str.len().eq(8).all() and ((nums >= 19000101) & (nums <= 21001231)).all():
            ns, oor = _to_ns(pd.to_datetime(digits, format="%Y%m%d", errors="coerce", utc=True))
            out[numeric] = ns
            info["formats"].append("%Y%m%d")
        else:
            ns, ok, units = _epoch_ns(digits)
            out[np.flatnonzero(numeric)[ok]] = ns[ok]
            info["formats"].extend(units)
        todo &= ~numeric

    def fill(mask: np.ndarray, parsed: pd.Series, label: str) -> None:
        ns, oor = _to_ns(parsed)
        idx = np.flatnonzero(mask)
        got = ~pd.isna(parsed).to_numpy()
        out[idx[got & ~oor]] = ns[got & ~oor]
        out_of_range[idx[oor]] = True
        todo[idx[got]] = False
        if got.any():
            info["formats"].append(label)

    if todo.any():
        for fmt in _rank_formats(u[todo], info):
            fill(todo, _parse_format(u[todo], fmt), fmt.lower() if fmt == "ISO8601" else fmt)
            if not todo.any():
                break
    if todo.any():
        rest = u[todo]
        plausible = (rest.str.contains(r"\d", regex=True) & (rest.str.len() >= 6)).to_numpy(dtype=bool)
        if plausible.any() and plausible.sum() <= 200_000:
            mask = todo.copy()
            mask[np.flatnonzero(todo)[~plausible]] = False
            with warnings.catch_warnings():  # dateutil warns per odd value
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(u[mask], format="mixed", errors="coerce", utc=True,
                                        dayfirst=not info.get("month_first", False))
            fill(mask, parsed, "mixed")
    info["out_of_range"] += int(out_of_range.sum())
    return out, out == _INAT


def _parse_format(values: pd.Series, fmt: str) -> pd.Series:
    return pd.to_datetime(values, format=fmt, errors="coerce", utc=True)


def _rank_formats(sub: pd.Series, info: dict[str, Any]) -> list[str]:
    """Formats (ISO 8601 first) that fit a sample of ``sub``, best first; notes day/month ambiguity."""
    sample = sub.iloc[:: max(1, len(sub) // 2000)]
    chars = set("".join(sample.dropna().astype(str)))
    has_letters = any(c.isalpha() for c in chars)
    candidates = ("ISO8601",) + _DATE_FORMATS
    scores = {}
    for fmt in candidates:
        # Skip formats whose separators (or month names) never occur: each try costs a parse.
        literals = set(re.sub(r"%[a-zA-Z]", "", fmt)) if fmt != "ISO8601" else {"-"}
        if not literals <= chars or (("%b" in fmt or "%B" in fmt) and not has_letters):
            scores[fmt] = 0
            continue
        scores[fmt] = int(_parse_format(sample, fmt).notna().sum())
    for fmt in _DATE_FORMATS:
        if fmt.startswith("%d/%m"):
            other = "%m/%d" + fmt[5:]
            if scores.get(fmt, 0) and scores.get(fmt) == scores.get(other):
                info["ambiguous_day_month"] = True
            elif scores.get(other, 0) > scores.get(fmt, 0):
                info["month_first"] = True
    # Stable sort keeps ISO first and day-first ahead of month-first on ties.
    return [f for f in sorted(candidates, key=lambda f: -scores[f]) if scores[f] > 0]


def _finish_times(ns: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(ns.view("datetime64[ns]"), index=index)


def normalise_tags(s: pd.Series) -> pd.Series:
    """``'a | b'`` -> ``'a|b'``; a column with no ``|`` but ``,`` or ``;`` uses those as separators."""
    s = clean_strings(s)
    present = s.dropna()
    if len(present) and not present.str.contains("|", regex=False).any():
        s = s.str.replace(r"[,;]", "|", regex=True)
    s = s.str.replace(r"\s*\|\s*", "|", regex=True).str.strip("|")
    return s.mask(s == "")


_CODE_LIKE = ("id", "code", "zip", "postal", "postcode", "phone", "sku", "ean", "upc", "isbn", "key")


def infer_attribute(s: pd.Series, name: str) -> tuple[pd.Series, int]:
    """Type an item/user attribute: numbers -> float64, dates -> datetime64[ns], else str.

    Returns the column and how many present values the chosen type could not hold.
    Code-like columns (``*_id``, zip, phone...) and numbers with leading zeros stay strings.
    """
    s = clean_strings(s)
    present = s.dropna()
    lname = name.lower()
    if not len(present) or lname.split("_")[-1] in _CODE_LIKE or lname.endswith(("zipcode", "postcode")):
        return s, 0
    num, bad = parse_numbers(s)
    n_bad = int(bad.sum())
    if n_bad <= 0.05 * len(present) and not present.str.match(r"0\d").any():
        return num, n_bad
    date_name = any(k in lname for k in ("date", "time", "day")) or lname.endswith(("_at", "_on"))
    if date_name or present.str.match(r"\d{4}-\d{2}-\d{2}").mean() > 0.95:
        times, bad, _ = parse_datetimes(s)
        if int(bad.sum()) <= 0.05 * len(present):
            return times, int(bad.sum())
    return s, 0


# ----------------------------------------------------------------------------- table checks


class _Table:
    """Book-keeping for one table: raw rows, row numbers, drops and issues."""

    def __init__(self, table: str, raw: pd.DataFrame, file: str, mapping: ColumnMapping,
                 issues: list[Issue]) -> None:
        self.table, self.raw, self.file, self.mapping, self.issues = table, raw, file, mapping, issues
        first = int(raw.attrs.get("first_data_row", 2)) if hasattr(raw, "attrs") else 2
        self.rows = np.arange(len(raw), dtype=np.int64) + first
        self.reason = np.full(len(raw), None, dtype=object)
        self.dropped_mask = np.zeros(len(raw), bool)
        self.drop_counts: dict[str, int] = {}
        self.codes: dict[str, tuple[np.ndarray, pd.Index]] = {}  # id role -> (codes, uniques)

    def drop(self, mask: Any, reason: str) -> int:
        """Drop the rows of ``mask`` not dropped yet (the first reason wins)."""
        mask = np.asarray(mask, dtype=bool) & ~self.dropped_mask
        count = int(mask.sum())
        if count:
            self.reason[mask] = reason
            self.dropped_mask |= mask
            self.drop_counts[reason] = self.drop_counts.get(reason, 0) + count
        return count

    def examples(self, mask: Any) -> pd.DataFrame:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))[:_EXAMPLES]
        return _with_row(self.raw.iloc[idx] if len(idx) else self.raw.iloc[:0], self.rows[idx])

    def issue(self, severity: str, code: str, message: str, *, role: str | None = None,
              column: str | None = None, mask: Any = None, count: int | None = None) -> Issue:
        if column is None and role is not None:
            column = self.mapping.source_of(role) or role
        if count is None:
            count = int(np.asarray(mask, dtype=bool).sum()) if mask is not None else 0
        examples = self.examples(mask) if mask is not None else pd.DataFrame()
        item = Issue(severity, code, message, self.table, self.file, column, count, examples)
        self.issues.append(item)
        return item

    def dropped_frame(self) -> pd.DataFrame:
        idx = np.flatnonzero(self.dropped_mask)
        frame = self.raw.iloc[idx] if len(idx) else self.raw.iloc[:0]
        return _with_row(frame, self.rows[idx], self.reason[idx].astype(str))


def _with_row(frame: pd.DataFrame, rows: np.ndarray, reasons: np.ndarray | None = None) -> pd.DataFrame:
    extra = {"row": rows} if reasons is None else {"row": rows, "reason": reasons}
    frame = frame.rename(columns={c: f"{c}_source" for c in frame.columns if c in extra})
    out = frame.reset_index(drop=True)
    out.insert(0, "row", np.asarray(rows, dtype=np.int64))
    if reasons is not None:
        out["reason"] = pd.array(list(reasons), dtype="str")
    return out


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "0%"


def _as_strings(df: pd.DataFrame, file: str) -> pd.DataFrame:
    """Frames passed in directly (not read from a file) are converted like Parquet columns."""
    import pyarrow as pa

    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        dupes = sorted({c for c in names if names.count(c) > 1})
        raise DataValidationError(f"duplicated column names: {', '.join(map(repr, dupes))}",
                                  file=file, code="duplicate_columns")
    if all(isinstance(d, pd.StringDtype) for d in df.dtypes):
        out = df.set_axis(names, axis=1).reset_index(drop=True)
        out.attrs = dict(df.attrs)
        return out
    try:
        out = arrow_to_strings(pa.Table.from_pandas(df.set_axis(names, axis=1), preserve_index=False))
    except (pa.ArrowException, TypeError, ValueError):
        out = pd.DataFrame({c: pd.array([None if _isna(v) else str(v) for v in df.iloc[:, i]], dtype="str")
                            for i, c in enumerate(names)})
    out.index = pd.RangeIndex(len(out))
    out.attrs = dict(df.attrs)
    return out


def _convert_role(t: _Table, canon: pd.DataFrame, role: str, kind: str, max_share: float) -> None:
    """Convert one mapped non-id role column in place, dropping or warning as the contract says."""
    col = canon[role]
    if kind == "event":
        canon[role] = clean_column(col, lower=True)
    elif kind in ("category", "text", "str"):
        canon[role] = clean_column(col)
    elif kind == "tags":
        canon[role] = normalise_tags(col)
    elif kind == "float":
        num, bad = parse_numbers(col)
        base = ~t.dropped_mask & col.notna().to_numpy()
        n_bad = int((bad.to_numpy() & ~t.dropped_mask).sum())
        n_base = int(base.sum())
        if n_bad and n_bad > max_share * max(n_base, 1):
            t.issue("error", "non_numeric_value",
                    f"not numbers: {n_bad:,} of {_n(n_base, 'value', 'values')} ({_pct(n_bad, n_base)}); "
                    f"map another column to {role} or none", role=role, mask=bad.to_numpy() & ~t.dropped_mask,
                    count=n_bad)
        elif n_bad:
            t.drop(bad.to_numpy(), f"non-numeric {role}")
            t.issue("warning", "non_numeric_value", f"dropped {_n(n_bad, 'row', 'rows')} with a non-numeric {role}",
                    role=role, mask=bad.to_numpy(), count=n_bad)
        canon[role] = num
    elif kind == "datetime":
        times, bad, info = parse_datetimes(col)
        n_bad = int(bad.sum())
        if n_bad:
            t.issue("warning", "unparseable_dates",
                    f"could not read {_n(n_bad, 'value', 'values')} as dates; left empty", role=role,
                    mask=bad.to_numpy(), count=n_bad)
        canon[role] = times


def _check_ids(t: _Table, canon: pd.DataFrame, roles: tuple[str, ...]) -> None:
    empty = t.raw.isna().all(axis=1).to_numpy() if len(t.raw.columns) else np.ones(len(t.raw), bool)
    n_empty = t.drop(empty, "empty row")
    if n_empty:
        t.issue("warning", "empty_rows", f"dropped {_n(n_empty, 'empty row', 'empty rows')}", mask=empty, count=n_empty)
    missing = {}
    if len(roles) > 1 and len(canon) >= 200_000:
        # Arrow's hashing releases the GIL: the two id columns hash on two cores.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(roles)) as pool:
            results = list(pool.map(lambda r: factorize_clean(canon[r], ids=True), roles))
    else:
        results = [factorize_clean(canon[r], ids=True) for r in roles]
    for role, (ids, codes, uniques, fixed) in zip(roles, results):
        canon[role] = ids
        t.codes[role] = (codes, uniques)
        missing[role] = codes < 0
        if fixed:
            t.issue("warning", "float_ids",
                    f"every {role} ended in '.0' (a float-typed export); the '.0' was removed", role=role)
    if len(roles) == 2:
        a, b = roles
        t.drop(missing[a] & missing[b], f"missing {a} and {b}")
    for role in roles:
        t.drop(missing[role], f"missing {role}")
    any_missing = np.zeros(len(canon), bool)
    for role in roles:
        any_missing |= missing[role]
    any_missing &= ~empty
    if any_missing.any():
        names = " or ".join(roles)
        t.issue("warning", "missing_ids", f"dropped {_n(int(any_missing.sum()), 'row', 'rows')} without {names}",
                column=", ".join(t.mapping.source_of(r) or r for r in roles), mask=any_missing)


def _check_timestamp(t: _Table, canon: pd.DataFrame, max_share: float, now: pd.Timestamp) -> dict:
    col = canon["timestamp"]
    times, bad, info = parse_datetimes(col)
    alive = ~t.dropped_mask
    bad = bad.to_numpy()
    missing = times.isna().to_numpy() & ~bad & alive
    bad = bad & alive
    n_alive = int(alive.sum())
    n_bad, n_missing = int(bad.sum()), int(missing.sum())
    if n_bad + n_missing > max_share * max(n_alive, 1):
        what = []
        if n_bad:
            what.append(f"{n_bad:,} unreadable")
        if n_missing:
            what.append(f"{n_missing:,} empty")
        sample = ", ".join(repr(v) for v in col[bad].head(3)) if n_bad else ""
        t.issue("error", "bad_timestamps",
                f"times {' and '.join(what)} ({_pct(n_bad + n_missing, n_alive)} of rows, more than the "
                f"{max_share:.0%} allowed)" + (f"; e.g. {sample}" if sample else "")
                + ". Fix the column, or map no timestamp", role="timestamp",
                mask=bad | missing, count=n_bad + n_missing)
    else:
        if n_bad:
            t.drop(bad, "unparseable timestamp")
            t.issue("warning", "bad_timestamps", f"dropped {_n(n_bad, 'row', 'rows')} whose time could not be read",
                    role="timestamp", mask=bad, count=n_bad)
        if n_missing:
            t.drop(missing, "missing timestamp")
            t.issue("warning", "missing_timestamps", f"dropped {_n(n_missing, 'row', 'rows')} without a time",
                    role="timestamp", mask=missing, count=n_missing)
    if info.get("ambiguous_day_month"):
        t.issue("warning", "ambiguous_dates",
                "dates such as 01/02 could be day/month or month/day; read as day/month. "
                "Use ISO dates (2024-02-01) to be sure", role="timestamp")
    canon["timestamp"] = times
    alive = ~t.dropped_mask
    ts = times.to_numpy()
    odd = alive & ((ts > np.datetime64(now + pd.Timedelta(days=1))) | (ts < np.datetime64(_EARLIEST_PLAUSIBLE)))
    if odd.any():
        t.issue("warning", "suspicious_timestamps",
                f"{_n(int(odd.sum()), 'time', 'times')} in the future or before 1990 (kept); check the time "
                "zone or unit", role="timestamp", mask=odd)
    return {"timestamp_formats": sorted(set(info["formats"]))}


def _check_values(t: _Table, values: pd.Series) -> None:
    alive = ~t.dropped_mask
    v = values.to_numpy(dtype="float64")
    finite = alive & np.isfinite(v)
    if finite.sum() < 4:
        return
    q1, med, q3 = np.percentile(v[finite], [25, 50, 75])
    scale = (q3 - q1) or max(abs(med), 1.0)
    lo, hi = q1 - _EXTREME_IQR * scale, q3 + _EXTREME_IQR * scale
    extreme = finite & ((v < lo) | (v > hi))
    if extreme.any():
        t.issue("warning", "extreme_values",
                f"{_n(int(extreme.sum()), 'value', 'values')} far outside the usual range "
                f"[{lo:.4g}, {hi:.4g}] (kept); check for outliers or test orders", role="value", mask=extreme)
    negative = finite & (v < 0)
    if negative.any() and negative.sum() < 0.5 * finite.sum():
        t.issue("warning", "negative_values",
                f"{_n(int(negative.sum()), 'negative value', 'negative values')} (returns or cancellations?) (kept)",
                role="value", mask=negative)


def _check_interactions(t: _Table, canon: pd.DataFrame, max_share: float, now: pd.Timestamp) -> dict:
    stats: dict[str, Any] = {}
    _check_ids(t, canon, ("user_id", "item_id"))
    if (~t.dropped_mask).sum() == 0:
        t.issue("error", "no_valid_rows", "no row has both a user_id and an item_id",
                column=", ".join(t.mapping.source_of(r) or r for r in ("user_id", "item_id")))
        return stats
    if "timestamp" in canon:
        stats.update(_check_timestamp(t, canon, max_share, now))
    else:
        t.issue("warning", "no_timestamp",
                "no timestamp column: time splits, sequences, decay and replay are unavailable")
    if "session_id" in canon:
        canon["session_id"] = _clean_sessions(canon["session_id"])
    for role in ("event_type", "value"):
        if role in canon:
            _convert_role(t, canon, role, get_role("interactions", role).kind, max_share)
    if "value" in canon and not any(i.code == "non_numeric_value" and i.severity == "error" for i in t.issues
                                    if i.table == "interactions"):
        _check_values(t, canon["value"])
    for col in canon.columns:
        if col not in role_names("interactions"):
            canon[col] = clean_column(canon[col])
    return stats


def _check_entities(t: _Table, canon: pd.DataFrame) -> dict:
    key = id_column(t.table)
    _check_ids(t, canon, (key,))
    alive = ~t.dropped_mask
    dup = canon[key].duplicated(keep="first").to_numpy() & alive
    if dup.any():
        t.drop(dup, f"duplicate {key}")
        t.issue("warning", f"duplicate_{key}s",
                f"dropped {_n(int(dup.sum()), 'row', 'rows')} repeating an earlier {key} (the first is kept)",
                role=key, mask=dup)
    roles = {r.name: r for r in roles_for(t.table)}
    for col in canon.columns:
        if col == key:
            continue
        if col in roles:
            _convert_role(t, canon, col, roles[col].kind, 1.0)
        else:
            converted, n_lost = infer_attribute(canon[col], col)
            canon[col] = converted
            if n_lost:
                source = next((s for s, o in t.mapping.output_names(t.raw.columns).items() if o == col), col)
                t.issue("warning", "unparseable_values",
                        f"{_n(n_lost, 'value', 'values')} did not fit the column's type "
                        f"({converted.dtype}); left empty",
                        column=source, count=n_lost)
    return {}


def _interaction_stats(t: _Table, df: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Counts, duplicates, unknown ids and single-event users/items on the kept rows."""
    stats: dict[str, Any] = {}
    kept = np.flatnonzero(~t.dropped_mask)
    (ucode, users), (icode, items) = (_kept_codes(*t.codes[r], kept) for r in ("user_id", "item_id"))
    stats["n_users"], stats["n_items"] = len(users), len(items)
    stats["density"] = len(df) / max(len(users) * len(items), 1)

    # Cheap candidate key first (a hash of user, item and time: equal rows always collide);
    # the exact whole-row check runs only on the candidates.
    key = (ucode.astype(np.uint64) * np.uint64(max(len(items), 1)) + icode.astype(np.uint64))
    if "timestamp" in df:
        with np.errstate(over="ignore"):
            key = key * np.uint64(0x9E3779B97F4A7C15) ^ df["timestamp"].to_numpy().view(np.uint64)
    ordered = np.sort(key)
    dup = np.zeros(len(df), bool)
    if len(key) > 1 and (ordered[1:] == ordered[:-1]).any():
        cand = pd.Series(key).duplicated(keep=False).to_numpy()
        dup[np.flatnonzero(cand)] = df[cand].duplicated(keep="first").to_numpy()
    if dup.any():
        t.issue("warning", "duplicate_rows",
                f"{_n(int(dup.sum()), 'row', 'rows')} exactly copying an earlier row (kept; remove them if "
                "they are export glitches)", mask=_spread(dup, kept, len(t.raw)), count=int(dup.sum()))
    stats["n_duplicate_rows"] = int(dup.sum())

    for other, key_col, codes, uniques in (("items", "item_id", icode, items), ("users", "user_id", ucode, users)):
        if other in tables:
            unknown_u = ~pd.Index(uniques).isin(tables[other][key_col])
            unknown = unknown_u[codes]
            if unknown.any():
                t.issue("warning", f"unknown_{other}",
                        f"the {other} table lacks {_n(int(unknown_u.sum()), key_col, key_col + 's')} used by "
                        f"{_n(int(unknown.sum()), 'interaction', 'interactions')} (kept)", role=key_col,
                        mask=_spread(unknown, kept, len(t.raw)), count=int(unknown.sum()))
    for what, codes, n in (("users", ucode, len(users)), ("items", icode, len(items))):
        counts = np.bincount(codes, minlength=n)
        single = counts == 1
        if single.any():
            role = "user_id" if what == "users" else "item_id"
            t.issue("warning", f"single_event_{what}",
                    f"{_n(int(single.sum()), what[:-1], what)} ({_pct(int(single.sum()), n)}) with a single event: "
                    f"little signal, and they cannot be both trained and tested", role=role,
                    mask=_spread(single[codes], kept, len(t.raw)), count=int(single.sum()))
    if "timestamp" in df and len(df):
        stats["first_timestamp"] = df["timestamp"].min()
        stats["last_timestamp"] = df["timestamp"].max()
    if "event_type" in df:
        stats["event_types"] = {str(k): int(v) for k, v in df["event_type"].value_counts().head(50).items()}
    return stats


def _kept_codes(codes: np.ndarray, uniques: pd.Index, kept: np.ndarray) -> tuple[np.ndarray, pd.Index]:
    """Codes of the kept rows, renumbered over the values still present."""
    codes = codes[kept] if len(kept) != len(codes) else codes
    present = np.bincount(codes, minlength=len(uniques)) > 0
    if present.all():
        return codes, uniques
    remap = np.cumsum(present) - 1
    return remap[codes], uniques[present]


def _spread(mask_kept: np.ndarray, kept: np.ndarray, n: int) -> np.ndarray:
    """Lift a mask over kept rows back to raw row positions."""
    out = np.zeros(n, bool)
    out[kept[np.asarray(mask_kept, dtype=bool)]] = True
    return out


def _header_hint(columns: list[str]) -> str:
    if columns and all(c.replace(".", "").replace("-", "").strip().isdigit() for c in columns):
        return " The first row looks like data: the file seems to have no header row."
    if len(columns) == 1 and any(d in columns[0] for d in ":;|\t,"):
        return " Only one column was found: is the delimiter unusual?"
    return ""


def _validate_one(table: str, raw: pd.DataFrame, mapping: Any, file: str, issues: list[Issue],
                  max_share: float, now: pd.Timestamp) -> tuple[_Table | None, pd.DataFrame | None, dict]:
    raw = _as_strings(raw, file)
    mapping = resolve_mapping(table, raw.columns, mapping)
    t = _Table(table, raw, file, mapping, issues)
    missing = [r.name for r in roles_for(table) if r.required and not mapping.source_of(r.name)]
    if missing:
        cols = [str(c) for c in raw.columns]
        t.issue("error", "missing_required_column",
                f"no column for {' and '.join(missing)}; found columns: {', '.join(cols) or '(none)'}. "
                "Map them with --map or in the mapping step." + _header_hint(cols),
                column=None, mask=np.arange(len(raw)) < _EXAMPLES, count=0)
        return t, None, {}
    canon = apply_mapping(raw, mapping, file=file)
    if len(canon) == 0:
        t.issue("error", "empty_file", "the table has no rows")
        return t, None, {}
    if table == "interactions":
        stats = _check_interactions(t, canon, max_share, now)
    else:
        stats = _check_entities(t, canon)
    return t, canon, stats


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
    checked: dict[str, _Table] = {}
    for table in [t for t in TABLES if t in raw] + [t for t in raw if t not in TABLES]:
        file = files.get(table) or str(getattr(raw[table], "attrs", {}).get("file", "") or table)
        files[table] = file
        if table not in TABLES:
            issues.append(Issue("error", "unknown_table",
                                f"unknown table {table!r}; expected {', '.join(TABLES)}", table, file))
            continue
        try:
            t, canon, stats = _validate_one(table, raw[table], mappings.get(table), file, issues,
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
            report.stats[table]["rows"] = len(kept)
            report.stats[table]["columns"] = list(kept.columns)
    if "interactions" in report.tables:
        try:
            report.stats["interactions"].update(
                _interaction_stats(checked["interactions"], report.tables["interactions"], report.tables))
        except Exception as err:
            issues.append(Issue("error", "internal_error",
                                f"unexpected problem while profiling: {type(err).__name__}: {err}",
                                "interactions", files.get("interactions", "")))
    for table in list(report.tables):
        if any(i.severity == "error" and i.table == table for i in issues):
            del report.tables[table]
    return report


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
