"""On-disk workspace: imported datasets, training runs, background jobs, segments and exports.

Engine choice
-------------
* **Catalog: SQLite** (``catalog.sqlite``, WAL mode, ``busy_timeout``). Two browser sessions
  (threads of one Streamlit process) and background worker processes write at the same time;
  SQLite gives cross-process transactions from the standard library, with no server to run.
  WAL lets readers proceed while one writer commits. Every write is one short
  ``BEGIN IMMEDIATE`` transaction (taking the write lock up front, so read-modify-write such as
  :meth:`Workspace.update_record` cannot lose updates), and every operation opens its own
  connection, so nothing is shared between threads. The catalog is the single source of truth
  for what exists: a dataset or record becomes visible only when its row commits.
* **Tables: Parquet** (pyarrow): columnar, typed (pandas ``str``, ``datetime64[ns]``, ``float64``,
  ``int64`` round-trip exactly), readable column by column. Written for import speed (see
  :func:`_write_parquet`): uncompressed, dictionary pages only for repetitive strings, min/max
  statistics only where DuckDB can prune with them.
* **SQL: DuckDB** over those Parquet files (views per table, in-memory connection per query, no
  file access outside the dataset), so profiles and filters need not load whole tables.
* **Metadata and records: JSON** (in the catalog). **Arrays: ``.npz``** read with
  ``allow_pickle=False``. **Weights: torch state dicts** read with ``weights_only=True``.
  Nothing is pickled, so opening a workspace never executes code from it.
* **Progress events: JSON Lines** appended under an advisory lock (cheap for frequent events,
  tail-readable while a job runs).

Crash safety: files and dataset directories are written to ``.tmp-*`` siblings, fsynced, then
renamed; catalog rows are written after the files they point to, and removed before them.
Temporaries and unreferenced dataset versions older than ``stale_after_s`` are removed when a
process first opens the workspace. A dataset lives in ``datasets/<name>@<version>/``: an
overwrite writes a new version, swaps the catalog row, then removes the old directory.

Layout::

    <root>/catalog.sqlite
    <root>/datasets/<name>@<version>/{<table>.parquet, dataset.json}
    <root>/{runs,jobs,segments,exports}/<record_id>/{<artifacts>, events.jsonl}

The catalog needs a local filesystem (SQLite WAL does not work over network shares).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq  # with the module, not on the first import of a dataset

from recsys.storage.atomic import (
    TMP_PREFIX,
    atomic_dir,
    atomic_file,
    atomic_write_bytes,
    newest_mtime,
    remove_stale,
    remove_tree_or_file,
)

try:  # advisory locks for event appends; POSIX only (O_APPEND alone elsewhere)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DatasetInfo",
    "NotFoundError",
    "RECORD_KINDS",
    "Workspace",
    "WorkspaceError",
    "dataset_fingerprint",
    "default_root",
    "validate_name",
]

RECORD_KINDS = ("runs", "jobs", "segments", "exports")
ENV_VAR = "RECSYS_WORKSPACE"
STALE_AFTER_S = 30 * 60
BUSY_TIMEOUT_S = 60.0
SCHEMA_VERSION = 1
EVENTS_FILE = "events.jsonl"
MANIFEST_FILE = "dataset.json"
_VERSION_SEP = "@"  # not allowed in names, so "<name>@<version>" splits unambiguously
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS datasets (
        name TEXT PRIMARY KEY, dir TEXT NOT NULL, fingerprint TEXT NOT NULL,
        created_at TEXT NOT NULL, row_counts TEXT NOT NULL, columns TEXT NOT NULL,
        dtypes TEXT NOT NULL, metadata TEXT NOT NULL, engine TEXT NOT NULL DEFAULT 'local')""",
    """CREATE TABLE IF NOT EXISTS records (
        kind TEXT NOT NULL, id TEXT NOT NULL, created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id))""",
    "CREATE INDEX IF NOT EXISTS records_by_time ON records (kind, created_at)",
)

_cleaned_roots: set[Path] = set()
_cleaned_lock = threading.Lock()


class WorkspaceError(Exception):
    """Any workspace failure, with a message fit to show an analyst."""


class NotFoundError(WorkspaceError, KeyError):
    """A dataset, table, record or artifact that does not exist (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class DatasetInfo:
    """Catalog entry of a stored dataset; ``path`` is its (current version) directory."""

    name: str
    fingerprint: str
    created_at: str
    row_counts: dict[str, int]
    columns: dict[str, list[str]]
    metadata: dict
    path: Path
    engine: str = "local"
    dtypes: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def tables(self) -> list[str]:
        return list(self.columns)

    @property
    def short_fingerprint(self) -> str:
        return self.fingerprint[:16]

    def to_dict(self) -> dict:
        """JSON-safe form (for manifests and the CLI)."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def default_root() -> Path:
    """``$RECSYS_WORKSPACE`` if set, else ``./workspace``, as an absolute path."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser().resolve() if env else (Path.cwd() / "workspace").resolve()


def validate_name(value: object, what: str = "name") -> str:
    """Return ``value`` as a safe path component (spaces become ``_``) or raise WorkspaceError.

    Allowed: 1-64 letters, digits, ``-``, ``_``, ``.``; no leading dot, no ``..``.
    """
    if not isinstance(value, str):
        raise WorkspaceError(f"{what} must be a string, got {type(value).__name__}")
    name = value.strip().replace(" ", "_")
    if not name:
        raise WorkspaceError(f"{what} must not be empty")
    if ".." in name or not _NAME_RE.fullmatch(name):
        raise WorkspaceError(
            f"invalid {what} {value!r}: use 1-64 letters, digits, '-', '_' or '.' "
            "(no leading dot, no '..', no slashes)"
        )
    return name


def dataset_fingerprint(tables: Mapping[str, pd.DataFrame]) -> str:
    """SHA-256 hex digest of the content of ``tables`` (names, columns, dtypes, values).

    Independent of the DataFrame index (unless it is named; then it is stored as columns), of the
    order of tables and of memory layout (Arrow chunks and slices, NaN payloads, bytes under
    nulls); sensitive to row and column order. Columns are hashed from their numpy or Arrow
    buffers, in threads for big tables: a few hundredths of a second per million rows.
    """
    from concurrent.futures import ThreadPoolExecutor

    digest = hashlib.sha256()
    for table in sorted(tables):
        df = _normalize_frame(tables[table], table)
        header = [table, list(df.columns), [str(t) for t in df.dtypes], len(df)]
        digest.update(json.dumps(header).encode())
        columns = [df[c] for c in df.columns]
        if len(df) >= _FINGERPRINT_THREAD_ROWS and len(columns) > 1:
            # hashlib and the numpy/Arrow kernels release the GIL, so columns hash on all cores.
            with ThreadPoolExecutor(min(len(columns), os.cpu_count() or 1)) as pool:
                parts = list(pool.map(_column_digest, columns))
        else:
            parts = [_column_digest(c) for c in columns]
        for part in parts:
            digest.update(part)
    return digest.hexdigest()


_FINGERPRINT_THREAD_ROWS = 100_000


def _column_digest(s: pd.Series) -> bytes:
    """Digest of one column's values (its dtype is in the table header)."""
    import pyarrow as pa

    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biufcmM":
        return hashlib.sha256(_canonical_nan(np.ascontiguousarray(s.to_numpy()))).digest()
    try:
        return _arrow_digest(_arrow_chunks(s))
    except (pa.ArrowException, TypeError, ValueError):  # mixed objects, lists, dicts: their text
        return _arrow_digest(_arrow_chunks(s.astype(str)))


def _canonical_nan(values: np.ndarray) -> np.ndarray:
    """One bit pattern for every NaN (payloads and signs differ between producers)."""
    if values.dtype.kind not in "fc":
        return values
    nan = np.isnan(values)
    return np.where(nan, np.array(np.nan, values.dtype), values) if nan.any() else values


def _arrow_chunks(s: pd.Series) -> list:
    import pyarrow as pa

    arr = pa.array(s.array) if hasattr(s.array, "__arrow_array__") else pa.array(s.to_numpy(), from_pandas=True)
    chunks = (arr.chunks or [pa.array([], arr.type)]) if isinstance(arr, pa.ChunkedArray) else [arr]
    if pa.types.is_dictionary(chunks[0].type):  # categoricals: the values, not the category order
        chunks = [c.dictionary_decode() for c in chunks]
    return chunks


def _arrow_digest(chunks: list) -> bytes:
    """Hash Arrow chunks by value; validity, lengths and bytes each stream through their own hasher."""
    import pyarrow as pa

    typ = chunks[0].type
    if pa.types.is_string_view(typ) or pa.types.is_binary_view(typ):
        chunks = [c.cast(pa.large_binary()) for c in chunks]
    kind = _layout(chunks[0].type)
    nulls = sum(c.null_count for c in chunks)
    hashers = [hashlib.sha256() for _ in range(3)]  # validity, lengths, values
    for chunk in chunks:
        valid = chunk.is_valid().to_numpy(zero_copy_only=False) if chunk.null_count else None
        if nulls:
            hashers[0].update(valid if valid is not None else np.ones(len(chunk), bool))
        for i, part in _value_parts(chunk, kind, valid):
            hashers[i].update(part)
    if kind == "variable":  # string and large_string hold the same values
        typ = "binary" if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) else "string"
    label = f"{kind}:{typ}:{nulls}"
    return hashlib.sha256(label.encode() + b"".join(h.digest() for h in hashers)).digest()


def _layout(typ: Any) -> str:
    import pyarrow as pa

    if pa.types.is_null(typ):
        return "null"
    if any(f(typ) for f in (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
                            pa.types.is_large_binary)):
        return "variable"
    if pa.types.is_boolean(typ):
        return "boolean"
    if pa.types.is_primitive(typ) and typ.bit_width % 8 == 0:
        return "fixed"
    raise TypeError(f"no value layout for {typ}")


def _value_parts(chunk: Any, kind: str, valid: np.ndarray | None) -> list[tuple[int, Any]]:
    """(hasher index, buffer) pairs of one chunk; slots under nulls are zeroed or rebuilt."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(chunk)
    if kind == "null" or n == 0:
        return []
    if kind == "boolean":
        return [(2, chunk.fill_null(False).to_numpy(zero_copy_only=False))]
    if kind == "fixed":
        width = chunk.type.bit_width // 8
        values = np.frombuffer(chunk.buffers()[1], np.uint8, n * width, chunk.offset * width)
        if pa.types.is_floating(chunk.type):
            values = _canonical_nan(values.view(f"f{width}")).view(np.uint8)
        if valid is not None:
            values = values.reshape(n, width).copy()
            values[~valid] = 0
        return [(2, np.ascontiguousarray(values))]
    offsets = _offsets(chunk)
    if valid is not None and np.diff(offsets)[~valid].any():  # bytes hidden under nulls: rebuild
        chunk = pc.fill_null(chunk, "" if "string" in str(chunk.type) else b"")
        offsets = _offsets(chunk)
    parts: list[tuple[int, Any]] = [(1, np.diff(offsets).astype(np.int64, copy=False))]
    if offsets[-1] > offsets[0]:
        parts.append((2, memoryview(chunk.buffers()[2])[offsets[0]:offsets[-1]]))
    return parts


def _offsets(chunk: Any) -> np.ndarray:
    import pyarrow as pa

    wide = pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type)
    size = 8 if wide else 4
    return np.frombuffer(chunk.buffers()[1], np.int64 if wide else np.int32, len(chunk) + 1, chunk.offset * size)


# Uncompressed: on a 1M-row event log snappy took 0.24 s of CPU against 0.15 s, for 18 MB
# instead of 30 MB; Parquet's own encodings already keep repetitive columns small.
PARQUET_COMPRESSION = "none"
# A string column gets a dictionary page when its first rows repeat values this much (event
# types, devices, countries); ids rarely do, and hashing them costs more than the space saves.
_DICTIONARY_SAMPLE = 10_000
_DICTIONARY_MAX_DISTINCT = 0.1


def _write_parquet(df: pd.DataFrame, sink: Any, what: str,
                   encodings: Mapping[str, tuple[np.ndarray, Any]] | None = None) -> None:
    """Write one table as Parquet, with settings chosen for import speed.

    On a 1M-row event log, dictionary pages and min/max statistics on id strings cost
    more than the rest of the write together; numeric columns get no dictionary.
    ``encodings`` (column -> ``(codes, distinct values)``, as the validation computed them)
    lets repetitive string columns go to their dictionary pages without hashing them again.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arrow = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise WorkspaceError(
            f"{what}: a column has values Parquet cannot store (mixed types?); "
            f"convert it first, e.g. .astype(str): {exc}"
        ) from exc
    arrow, encoded = _use_encodings(arrow, encodings or {})
    dictionary, statistics = [], []
    for name, column in zip(arrow.column_names, arrow.columns):
        typ = column.type
        if pa.types.is_dictionary(typ):
            dictionary.append(name)
        elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
            head = column.slice(0, _DICTIONARY_SAMPLE)
            if len(head) and pc.count_distinct(head).as_py() <= _DICTIONARY_MAX_DISTINCT * len(head):
                dictionary.append(name)
        else:
            statistics.append(name)
    # Arrow would store the dictionary type in the file's schema and read the column back as a
    # pandas category; without that schema it comes back as the plain strings it holds.
    pq.write_table(arrow, sink, compression=PARQUET_COMPRESSION, use_dictionary=dictionary or False,
                   write_statistics=statistics or False, store_schema=not encoded)


def _use_encodings(arrow: Any, encodings: Mapping[str, tuple[np.ndarray, Any]]) -> tuple[Any, bool]:
    """Swap repetitive string columns for dictionary arrays built from their known codes.

    Only where the file round-trips without Arrow's stored schema (strings, numbers, booleans,
    naive times) and the codes fit the column; ids (many distinct values) stay plain strings,
    which Parquet writes faster than it re-indexes a big dictionary.
    """
    import pyarrow as pa

    plain = all(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                or pa.types.is_floating(t) or pa.types.is_boolean(t)
                or (pa.types.is_timestamp(t) and t.tz is None) for t in arrow.schema.types)
    if not plain or not encodings:
        return arrow, False
    encoded = False
    for name, (codes, uniques) in encodings.items():
        if name not in arrow.column_names:
            continue
        i = arrow.column_names.index(name)
        column = arrow.column(i)
        if (len(codes) != len(arrow) or len(uniques) > _DICTIONARY_MAX_DISTINCT * len(arrow)
                or not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type)):
            continue
        codes = np.asarray(codes, np.int32)
        indices = pa.array(codes, mask=codes < 0) if codes.min(initial=0) < 0 else pa.array(codes)
        values = pa.array(pd.Series(uniques, dtype="str").array).cast(pa.string())
        arrow = arrow.set_column(i, name, pa.DictionaryArray.from_arrays(indices, values))
        encoded = True
    return arrow, encoded


def _normalize_frame(df: object, table: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise WorkspaceError(f"table {table!r} must be a pandas DataFrame, got {type(df).__name__}")
    if any(n is not None for n in df.index.names):
        try:
            df = df.reset_index()
        except ValueError as exc:
            raise WorkspaceError(f"table {table!r}: cannot store its named index: {exc}") from exc
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        raise WorkspaceError(f"table {table!r}: column names must be strings, got {bad[:5]}")
    if df.columns.has_duplicates:
        dupes = sorted(set(df.columns[df.columns.duplicated()]))
        raise WorkspaceError(f"table {table!r}: duplicate column names {dupes[:5]}")
    return df


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def _dumps(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise WorkspaceError(f"{what} is not JSON-safe: {exc}") from exc


class Workspace:
    """A folder holding datasets and records, safe for concurrent threads and processes.

    Parameters
    ----------
    root : path, optional
        Workspace folder; defaults to :func:`default_root` (``$RECSYS_WORKSPACE`` or
        ``./workspace``). Created on first use.
    stale_after_s : float
        Age after which temporaries and unreferenced dataset versions left by killed writers
        are removed (once per process and root, when first opened). Long enough that a live
        writer's files are never taken.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, stale_after_s: float = STALE_AFTER_S):
        self.root: Path = Path(root).expanduser().resolve() if root is not None else default_root()
        self.stale_after_s = stale_after_s
        self._catalog = self.root / "catalog.sqlite"
        for sub in ("datasets", *RECORD_KINDS):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._init_catalog()
        with _cleaned_lock:
            first_open = self.root not in _cleaned_roots
            _cleaned_roots.add(self.root)
        if first_open:
            self.cleanup()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- catalog plumbing -------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self._catalog, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            con.execute("PRAGMA synchronous=FULL")  # writes are rare; keep commits durable
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock first, so no lost updates."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _init_catalog(self) -> None:
        try:
            with self._connect() as con:
                if con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                    return
                con.execute("PRAGMA journal_mode=WAL")  # persistent: set once per catalog
            with self._transaction() as con:
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise WorkspaceError(
                        f"workspace {self.root} was written by a newer version (schema {version})"
                    )
                for statement in _SCHEMA:
                    con.execute(statement)
                con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise WorkspaceError(f"cannot open workspace catalog {self._catalog}: {exc}") from exc

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise WorkspaceError(f"path {path} escapes the workspace {self.root}")
        return path

    def cleanup(self, older_than_s: float | None = None) -> int:
        """Remove temporaries and unreferenced dataset versions older than the given age.

        Returns the number of entries removed. Runs automatically on first open.
        """
        age = self.stale_after_s if older_than_s is None else older_than_s
        datasets_dir = self.root / "datasets"
        removed = remove_stale(datasets_dir, age)
        for kind in RECORD_KINDS:
            with contextlib.suppress(OSError):
                for entry in os.scandir(self.root / kind):
                    if entry.is_dir(follow_symlinks=False):
                        removed += remove_stale(Path(entry.path), age)
        with self._connect() as con:
            live = {row[0] for row in con.execute("SELECT dir FROM datasets")}
        cutoff = time.time() - age
        for entry in list(os.scandir(datasets_dir)):
            path = Path(entry.path)
            rel = f"datasets/{entry.name}"
            if entry.name.startswith(TMP_PREFIX) or rel in live:
                continue
            # an overwrite's old version, or a new one whose catalog commit never happened
            if newest_mtime(path) <= cutoff:
                remove_tree_or_file(path)
                removed += 1
        return removed

    # -- datasets ---------------------------------------------------------------------------

    def save_dataset(
        self,
        name: str,
        tables: Mapping[str, pd.DataFrame],
        *,
        metadata: dict | None = None,
        overwrite: bool = False,
        engine: str = "local",
        encodings: Mapping[str, Mapping[str, tuple[np.ndarray, Any]]] | None = None,
    ) -> DatasetInfo:
        """Store ``tables`` as dataset ``name``; visible to others only once complete.

        ``engine`` says where the dataset's heavy work runs: ``"local"`` or ``"spark"``
        (``recsys.spark``); it is stored in the catalog and returned in ``DatasetInfo.engine``.
        ``encodings`` (table -> column -> ``(codes, distinct values)``, as
        ``ValidationReport.encodings`` holds them) only speeds up the write; the values must
        be those of the column (``distinct[codes]``, -1 for missing).
        """
        name = validate_name(name, "dataset name")
        if engine not in ("local", "spark"):
            raise WorkspaceError(f"unknown engine {engine!r}; choose local or spark")
        if not isinstance(tables, Mapping) or not tables:
            raise WorkspaceError(f"dataset {name!r} needs at least one table")
        frames: dict[str, pd.DataFrame] = {}
        for table, df in tables.items():
            key = validate_name(table, "table name")
            if key in frames:
                raise WorkspaceError(f"dataset {name!r}: duplicate table name {key!r}")
            frames[key] = _normalize_frame(df, key)
        meta = dict(metadata or {})
        meta_json = _dumps(meta, "dataset metadata")
        if not overwrite and self.has_dataset(name):
            raise WorkspaceError(f"dataset {name!r} already exists (use overwrite=True)")

        created_at = _now()
        version = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + secrets.token_hex(3)
        rel = f"datasets/{name}{_VERSION_SEP}{version}"
        final = self._inside(self.root / rel)
        # Hashing and Parquet encoding both release the GIL: the fingerprint runs beside the writes.
        with ThreadPoolExecutor(1) as pool, atomic_dir(final) as tmp:
            fingerprint_job = pool.submit(dataset_fingerprint, frames)
            for table, df in frames.items():
                with open(tmp / f"{table}.parquet", "wb") as fh:
                    _write_parquet(df, fh, f"dataset {name!r}, table {table!r}",
                                   (encodings or {}).get(table))
                    fh.flush()
                    os.fsync(fh.fileno())
            fingerprint = fingerprint_job.result()
            info = DatasetInfo(
                name=name,
                fingerprint=fingerprint,
                created_at=created_at,
                row_counts={t: int(len(df)) for t, df in frames.items()},
                columns={t: list(df.columns) for t, df in frames.items()},
                metadata=json.loads(meta_json),
                path=final,
                engine=engine,
                dtypes={t: {c: str(d) for c, d in df.dtypes.items()} for t, df in frames.items()},
            )
            manifest = _dumps(info.to_dict() | {"path": rel}, "dataset manifest")
            atomic_write_bytes(tmp / MANIFEST_FILE, manifest.encode())

        old_dir: str | None = None
        try:
            with self._transaction() as con:
                row = con.execute("SELECT dir FROM datasets WHERE name=?", (name,)).fetchone()
                if row and not overwrite:
                    raise WorkspaceError(f"dataset {name!r} already exists (use overwrite=True)")
                old_dir = row[0] if row else None
                con.execute(
                    "INSERT OR REPLACE INTO datasets (name, dir, fingerprint, created_at, "
                    "row_counts, columns, dtypes, metadata, engine) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        name, rel, fingerprint, created_at, json.dumps(info.row_counts),
                        json.dumps(info.columns), json.dumps(info.dtypes), meta_json, info.engine,
                    ),
                )
        except BaseException:
            remove_tree_or_file(final)
            raise
        if old_dir and old_dir != rel:
            remove_tree_or_file(self.root / old_dir)
        return info

    def _info_from_row(self, row: tuple) -> DatasetInfo:
        name, rel, fingerprint, created_at, row_counts, columns, dtypes, metadata, engine = row
        return DatasetInfo(
            name=name,
            fingerprint=fingerprint,
            created_at=created_at,
            row_counts=json.loads(row_counts),
            columns=json.loads(columns),
            metadata=json.loads(metadata),
            path=self.root / rel,
            engine=engine,
            dtypes=json.loads(dtypes),
        )

    _DATASET_COLUMNS = "name, dir, fingerprint, created_at, row_counts, columns, dtypes, metadata, engine"

    def list_datasets(self) -> list[DatasetInfo]:
        """All datasets, newest first."""
        with self._connect() as con:
            rows = con.execute(
                f"SELECT {self._DATASET_COLUMNS} FROM datasets ORDER BY created_at DESC, name"
            ).fetchall()
        return [self._info_from_row(r) for r in rows]

    def dataset_info(self, name: str) -> DatasetInfo:
        """Catalog entry of ``name``; NotFoundError if there is none."""
        name = validate_name(name, "dataset name")
        with self._connect() as con:
            row = con.execute(
                f"SELECT {self._DATASET_COLUMNS} FROM datasets WHERE name=?", (name,)
            ).fetchone()
            if row is None:
                known = [r[0] for r in con.execute("SELECT name FROM datasets ORDER BY name LIMIT 10")]
        if row is None:
            hint = f"; available: {', '.join(known)}" if known else "; the workspace has no datasets"
            raise NotFoundError(f"dataset {name!r} not found{hint}")
        return self._info_from_row(row)

    def has_dataset(self, name: str) -> bool:
        name = validate_name(name, "dataset name")
        with self._connect() as con:
            return con.execute("SELECT 1 FROM datasets WHERE name=?", (name,)).fetchone() is not None

    def _read_with_retry(self, name: str, read: Callable[[DatasetInfo], Any]) -> Any:
        # A concurrent overwrite may remove the version we just looked up: look it up again.
        attempts = 5
        for attempt in range(attempts):
            info = self.dataset_info(name)
            try:
                return read(info)
            except OSError as exc:
                if attempt == attempts - 1 or info.path.exists():
                    raise WorkspaceError(f"dataset {name!r} cannot be read: {exc}") from exc
            time.sleep(0.01 * (attempt + 1))

    def load_tables(self, name: str) -> dict[str, pd.DataFrame]:
        """All tables of ``name`` as DataFrames (dtypes as saved)."""

        def read(info: DatasetInfo) -> dict[str, pd.DataFrame]:
            return {t: pd.read_parquet(info.path / f"{t}.parquet") for t in info.columns}

        return self._read_with_retry(name, read)

    def load_table(self, name: str, table: str, columns: list[str] | None = None) -> pd.DataFrame | None:
        """One table (optionally some columns); None if the dataset has no such table."""
        table = validate_name(table, "table name")

        def read(info: DatasetInfo) -> pd.DataFrame | None:
            if table not in info.columns:
                return None
            if columns is not None:
                missing = [c for c in columns if c not in info.columns[table]]
                if missing:
                    raise WorkspaceError(f"dataset {name!r}, table {table!r} has no columns {missing}")
            return pd.read_parquet(info.path / f"{table}.parquet", columns=columns)

        return self._read_with_retry(name, read)

    def table_path(self, name: str, table: str) -> Path | None:
        """Parquet file of ``table`` in ``name`` (valid until the dataset is overwritten)."""
        table = validate_name(table, "table name")
        info = self.dataset_info(name)
        return info.path / f"{table}.parquet" if table in info.columns else None

    def query(self, name: str, sql: str) -> pd.DataFrame:
        """Run DuckDB ``sql`` with each table of ``name`` visible as a view of the same name."""
        import duckdb

        def run(info: DatasetInfo) -> pd.DataFrame:
            con = duckdb.connect(":memory:")
            try:
                for table in info.columns:
                    path = str(info.path / f"{table}.parquet").replace("'", "''")
                    con.execute(f"CREATE VIEW \"{table}\" AS SELECT * FROM read_parquet('{path}')")
                # queries may read this dataset only: no other files, no COPY ... TO
                folder = str(info.path).replace("'", "''")
                con.execute(f"SET allowed_directories=['{folder}/']")
                con.execute("SET enable_external_access=false")
                return con.execute(sql).df()
            except duckdb.IOException as exc:
                raise FileNotFoundError(str(exc)) from exc
            except duckdb.Error as exc:
                raise WorkspaceError(f"query on dataset {name!r} failed: {exc}") from exc
            finally:
                con.close()

        return self._read_with_retry(name, run)

    def delete_dataset(self, name: str, *, missing_ok: bool = False) -> None:
        """Remove ``name``: catalog row first (so it vanishes at once), then its files."""
        name = validate_name(name, "dataset name")
        with self._transaction() as con:
            row = con.execute("SELECT dir FROM datasets WHERE name=?", (name,)).fetchone()
            if row:
                con.execute("DELETE FROM datasets WHERE name=?", (name,))
        if row is None:
            if missing_ok:
                return
            raise NotFoundError(f"dataset {name!r} not found")
        remove_tree_or_file(self._inside(self.root / row[0]))

    # -- records ----------------------------------------------------------------------------

    @staticmethod
    def _kind(kind: str) -> str:
        if kind not in RECORD_KINDS:
            raise WorkspaceError(f"unknown record kind {kind!r}; expected one of {', '.join(RECORD_KINDS)}")
        return kind

    def _record_dir(self, kind: str, record_id: str) -> Path:
        return self._inside(self.root / self._kind(kind) / validate_name(record_id, "record id"))

    def new_id(self, kind: str, prefix: str | None = None) -> str:
        """A fresh, time-sortable id such as ``20261127-042501-ab12cd`` (``prefix-`` first if given)."""
        self._kind(kind)
        head = f"{validate_name(prefix, 'id prefix')}-" if prefix else ""
        with self._connect() as con:
            for _ in range(100):
                stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
                record_id = validate_name(f"{head}{stamp}-{secrets.token_hex(3)}", "record id")
                taken = con.execute(
                    "SELECT 1 FROM records WHERE kind=? AND id=?", (kind, record_id)
                ).fetchone()
                if not taken and not (self.root / kind / record_id).exists():
                    return record_id
        raise WorkspaceError(f"could not find a free {kind} id")  # pragma: no cover

    @staticmethod
    def _decorate(record_id: str, data: str, created_at: str, updated_at: str) -> dict:
        record = json.loads(data)
        record["id"] = record_id
        record.setdefault("created_at", created_at)
        record.setdefault("updated_at", updated_at)
        return record

    @staticmethod
    def _check_record(record: object, record_id: str) -> dict:
        if not isinstance(record, Mapping):
            raise WorkspaceError(f"record {record_id!r} must be a dict, got {type(record).__name__}")
        if record.get("id", record_id) != record_id:
            raise WorkspaceError(f"record id {record_id!r} does not match its 'id' field {record['id']!r}")
        return dict(record)

    def put_record(self, kind: str, record_id: str, record: dict) -> None:
        """Insert or replace a JSON-safe record (numpy scalars, dates, paths are converted).

        Returned records carry ``id`` and, unless they set them, ``created_at``/``updated_at``.
        """
        self._kind(kind)
        record_id = validate_name(record_id, "record id")
        data = _dumps(self._check_record(record, record_id), f"record {record_id!r}")
        now = _now()
        with self._transaction() as con:
            con.execute(
                "INSERT INTO records (kind, id, created_at, updated_at, data) VALUES (?,?,?,?,?) "
                "ON CONFLICT (kind, id) DO UPDATE SET data=excluded.data, updated_at=excluded.updated_at",
                (kind, record_id, now, now, data),
            )

    def get_record(self, kind: str, record_id: str) -> dict:
        """The record, or NotFoundError."""
        self._kind(kind)
        record_id = validate_name(record_id, "record id")
        with self._connect() as con:
            row = con.execute(
                "SELECT data, created_at, updated_at FROM records WHERE kind=? AND id=?", (kind, record_id)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"{kind} record {record_id!r} not found")
        return self._decorate(record_id, *row)

    def has_record(self, kind: str, record_id: str) -> bool:
        self._kind(kind)
        record_id = validate_name(record_id, "record id")
        with self._connect() as con:
            return (
                con.execute("SELECT 1 FROM records WHERE kind=? AND id=?", (kind, record_id)).fetchone()
                is not None
            )

    def list_records(self, kind: str, /, **equals: Any) -> list[dict]:
        """Records of ``kind``, newest first, whose top-level keys equal ``equals``."""
        self._kind(kind)
        with self._connect() as con:
            rows = con.execute(
                "SELECT id, data, created_at, updated_at FROM records WHERE kind=? "
                "ORDER BY created_at DESC, rowid DESC",
                (kind,),
            ).fetchall()
        missing = object()
        records = (self._decorate(*row) for row in rows)
        return [r for r in records if all(r.get(k, missing) == v for k, v in equals.items())]

    def update_record(self, kind: str, record_id: str, /, **changes: Any) -> dict:
        """Set top-level keys in one transaction and return the new record.

        A callable value is applied to the current value (``None`` if absent), so
        ``update_record("jobs", i, n=lambda v: (v or 0) + 1)`` is an atomic increment even with
        concurrent updaters in other processes.
        """
        self._kind(kind)
        record_id = validate_name(record_id, "record id")
        now = _now()
        with self._transaction() as con:
            row = con.execute(
                "SELECT data, created_at FROM records WHERE kind=? AND id=?", (kind, record_id)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"{kind} record {record_id!r} not found")
            record = json.loads(row[0])
            for key, value in changes.items():
                record[key] = value(record.get(key)) if callable(value) else value
            data = _dumps(self._check_record(record, record_id), f"record {record_id!r}")
            con.execute(
                "UPDATE records SET data=?, updated_at=? WHERE kind=? AND id=?", (data, now, kind, record_id)
            )
        return self._decorate(record_id, data, row[1], now)

    def delete_record(self, kind: str, record_id: str, *, missing_ok: bool = False) -> None:
        """Remove the record (catalog row first), then its artifact folder."""
        path = self._record_dir(kind, record_id)
        with self._transaction() as con:
            deleted = con.execute("DELETE FROM records WHERE kind=? AND id=?", (kind, path.name)).rowcount
        if not deleted and not missing_ok:
            raise NotFoundError(f"{kind} record {path.name!r} not found")
        remove_tree_or_file(path)

    # -- artifacts --------------------------------------------------------------------------

    def artifact_dir(self, kind: str, record_id: str) -> Path:
        """Folder for the files of a record (created if needed)."""
        path = self._record_dir(kind, record_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifact_path(self, kind: str, record_id: str, filename: str) -> Path:
        """Where ``filename`` of a record lives (whether or not it exists)."""
        return self._inside(self._record_dir(kind, record_id) / validate_name(filename, "file name"))

    def _existing(self, kind: str, record_id: str, filename: str) -> Path:
        path = self.artifact_path(kind, record_id, filename)
        if not path.is_file():
            raise NotFoundError(f"{kind} record {path.parent.name!r} has no file {path.name!r}")
        return path

    def write_artifact(self, kind: str, record_id: str, filename: str, data: bytes) -> Path:
        """Write bytes atomically; readers see the old file or the new one, never a part."""
        self.artifact_dir(kind, record_id)
        return atomic_write_bytes(self.artifact_path(kind, record_id, filename), bytes(data))

    def read_artifact(self, kind: str, record_id: str, filename: str) -> bytes:
        return self._existing(kind, record_id, filename).read_bytes()

    def save_arrays(self, kind: str, record_id: str, filename: str, arrays: Mapping[str, np.ndarray]) -> Path:
        """Save numeric/string arrays as ``.npz`` atomically (object arrays are refused: pickle)."""
        checked = {}
        for key, value in arrays.items():
            arr = np.asarray(value)
            if arr.dtype.hasobject:
                raise WorkspaceError(f"array {key!r} has dtype object, which would need pickle")
            checked[str(key)] = arr
        self.artifact_dir(kind, record_id)
        path = self.artifact_path(kind, record_id, filename)
        with atomic_file(path) as fh:
            np.savez(fh, **checked)
        return path

    def load_arrays(self, kind: str, record_id: str, filename: str) -> dict[str, np.ndarray]:
        path = self._existing(kind, record_id, filename)
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {key: npz[key] for key in npz.files}
        except ValueError as exc:  # object arrays (pickle) or not an npz file
            raise WorkspaceError(f"cannot load arrays {path.name!r} of {kind} {path.parent.name!r}: {exc}") from exc

    def save_state_dict(self, kind: str, record_id: str, filename: str, state_dict: Mapping) -> Path:
        """``torch.save`` to a temporary file, then rename into place."""
        import torch

        if not isinstance(state_dict, Mapping):
            raise WorkspaceError(f"state dict must be a mapping, got {type(state_dict).__name__}")
        self.artifact_dir(kind, record_id)
        path = self.artifact_path(kind, record_id, filename)
        with atomic_file(path) as fh:
            torch.save(dict(state_dict), fh)
        return path

    def load_state_dict(self, kind: str, record_id: str, filename: str, map_location: Any = "cpu") -> dict:
        """``torch.load(..., weights_only=True)``: tensors and plain containers only, no code."""
        import torch

        path = self._existing(kind, record_id, filename)
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # UnpicklingError for anything beyond weights
            raise WorkspaceError(f"cannot load weights {path.name!r} of {kind} {path.parent.name!r}: {exc}") from exc

    # -- events -----------------------------------------------------------------------------

    def append_event(self, kind: str, record_id: str, event: dict) -> None:
        """Append ``event`` as one JSON line to the record's ``events.jsonl``.

        Safe with concurrent appenders (lock + O_APPEND, one write per line). Not fsynced:
        events are progress, and the page cache survives a killed process.
        """
        if not isinstance(event, Mapping):
            raise WorkspaceError(f"event must be a dict, got {type(event).__name__}")
        line = (_dumps(dict(event), "event") + "\n").encode()  # json escapes newlines in strings
        path = self.artifact_dir(kind, record_id) / EVENTS_FILE
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.lseek(fd, size - 1, os.SEEK_SET) >= 0 and os.read(fd, 1) != b"\n":
                line = b"\n" + line  # seal a torn line left by a killed writer
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)  # releases the lock

    def read_events(self, kind: str, record_id: str, since: int = 0) -> list[dict]:
        """Events from index ``since`` on (pass the count already seen to get only new ones).

        An unterminated last line (being written, or torn by a killed writer) is skipped.
        """
        path = self._record_dir(kind, record_id) / EVENTS_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return []
        events = []
        for line in raw.split(b"\n")[:-1]:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events[max(since, 0):]
