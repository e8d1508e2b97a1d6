"""Read an analyst's file into a DataFrame of strings, whatever its format.

Every column comes back as pandas ``str`` with missing values as NA, so ids such
as ``00123`` or ``17850`` are never mangled by type guessing; typed roles are
converted later by :mod:`recsys.data.validation`.  Anything wrong with the
file raises :class:`~recsys.data.errors.DataValidationError` naming it.

Formats are recognised by magic bytes first and by extension second: CSV/TSV/TXT
(delimiter sniffed among ``, ; TAB |``), gzip of any of them, Parquet, Excel
``.xlsx``/``.xlsm`` (first sheet, cached values only; macros never run) and a zip
holding a single file.  ``df.attrs`` records ``file``, ``format``, ``encoding``,
``delimiter`` and ``first_data_row`` (the spreadsheet row number of the first
data row; the header is row 1).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import mmap
import os
import pathlib
import re
import zipfile
import zlib
from collections import Counter
from typing import Any

import pandas as pd

from recsys.data.errors import DataValidationError

# Markers read as missing in text formats (the pandas defaults most exports use).
MISSING_MARKERS: tuple[str, ...] = (
    "", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "#N/A", "<NA>", "NaT",
)
_MISSING_SET = frozenset(MISSING_MARKERS)
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_SNIFF_BYTES = 1 << 16
# Control characters that never appear in text files (TAB, LF, VT, FF, CR and DOS EOF allowed).
_CONTROL_CHARS = re.compile("[\x00-\x08\x0e-\x19\x1b-\x1f]")
_MAX_NESTING = 3
# Hostile-input guards; the environment variables raise them for unusual, trusted files.
MAX_COLUMNS = 1_000
_INFLATED_MB_ENV, _MAX_ROWS_ENV = "RECSYS_MAX_INFLATED_MB", "RECSYS_MAX_ROWS"
_DEFAULT_INFLATED_MB, _DEFAULT_MAX_ROWS = 2048, 200_000_000

_BINARY_MAGIC = {
    b"\xd0\xcf\x11\xe0": "a legacy Excel .xls (or other OLE) file; save it as .xlsx or CSV",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"\xff\xd8\xff": "a JPEG image",
    b"BZh": "a bzip2 archive; decompress it or use gzip",
    b"\xfd7zXZ": "an xz archive; decompress it or use gzip",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"SQLite format 3": "an SQLite database",
    b"ARROW1": "an Arrow IPC file; save it as Parquet",
}


def _cp1252_fallback(err: UnicodeDecodeError) -> tuple[str, int]:
    # Bytes that are not UTF-8 are read as Windows-1252 (Latin-1 where undefined):
    # files saved from Excel on Windows often mix the two.
    chunk = err.object[err.start:err.end]
    return chunk.decode("cp1252", errors="ignore") or chunk.decode("latin-1"), err.end


codecs.register_error("recsys-cp1252", _cp1252_fallback)


def read_table(source: Any, *, name: str | None = None) -> pd.DataFrame:
    """Read a CSV/TSV/TXT, gzip, Parquet or Excel file into a DataFrame of strings.

    Parameters
    ----------
    source : str, pathlib.Path, bytes or binary file-like
        A path, the raw bytes, or an object with ``getvalue()`` or ``read()``
        (Streamlit's ``UploadedFile`` works as is).
    name : str, optional
        File name used for format hints and messages; defaults to the path's or
        the object's ``name``.

    Returns
    -------
    pandas.DataFrame
        One ``str`` column per source column, missing values as NA.

    Raises
    ------
    DataValidationError
        Empty file, header only, duplicated header names, binary junk, an
        unsupported or corrupt format; always naming the file.
    """
    data, name = _load_bytes(source, name)
    return _read_bytes(data, name, depth=0)


def _load_bytes(source: Any, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        label = name or path.name
        try:
            return _file_bytes(path), label
        except OSError as err:
            raise DataValidationError(
                f"cannot open the file: {err.strerror or err}", file=label, code="unreadable"
            ) from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "data"
    label = name or os.path.basename(str(getattr(source, "name", "") or "")) or "data"
    try:
        if hasattr(source, "getvalue"):
            data = source.getvalue()
        elif hasattr(source, "read"):
            data = source.read()
        else:
            raise DataValidationError(
                f"cannot read a {type(source).__name__}; give a path, bytes or a file object",
                file=label, code="unreadable",
            )
    except DataValidationError:
        raise
    except Exception as err:  # a broken upload object: report, don't crash the page
        raise DataValidationError(f"cannot read the upload: {err}", file=label, code="unreadable") from None
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data), label


_MAP_MIN_BYTES = 1 << 20


def _file_bytes(path: pathlib.Path) -> bytes | mmap.mmap:
    """The file's bytes; a big one memory-mapped, which reads it from the page cache in place.

    Copying 50 MB into a fresh ``bytes`` faults in 12,000 new pages, more kernel time than
    Arrow takes to parse them. Only the CSV parser reads a mapping (it copies what it keeps);
    other formats get the bytes copied (see :func:`_read_bytes`).
    """
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size >= _MAP_MIN_BYTES:
            try:
                return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # not mappable (a pipe, some network filesystems)
                pass
        return fh.read()


def _env_limit(var: str, default: int) -> int:
    try:
        return max(int(os.environ.get(var, "") or default), 1)
    except ValueError:
        return default


def max_inflated_bytes() -> int:
    """Largest decompressed size accepted from a gzip or zip file (``$RECSYS_MAX_INFLATED_MB``)."""
    return _env_limit(_INFLATED_MB_ENV, _DEFAULT_INFLATED_MB) << 20


def max_rows() -> int:
    """Largest row count a Parquet or Excel file may declare (``$RECSYS_MAX_ROWS``)."""
    return _env_limit(_MAX_ROWS_ENV, _DEFAULT_MAX_ROWS)


def _inflate(stream: Any, name: str) -> bytes:
    """Read a decompressing stream, refusing (not exhausting memory on) a decompression bomb."""
    limit, size, parts = max_inflated_bytes(), 0, []
    while size <= limit:  # in chunks: one read(limit) would reserve the whole limit up front
        part = stream.read(min(1 << 24, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise DataValidationError(
            f"decompresses to more than {limit >> 20:,} MB (a decompression bomb, or a file too "
            f"large for this tool; ${_INFLATED_MB_ENV} raises the limit)",
            file=name, code="too_large",
        )
    return b"".join(parts)


def _ext(name: str) -> str:
    return pathlib.PurePath(name.lower()).suffix


def _read_bytes(data: bytes | mmap.mmap, name: str, depth: int) -> pd.DataFrame:
    head = data[:_SNIFF_BYTES]
    if not head.strip() and not data[:].strip():  # full scan only when the head is blank
        raise DataValidationError("the file is empty", file=name, code="empty_file")
    if data[:4] == b"PAR1":
        return _read_parquet(data[:], name)  # copied from a mapping: Arrow may keep slices of its input
    if data[:2] == b"\x1f\x8b":
        return _read_gzip(data, name, depth)
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return _read_zip(data, name, depth)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise DataValidationError(f"this is {what}", file=name, code="unsupported_format")
    return _read_text(data, name)


def _read_gzip(data: bytes, name: str, depth: int) -> pd.DataFrame:
    if depth >= _MAX_NESTING:
        raise DataValidationError("too many nested archives", file=name, code="unsupported_format")
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            inner = _inflate(stream, name)
    except DataValidationError:
        raise
    except (OSError, EOFError, ValueError, zlib.error) as err:
        raise DataValidationError(f"corrupt gzip file: {err}", file=name, code="unreadable") from None
    stem = name[: -len(_ext(name))] if _ext(name) in (".gz", ".gzip") else name
    try:
        return _read_bytes(inner, stem, depth + 1)
    except DataValidationError as err:
        err.file = name
        raise


def _read_zip(data: bytes, name: str, depth: int) -> pd.DataFrame:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            names = {m.filename for m in members}
            if "xl/workbook.xml" in names:
                return _read_excel(data, name)
            if "[Content_Types].xml" in names:
                raise DataValidationError(
                    "this is an Office document but not an Excel workbook",
                    file=name, code="unsupported_format",
                )
            if len(members) != 1 or depth >= _MAX_NESTING:
                listed = ", ".join(sorted(names)[:5]) or "nothing"
                raise DataValidationError(
                    f"a zip archive must hold exactly one data file; it holds {listed}",
                    file=name, code="unsupported_format",
                )
            if members[0].file_size > max_inflated_bytes():
                raise DataValidationError(
                    f"its member {members[0].filename} claims {members[0].file_size:,} bytes, more than "
                    f"{max_inflated_bytes() >> 20:,} MB (${_INFLATED_MB_ENV} raises the limit)",
                    file=name, code="too_large",
                )
            with zf.open(members[0]) as stream:
                inner = _inflate(stream, name)
    except DataValidationError:
        raise
    except Exception as err:  # zipfile raises a zoo of types on corrupt input
        raise DataValidationError(f"corrupt zip file: {err}", file=name, code="unreadable") from None
    try:
        return _read_bytes(inner, members[0].filename, depth + 1)
    except DataValidationError as err:
        err.file = f"{name}/{members[0].filename}"
        raise


# ----------------------------------------------------------------------------- text


def _detect_text(data: bytes, name: str) -> tuple[str, bytes | None]:
    """Return (encoding, utf8_bytes_for_arrow_or_None) after rejecting binary files."""
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        return "utf-32", None
    if data[:3] == b"\xef\xbb\xbf":
        return "utf-8-sig", data[3:]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "utf-16", None
    head = data[:4096]
    if b"\x00" in head:
        # UTF-16 without a BOM: every other byte of ASCII text is NUL.
        half = max(len(head) // 2, 1)
        odd, even = head[1::2].count(0) / half, head[0::2].count(0) / half
        if odd > 0.4 and even < 0.05:
            return "utf-16-le", None
        if even > 0.4 and odd < 0.05:
            return "utf-16-be", None
        raise DataValidationError(
            "this looks like a binary file, not CSV, Parquet or Excel",
            file=name, code="unsupported_format",
        )
    return "utf-8", data


def _check_text(sample: str, name: str) -> None:
    if not sample.strip():
        raise DataValidationError("the file is empty", file=name, code="empty_file")
    controls = len(_CONTROL_CHARS.findall(sample))
    if "\x00" in sample or controls > max(2, len(sample) // 100):
        raise DataValidationError(
            "this looks like a binary file, not CSV, Parquet or Excel",
            file=name, code="unsupported_format",
        )


def _decode(data: bytes, encoding: str) -> tuple[str, str]:
    """Decode the whole file; UTF-8 falls back to cp1252 byte by byte."""
    if encoding == "utf-8":
        try:
            return str(data, "utf-8"), "utf-8"
        except UnicodeDecodeError:
            japanese = _as_shift_jis(data)
            if japanese is not None:
                return japanese, "shift_jis"
            return str(data, "utf-8", "recsys-cp1252"), "cp1252"
    try:
        return str(data, encoding), encoding
    except UnicodeDecodeError:
        return str(data, encoding, "replace"), f"{encoding} (with undecodable bytes)"


_KANA = re.compile("[\u3041-\u30ff]")


def _as_shift_jis(data: bytes) -> str | None:
    """The text if ``data`` is valid Shift-JIS (cp932) holding kana, else None.

    Latin-1/cp1252 text rarely decodes as cp932 at all, and never into kana (lead bytes 0x82/0x83
    are control characters there), so this does not steal Western files.
    """
    try:
        text = str(data, "cp932")
    except UnicodeDecodeError:
        return None
    return text if _KANA.search(text) else None


def _sample_text(data: bytes, encoding: str, size: int = _SNIFF_BYTES) -> str:
    chunk = data[:size]
    if encoding == "utf-8":
        return chunk.decode("utf-8", errors="recsys-cp1252")
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(chunk)


def _complete_lines(sample: str, truncated: bool) -> str:
    if truncated:
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        if cut > 0:
            return sample[: cut + 1]
    return sample


def _records(sample: str, delimiter: str, limit: int = 200) -> list[list[str]]:
    out = []
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, strict=False)
    try:
        for rec in reader:
            if rec:
                out.append(rec)
            if len(out) >= limit:
                break
    except csv.Error:
        pass
    return out


def sniff_delimiter(sample: str, name: str = "") -> str:
    """Pick the delimiter giving the most consistent field count (ties: more columns).

    A ``.tsv``/``.tab`` file prefers TAB when that splits the header at all.
    """
    best, best_score = ",", (-1.0, 0, 0)
    for rank, delim in enumerate(DELIMITERS):
        recs = _records(sample, delim)
        if not recs:
            continue
        counts = Counter(len(r) for r in recs)
        mode, freq = counts.most_common(1)[0]
        if mode < 2:
            continue
        hint = 1 if (delim == "\t" and _ext(name) in (".tsv", ".tab")) else 0
        score = (freq / len(recs), hint, min(mode, 1000) - rank / 10)
        if score > best_score:
            best, best_score = delim, score
    return best


def _clean_header(raw: list[str], name: str) -> list[str]:
    if len(raw) > MAX_COLUMNS:
        raise DataValidationError(
            f"the file has {len(raw):,} columns; at most {MAX_COLUMNS:,} are supported: keep the "
            "columns you need (customer, item, time, attributes) or check the delimiter",
            file=name, row=1, code="too_many_columns",
        )
    names = [str(c).strip() for c in raw]
    names = [c if c else f"column_{i + 1}" for i, c in enumerate(names)]
    dupes = [c for c, n in Counter(names).items() if n > 1]
    if dupes:
        raise DataValidationError(
            f"duplicated column names: {', '.join(repr(d) for d in dupes)}; rename them so each "
            "column has its own name",
            file=name, row=1, code="duplicate_columns",
        )
    return names


def _leading_blank_lines(data: bytes | mmap.mmap) -> tuple[bytes | mmap.mmap, int]:
    start = 0
    while True:  # chunk by chunk: only the head is copied out of a mapping
        chunk = data[start:start + _SNIFF_BYTES]
        blank = len(chunk) - len(chunk.lstrip(b"\r\n"))
        start += blank
        if blank < len(chunk) or not chunk:
            break
    if not start:
        return data, 0
    skipped = data[:start]
    return data[start:], skipped.count(b"\n") + skipped.replace(b"\r\n", b"").count(b"\r")


def _read_text(data: bytes, name: str) -> pd.DataFrame:
    encoding, utf8 = _detect_text(data, name)
    sample = _sample_text(data if utf8 is None else utf8, encoding if utf8 is None else "utf-8")
    _check_text(sample, name)
    if utf8 is None:
        text, encoding = _decode(data, encoding)
        utf8 = text.encode("utf-8")
    else:
        text = None
    utf8, blank = _leading_blank_lines(utf8)
    # The sample holds at least the whole header line, however wide.
    size = max(_SNIFF_BYTES, utf8.find(b"\n", 0, 1 << 26) + 1)
    sample = _complete_lines(
        _sample_text(utf8, "utf-8", size).lstrip("\ufeff"), truncated=len(utf8) > size
    )
    delimiter = sniff_delimiter(sample, name)
    recs = _records(sample, delimiter, limit=2)
    if not recs:
        raise DataValidationError("the file is empty", file=name, code="empty_file")
    header = _clean_header(recs[0], name)
    first_line = sample.splitlines()[0] if sample.splitlines() else ""
    single_line_header = _records(first_line, delimiter, limit=1)[:1] == recs[:1]
    df = None
    if single_line_header:
        try:
            df = _arrow_csv(utf8, header, delimiter)
        except UnicodeError:
            text, encoding = _decode(utf8, "utf-8")
            utf8 = text.encode("utf-8")
            try:
                df = _arrow_csv(utf8, header, delimiter)
            except (UnicodeError, ValueError):
                df = None
        except ValueError:
            df = None
    if df is None:
        if text is None:
            text, encoding = _decode(utf8, "utf-8")
        df = _python_csv(text.lstrip("\ufeff\r\n"), header, delimiter, name, first_row=2 + blank)
    df.attrs.update(
        file=name, format="csv", encoding=encoding, delimiter=delimiter, first_data_row=2 + blank
    )
    return _finish(df, name)


def _arrow_csv(utf8: bytes, header: list[str], delimiter: str) -> pd.DataFrame:
    """Fast path: pyarrow's multi-threaded parser with every column typed as string.

    Columns are ``large_string``, the layout of pandas' Arrow-backed ``str``, so the
    conversion to pandas copies nothing.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    read = pcsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 22)
    parse = pcsv.ParseOptions(
        delimiter=delimiter,
        quote_char='"',
        double_quote=True,
        escape_char=False,
        # Quote-aware line splitting halves the parser's speed: only pay for it when a quote
        # follows the header line (exports often quote the header alone).
        newlines_in_values=utf8.find(b'"', max(utf8.find(b"\n"), 0)) >= 0,
        ignore_empty_lines=True,
    )
    convert = pcsv.ConvertOptions(
        column_types={c: pa.large_string() for c in header},
        null_values=list(MISSING_MARKERS),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    try:
        table = pcsv.read_csv(pa.BufferReader(utf8), read, parse, convert)
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err):
            raise UnicodeError(str(err)) from None
        raise ValueError(str(err)) from None
    return table.to_pandas()


def _python_csv(text: str, header: list[str], delimiter: str, name: str, first_row: int) -> pd.DataFrame:
    """Slow, forgiving path for odd files: short rows are padded, long rows must be blank."""
    width = len(header)
    columns: list[list[str | None]] = [[] for _ in range(width)]
    old_limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        next(reader, None)
        row, rec = first_row - 1, None
        for rec in reader:
            row += 1
            if not rec or (len(rec) == 1 and not rec[0].strip()):
                continue
            if len(rec) > width:
                extra = [v for v in rec[width:] if v.strip()]
                if extra:
                    raise DataValidationError(
                        f"this row has {len(rec)} fields but the header has {width} "
                        f"(is a delimiter inside an unquoted value, or is the delimiter wrong?)",
                        file=name, row=row, code="ragged_rows",
                    )
                rec = rec[:width]
            for i in range(width):
                value = rec[i] if i < len(rec) else None
                columns[i].append(None if value is None or value in _MISSING_SET else value)
        if rec and any("\n" in v or "\r" in v for v in rec) and _ends_inside_quotes(text, delimiter):
            raise DataValidationError(
                f"a quoted value that starts in row {row} is never closed (a missing '\"'?), so "
                "the rest of the file would be read as one value",
                file=name, row=row, code="unclosed_quote",
            )
    except csv.Error as err:
        raise DataValidationError(f"cannot parse as CSV: {err}", file=name, code="unreadable") from None
    finally:
        csv.field_size_limit(old_limit)
    return pd.DataFrame({h: pd.array(col, dtype="str") for h, col in zip(header, columns)})


def _ends_inside_quotes(text: str, delimiter: str) -> bool:
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as err:
        return "unexpected end of data" in str(err)
    return False


# ----------------------------------------------------------------------------- parquet / excel


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(pa.BufferReader(data))
        _check_parquet_schema(meta.schema_arrow, meta.metadata.num_rows, name)
        table = meta.read()
    except DataValidationError:
        raise
    except Exception as err:  # corrupt footers raise OSError, ArrowInvalid, ...
        raise DataValidationError(f"cannot read this Parquet file: {err}", file=name, code="unreadable") from None
    header = _clean_header(list(table.column_names), name)
    try:
        df = arrow_to_strings(table.rename_columns(header))
    except Exception as err:
        raise DataValidationError(f"cannot convert Parquet columns: {err}", file=name, code="unreadable") from None
    df.attrs.update(file=name, format="parquet", encoding=None, delimiter=None, first_data_row=2)
    return _finish(df, name)


def _check_parquet_schema(schema: Any, n_rows: int, name: str) -> None:
    """Refuse, before reading any data, a row count over the cap and nested column types."""
    import pyarrow as pa

    if n_rows > max_rows():
        raise DataValidationError(
            f"the file declares {n_rows:,} rows, more than the {max_rows():,} this tool reads "
            f"(${_MAX_ROWS_ENV} raises the limit)", file=name, code="too_large",
        )
    _clean_header(list(schema.names), name)
    for field in schema:
        typ = field.type
        if pa.types.is_dictionary(typ):
            typ = typ.value_type
        flat_list = (pa.types.is_list(typ) or pa.types.is_large_list(typ)) and not _is_nested(typ.value_type)
        if _is_nested(typ) and not flat_list:
            raise DataValidationError(
                f"nested type {typ}; only lists of plain values "
                "(read as 'a|b|c') are supported: flatten it into plain columns first",
                file=name, column=field.name, code="nested_column",
            )


def _is_nested(typ: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_nested(typ) or pa.types.is_union(typ)


def arrow_to_strings(table: Any) -> pd.DataFrame:
    """Convert every column of a pyarrow Table to strings (integral floats without ``.0``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = {}
    for col_name, col in zip(table.column_names, table.columns):
        if pa.types.is_dictionary(col.type):
            col = pa.chunked_array([c.dictionary_decode() for c in col.chunks], type=col.type.value_type)
        typ = col.type
        if pa.types.is_floating(typ):
            col = pc.if_else(pc.is_nan(col), pa.scalar(None, typ), col)
            finite = pc.drop_null(col)
            if len(finite) and pc.all(pc.equal(finite, pc.floor(finite))).as_py() and pc.max(
                pc.abs(finite)
            ).as_py() < 2**62:
                col = pc.cast(col, pa.int64())
            out[col_name] = pc.cast(col, pa.string())
        elif pa.types.is_string(typ) or pa.types.is_large_string(typ):
            out[col_name] = col
        elif pa.types.is_list(typ) or pa.types.is_large_list(typ):
            out[col_name] = pc.binary_join(pc.cast(col, pa.list_(pa.string())), "|")
        elif pa.types.is_null(typ):
            out[col_name] = pa.nulls(len(col), pa.string())
        else:
            try:
                out[col_name] = pc.cast(col, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                out[col_name] = pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())
    df = pa.table(out).to_pandas() if out else pd.DataFrame()
    return df.astype("str") if len(df.columns) else df


def _read_excel(data: bytes, name: str) -> pd.DataFrame:
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # data_only: cached formula results; openpyxl never executes VBA macros.
            wb = openpyxl.load_workbook(
                io.BytesIO(data), read_only=True, data_only=True, keep_vba=False, keep_links=False
            )
            try:
                sheets = wb.worksheets
                if not sheets:
                    raise DataValidationError("the workbook has no worksheet", file=name, code="empty_file")
                rows, limit = [], max_rows()  # read the environment once, not per row
                for row in sheets[0].iter_rows(values_only=True):
                    if len(rows) > limit:
                        raise DataValidationError(
                            f"the first sheet has more than {limit:,} rows "
                            f"(${_MAX_ROWS_ENV} raises the limit)", file=name, code="too_large",
                        )
                    rows.append([_cell_str(v) for v in row])
                others = [s.title for s in sheets[1:]]
            finally:
                wb.close()
    except DataValidationError:
        raise
    except Exception as err:
        raise DataValidationError(f"cannot read this Excel file: {err}", file=name, code="unreadable") from None
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    start = 0
    while start < len(rows) and all(v is None for v in rows[start]):
        start += 1
    if start >= len(rows):
        hint = f" (other sheets: {', '.join(others)}; move the data to the first sheet)" if others else ""
        raise DataValidationError(f"the first sheet is empty{hint}", file=name, code="empty_file")
    body = rows[start + 1:]
    width = max(
        [max((i + 1 for i, v in enumerate(rows[start]) if v is not None), default=0)]
        + [max((i + 1 for i, v in enumerate(r) if v is not None), default=0) for r in body]
    )
    header = list(rows[start][:width]) + [None] * (width - len(rows[start]))
    header = _clean_header([h or "" for h in header], name)
    cols = {h: pd.array([r[i] if i < len(r) else None for r in body], dtype="str") for i, h in enumerate(header)}
    df = pd.DataFrame(cols, index=pd.RangeIndex(len(body)))
    df.attrs.update(file=name, format="excel", encoding=None, delimiter=None, first_data_row=start + 2)
    return _finish(df, name)


def _cell_str(value: Any) -> str | None:
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 2**62 else repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    text = str(value)
    return None if text.strip() in _MISSING_SET else text


def _finish(df: pd.DataFrame, name: str) -> pd.DataFrame:
    if len(df.columns) == 0:
        raise DataValidationError("no columns found", file=name, code="empty_file")
    if len(df) == 0:
        raise DataValidationError(
            f"the file has a header ({', '.join(map(str, df.columns[:8]))}) but no data rows",
            file=name, row=2, code="header_only",
        )
    return df
