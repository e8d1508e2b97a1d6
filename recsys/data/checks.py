"""Table checks: map one raw table, clean its roles, drop bad rows and record issues."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.errors import DataValidationError
from recsys.data.mapping import ColumnMapping, apply_mapping, resolve_mapping
from recsys.data.parsing import (
    clean_sessions,
    encode_column,
    factorize_clean,
    infer_attribute,
    normalise_tags,
    parse_datetimes,
    parse_numbers,
)
from recsys.data.readers import arrow_to_strings
from recsys.data.report import Issue, is_missing, plural
from recsys.data.schema import get_role, id_column, role_names, roles_for

_EXAMPLES = 5
_EARLIEST_PLAUSIBLE = pd.Timestamp("1990-01-01")
_EXTREME_IQR = 10.0


class TableCheck:
    """Book-keeping for one table: raw rows, row numbers, drops and issues."""

    def __init__(self, table: str, raw: pd.DataFrame, file: str, mapping: ColumnMapping,
                 issues: list[Issue]) -> None:
        self.table, self.raw, self.file, self.mapping, self.issues = table, raw, file, mapping, issues
        self.first_row = int(raw.attrs.get("first_data_row", 2)) if hasattr(raw, "attrs") else 2
        self.reason: np.ndarray | None = None  # drop reason per row, allocated on the first drop
        self.dropped_mask = np.zeros(len(raw), bool)
        self.drop_counts: dict[str, int] = {}
        # column -> (codes over raw rows, -1 for missing; distinct values): ids always, categories
        # when they went through distinct values. Statistics and the workspace writer reuse them.
        self.codes: dict[str, tuple[np.ndarray, pd.Index]] = {}

    def drop(self, mask: Any, reason: str) -> int:
        """Drop the rows of ``mask`` not dropped yet (the first reason wins)."""
        mask = np.asarray(mask, dtype=bool) & ~self.dropped_mask
        count = int(mask.sum())
        if count:
            if self.reason is None:
                self.reason = np.full(len(self.raw), None, dtype=object)
            self.reason[mask] = reason
            self.dropped_mask |= mask
            self.drop_counts[reason] = self.drop_counts.get(reason, 0) + count
        return count

    def examples(self, mask: Any) -> pd.DataFrame:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))[:_EXAMPLES]
        # One-row slices: a take on chunked Arrow strings would first concatenate every chunk.
        rows = pd.concat([self.raw.iloc[i:i + 1] for i in idx]) if len(idx) else self.raw.iloc[:0]
        return _with_row(rows, idx + self.first_row)

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
        if not len(idx):
            return _with_row(self.raw.iloc[:0], idx, np.array([], dtype=str))
        return _with_row(self.raw.iloc[idx], idx + self.first_row, self.reason[idx].astype(str))


def _with_row(frame: pd.DataFrame, rows: np.ndarray, reasons: np.ndarray | None = None) -> pd.DataFrame:
    extra = {"row": rows} if reasons is None else {"row": rows, "reason": reasons}
    frame = frame.rename(columns={c: f"{c}_source" for c in frame.columns if c in extra})
    out = frame.reset_index(drop=True)
    out.insert(0, "row", np.asarray(rows, dtype=np.int64))
    if reasons is not None:
        out["reason"] = pd.array(list(reasons), dtype="str")
    return out


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
        out = pd.DataFrame({c: pd.array([None if is_missing(v) else str(v) for v in df.iloc[:, i]], dtype="str")
                            for i, c in enumerate(names)})
    out.index = pd.RangeIndex(len(out))
    out.attrs = dict(df.attrs)
    return out


def _parse_role(col: pd.Series, kind: str) -> Any:
    """The pure, expensive part of converting a role column (safe to run in a thread)."""
    if kind == "event":
        return encode_column(col, lower=True)
    if kind in ("category", "text", "str"):
        return encode_column(col)
    if kind == "tags":
        return normalise_tags(col), None
    if kind == "float":
        return parse_numbers(col)
    if kind == "datetime":
        return parse_datetimes(col)
    raise ValueError(f"no conversion for column kind {kind!r}")


def _convert_role(t: TableCheck, canon: pd.DataFrame, role: str, kind: str, max_share: float,
                  parsed: Any = None) -> None:
    """Convert one mapped non-id role column in place, dropping or warning as the contract says.

    ``parsed`` is :func:`_parse_role`'s result when it already ran (in a thread).
    """
    col = canon[role]
    if parsed is None:
        parsed = _parse_role(col, kind)
    if kind in ("event", "category", "text", "str", "tags"):
        canon[role], codes = parsed
        if codes is not None:
            t.codes[role] = codes
    elif kind == "float":
        num, bad = parsed
        base = ~t.dropped_mask & col.notna().to_numpy()
        n_bad = int((bad.to_numpy() & ~t.dropped_mask).sum())
        n_base = int(base.sum())
        if n_bad and n_bad > max_share * max(n_base, 1):
            t.issue("error", "non_numeric_value",
                    f"not numbers: {n_bad:,} of {plural(n_base, 'value', 'values')} ({_pct(n_bad, n_base)}); "
                    f"map another column to {role} or none", role=role, mask=bad.to_numpy() & ~t.dropped_mask,
                    count=n_bad)
        elif n_bad:
            t.drop(bad.to_numpy(), f"non-numeric {role}")
            t.issue("warning", "non_numeric_value", f"dropped {plural(n_bad, 'row', 'rows')} with a non-numeric {role}",
                    role=role, mask=bad.to_numpy(), count=n_bad)
        canon[role] = num
    elif kind == "datetime":
        times, bad, info = parsed
        n_bad = int(bad.sum())
        if n_bad:
            t.issue("warning", "unparseable_dates",
                    f"could not read {plural(n_bad, 'value', 'values')} as dates; left empty", role=role,
                    mask=bad.to_numpy(), count=n_bad)
        canon[role] = times


def _check_ids(t: TableCheck, canon: pd.DataFrame, roles: tuple[str, ...], prepared: dict | None = None) -> None:
    empty = _empty_rows(t.raw)
    n_empty = t.drop(empty, "empty row")
    if n_empty:
        t.issue("warning", "empty_rows", f"dropped {plural(n_empty, 'empty row', 'empty rows')}", mask=empty,
                count=n_empty)
    missing = {}
    for role in roles:
        # One hash pass per id column; its codes serve every later count (duplicates, unknown and
        # single-event ids) and the workspace writer.
        if prepared is not None and role in prepared:
            ids, codes, uniques, fixed = prepared[role]
        else:
            ids, codes, uniques, fixed = factorize_clean(canon[role], ids=True)
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
        t.issue("warning", "missing_ids", f"dropped {plural(int(any_missing.sum()), 'row', 'rows')} without {names}",
                column=", ".join(t.mapping.source_of(r) or r for r in roles), mask=any_missing)


def _empty_rows(raw: pd.DataFrame) -> np.ndarray:
    if not len(raw.columns):
        return np.ones(len(raw), bool)
    if not all(raw[c].hasnans for c in raw.columns):  # a column without gaps (an O(1) test on Arrow)
        return np.zeros(len(raw), bool)
    return raw.isna().all(axis=1).to_numpy()


def _check_timestamp(t: TableCheck, canon: pd.DataFrame, max_share: float, now: pd.Timestamp,
                     parsed: Any = None) -> dict:
    col = canon["timestamp"]
    times, bad, info = parsed if parsed is not None else parse_datetimes(col)
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
            t.issue("warning", "bad_timestamps", f"dropped {plural(n_bad, 'row', 'rows')} whose time could not be read",
                    role="timestamp", mask=bad, count=n_bad)
        if n_missing:
            t.drop(missing, "missing timestamp")
            t.issue("warning", "missing_timestamps", f"dropped {plural(n_missing, 'row', 'rows')} without a time",
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
                f"{plural(int(odd.sum()), 'time', 'times')} in the future or before 1990 (kept); check the time "
                "zone or unit", role="timestamp", mask=odd)
    return {"timestamp_formats": sorted(set(info["formats"]))}


def _check_values(t: TableCheck, values: pd.Series) -> None:
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
                f"{plural(int(extreme.sum()), 'value', 'values')} far outside the usual range "
                f"[{lo:.4g}, {hi:.4g}] (kept); check for outliers or test orders", role="value", mask=extreme)
    negative = finite & (v < 0)
    if negative.any() and negative.sum() < 0.5 * finite.sum():
        t.issue("warning", "negative_values",
                f"{plural(int(negative.sum()), 'negative value', 'negative values')} "
                "(returns or cancellations?) (kept)",
                role="value", mask=negative)


_THREADS_ENV = "RECSYS_INGEST_THREADS"
_THREAD_MIN_ROWS = 100_000


def _column_threads() -> int:
    """Threads for column jobs: ``$RECSYS_INGEST_THREADS``, else the cores (at most 4)."""
    try:
        return max(int(os.environ.get(_THREADS_ENV, "") or 0), 0) or min(os.cpu_count() or 1, 4)
    except ValueError:
        return min(os.cpu_count() or 1, 4)


def run_column_jobs(jobs: dict[str, Callable[[], Any]], rows: int) -> dict[str, Any]:
    """Run independent column jobs (key -> callable), in threads when the table is big.

    Arrow's hash, cast and string kernels release the GIL, so on a 1M-row event log the two
    id columns, the times and the categories clean side by side: 0.34 s -> 0.22 s of wall
    time on 2 idle cores. On some virtual machines the threads' page faults cost kernel time
    that eats the gain (``bench/ingest.py`` measures both); ``$RECSYS_INGEST_THREADS=1``
    turns them off. Jobs are submitted in the order given (put the biggest first).
    A job's exception is raised here, as it would be without threads.
    """
    threads = min(_column_threads(), len(jobs))
    if rows < _THREAD_MIN_ROWS or threads < 2:
        return {key: job() for key, job in jobs.items()}
    with ThreadPoolExecutor(threads, thread_name_prefix="recsys-columns") as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def _interaction_jobs(canon: pd.DataFrame) -> dict[str, Callable[[], Any]]:
    """The pure per-column work of an interactions table, biggest first."""
    jobs: dict[str, Callable[[], Any]] = {r: partial(factorize_clean, canon[r], ids=True)
                                          for r in ("user_id", "item_id")}
    if "timestamp" in canon:
        jobs["timestamp"] = partial(parse_datetimes, canon["timestamp"])
    for role in ("value", "event_type"):
        if role in canon:
            jobs[role] = partial(_parse_role, canon[role], get_role("interactions", role).kind)
    if "session_id" in canon:
        jobs["session_id"] = partial(clean_sessions, canon["session_id"])
    for col in canon.columns:
        if col not in role_names("interactions"):
            jobs[col] = partial(encode_column, canon[col])
    return jobs


def _check_interactions(t: TableCheck, canon: pd.DataFrame, max_share: float, now: pd.Timestamp) -> dict:
    stats: dict[str, Any] = {}
    prepared = run_column_jobs(_interaction_jobs(canon), len(canon))
    _check_ids(t, canon, ("user_id", "item_id"), prepared)
    if (~t.dropped_mask).sum() == 0:
        t.issue("error", "no_valid_rows", "no row has both a user_id and an item_id",
                column=", ".join(t.mapping.source_of(r) or r for r in ("user_id", "item_id")))
        return stats
    if "timestamp" in canon:
        stats.update(_check_timestamp(t, canon, max_share, now, prepared["timestamp"]))
    else:
        t.issue("warning", "no_timestamp",
                "no timestamp column: time splits, sequences, decay and replay are unavailable")
    if "session_id" in canon:
        canon["session_id"] = prepared["session_id"]
    for role in ("event_type", "value"):
        if role in canon:
            _convert_role(t, canon, role, get_role("interactions", role).kind, max_share, prepared[role])
    if "value" in canon and not any(i.code == "non_numeric_value" and i.severity == "error" for i in t.issues
                                    if i.table == "interactions"):
        _check_values(t, canon["value"])
    for col in canon.columns:
        if col not in role_names("interactions"):
            canon[col], codes = prepared[col]
            if codes is not None:
                t.codes[col] = codes
    return stats


def _check_entities(t: TableCheck, canon: pd.DataFrame) -> dict:
    key = id_column(t.table)
    _check_ids(t, canon, (key,))
    alive = ~t.dropped_mask
    dup = canon[key].duplicated(keep="first").to_numpy() & alive
    if dup.any():
        t.drop(dup, f"duplicate {key}")
        t.issue("warning", f"duplicate_{key}s",
                f"dropped {plural(int(dup.sum()), 'row', 'rows')} repeating an earlier {key} (the first is kept)",
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
                        f"{plural(n_lost, 'value', 'values')} did not fit the column's type "
                        f"({converted.dtype}); left empty",
                        column=source, count=n_lost)
    return {}


def interaction_stats(t: TableCheck, df: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Counts, duplicates, unknown ids and single-event users/items on the kept rows."""
    stats: dict[str, Any] = {}
    kept = np.flatnonzero(~t.dropped_mask)
    (ucode, users, ucounts), (icode, items, icounts) = (_kept_codes(*t.codes[r], kept) for r in ("user_id", "item_id"))
    stats["n_users"], stats["n_items"] = len(users), len(items)
    stats["density"] = len(df) / max(len(users) * len(items), 1)

    # Cheap candidate key first (a hash of user, item and time: equal rows always collide);
    # the exact whole-row check runs only on the candidates. Built in place: 1M rows, 8 MB each.
    key = ucode.astype(np.uint64)
    key *= np.uint64(max(len(items), 1))
    np.add(key, icode, out=key, casting="unsafe")
    if "timestamp" in df:
        with np.errstate(over="ignore"):
            key *= np.uint64(0x9E3779B97F4A7C15)
        key ^= df["timestamp"].to_numpy().view(np.uint64)
    ordered = np.sort(key)
    dup = np.zeros(len(df), bool)
    if len(key) > 1 and (ordered[1:] == ordered[:-1]).any():
        cand = pd.Series(key).duplicated(keep=False).to_numpy()
        dup[np.flatnonzero(cand)] = df[cand].duplicated(keep="first").to_numpy()
    if dup.any():
        t.issue("warning", "duplicate_rows",
                f"{plural(int(dup.sum()), 'row', 'rows')} exactly copying an earlier row (kept; remove them if "
                "they are export glitches)", mask=_spread(dup, kept, len(t.raw)), count=int(dup.sum()))
    stats["n_duplicate_rows"] = int(dup.sum())

    for other, key_col, codes, uniques in (("items", "item_id", icode, items), ("users", "user_id", ucode, users)):
        if other in tables:
            unknown_u = ~pd.Index(uniques).isin(tables[other][key_col])
            unknown = unknown_u[codes]
            if unknown.any():
                t.issue("warning", f"unknown_{other}",
                        f"the {other} table lacks {plural(int(unknown_u.sum()), key_col, key_col + 's')} used by "
                        f"{plural(int(unknown.sum()), 'interaction', 'interactions')} (kept)", role=key_col,
                        mask=_spread(unknown, kept, len(t.raw)), count=int(unknown.sum()))
    for what, codes, n, counts in (("users", ucode, len(users), ucounts), ("items", icode, len(items), icounts)):
        single = counts == 1
        if single.any():
            role = "user_id" if what == "users" else "item_id"
            t.issue("warning", f"single_event_{what}",
                    f"{plural(int(single.sum()), what[:-1], what)} ({_pct(int(single.sum()), n)}) with a single event: "
                    f"little signal, and they cannot be both trained and tested", role=role,
                    mask=_spread(single[codes], kept, len(t.raw)), count=int(single.sum()))
    if "timestamp" in df and len(df):
        stats["first_timestamp"] = df["timestamp"].min()
        stats["last_timestamp"] = df["timestamp"].max()
    if "event_type" in df:
        stats["event_types"] = _top_counts(t, "event_type", df, kept, 50)
    return stats


def _top_counts(t: TableCheck, column: str, df: pd.DataFrame, kept: np.ndarray, top: int) -> dict[str, int]:
    """The ``top`` most frequent values of a kept column, from its codes when it has them."""
    if column not in t.codes:
        return {str(k): int(v) for k, v in df[column].value_counts().head(top).items()}
    codes, uniques = t.codes[column]
    codes = codes[kept] if len(kept) != len(codes) else codes
    counts = np.bincount(codes + 1, minlength=len(uniques) + 1)[1:]  # bucket 0: missing (-1)
    order = np.argsort(-counts, kind="stable")[:top]
    return {str(uniques[i]): int(counts[i]) for i in order if counts[i] > 0}


def _kept_codes(codes: np.ndarray, uniques: pd.Index,
                kept: np.ndarray) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Codes of the kept rows, renumbered over the values still present, and each value's row count."""
    codes = codes[kept] if len(kept) != len(codes) else codes
    counts = np.bincount(codes, minlength=len(uniques))
    present = counts > 0
    if present.all():
        return codes, uniques, counts
    remap = np.cumsum(present) - 1
    return remap[codes], uniques[present], counts[present]


def _spread(mask_kept: np.ndarray, kept: np.ndarray, n: int) -> np.ndarray:
    """Lift a mask over kept rows back to raw row positions."""
    if len(kept) == n:  # nothing dropped: positions already match
        return np.asarray(mask_kept, dtype=bool)
    out = np.zeros(n, bool)
    out[kept[np.asarray(mask_kept, dtype=bool)]] = True
    return out


def _header_hint(columns: list[str]) -> str:
    if columns and all(c.replace(".", "").replace("-", "").strip().isdigit() for c in columns):
        return " The first row looks like data: the file seems to have no header row."
    if len(columns) == 1 and any(d in columns[0] for d in ":;|\t,"):
        return " Only one column was found: is the delimiter unusual?"
    return ""


def check_table(table: str, raw: pd.DataFrame, mapping: Any, file: str, issues: list[Issue],
                max_share: float, now: pd.Timestamp) -> tuple[TableCheck | None, pd.DataFrame | None, dict]:
    """Map and check one raw table; returns (book-keeping, canonical frame or None, stats)."""
    raw = _as_strings(raw, file)
    mapping = resolve_mapping(table, raw.columns, mapping)
    t = TableCheck(table, raw, file, mapping, issues)
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
