"""Parse raw string columns: ids, numbers, timestamps, tags and attribute types.

Every helper takes pandas ``str`` columns as :func:`~recsys.data.readers.read_table`
returns them and works through distinct values or Arrow kernels where that pays.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.readers import MISSING_MARKERS

_MISSING = list(MISSING_MARKERS)
_NS_MIN = pd.Timestamp("1677-09-22", tz="UTC")
_NS_MAX = pd.Timestamp("2262-04-11", tz="UTC")
_FLOAT_ID = re.compile(r"-?\d+\.0+")

# Day-first and month-first variants are tried together; the better fit wins.
_DATE_FORMATS: tuple[str, ...] = (
    "%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
    "%Y/%m/%d", "%d/%m/%y %H:%M", "%m/%d/%y %H:%M", "%d/%m/%y", "%m/%d/%y", "%Y%m%d%H%M%S",
    "%d %b %Y %H:%M", "%d %b %Y", "%b %d %Y", "%d %B %Y", "%B %d %Y", "%b %d, %Y", "%B %d, %Y",
)



def clean_strings(s: pd.Series) -> pd.Series:
    """Strip whitespace; empty strings and missing markers become NA."""
    s = s.astype("str").str.strip()
    return s.mask(s.isin(_MISSING))


def _strip_float_suffix(u: pd.Series) -> pd.Series:
    first = u.first_valid_index()
    if first is None or not _FLOAT_ID.fullmatch(str(u[first])):  # one value first: most ids fail here
        return u
    present = u.dropna()
    if present.str.fullmatch(_FLOAT_ID.pattern).all():
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
    codes, u = _dictionary_encode(s)
    cleaned = clean_strings(u)
    if lower:
        cleaned = cleaned.str.lower()
    fixed = False
    if ids:
        stripped = _strip_float_suffix(cleaned)
        fixed = not stripped.equals(cleaned)
        cleaned = stripped
    if cleaned.equals(u):
        return s, codes, pd.Index(u), fixed
    new_codes, new_uniques = pd.factorize(cleaned)
    codes = np.where(codes >= 0, new_codes[np.maximum(codes, 0)], -1) if len(new_codes) else codes
    values = new_uniques.array.take(codes, allow_fill=True) if len(new_uniques) else pd.array(
        [None] * len(s), dtype="str")
    return pd.Series(values, index=s.index, dtype="str"), codes, new_uniques, fixed


def _dictionary_encode(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes (-1 for missing) and distinct values of a ``str`` column, by Arrow's hash kernel."""
    import pyarrow as pa

    arr = pa.array(s.array)
    if isinstance(arr, pa.ChunkedArray):  # one dictionary for all rows (the copy costs ~1% of the hashing)
        arr = arr.combine_chunks()
    codes, uniques = _encode_strings(arr)
    return codes, uniques.to_pandas().astype("str")


_PARTITIONS = 16
_PARTITION_MIN_ROWS = 100_000
_PARTITION_MIN_DISTINCT = 1_000  # in the first 10,000 rows


def _encode_strings(arr) -> tuple[np.ndarray, Any]:
    """Dictionary-encode an Arrow string array: (codes, -1 for null; distinct values).

    With many distinct values (user and item ids) the hash table outgrows the CPU
    caches and each row costs a cache miss. Rows are first grouped by a byte hash of
    the value's end, so equal values share a group, and each group is encoded on its
    own with a table a sixteenth of the size. On a 1M-row log this halved the CPU for
    190k distinct users and broke even for 50k distinct items (grouping costs a copy).
    The distinct values come grouped, not in order of first appearance.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    head = arr.slice(0, 10_000)
    if len(arr) < _PARTITION_MIN_ROWS or pc.count_distinct(head).as_py() < _PARTITION_MIN_DISTINCT:
        encoded = pc.dictionary_encode(arr)
        return _codes(encoded.indices), encoded.dictionary
    key = _partition_key(arr)
    order = np.argsort(key, kind="stable")  # a radix sort on uint8
    bounds = np.concatenate([[0], np.cumsum(np.bincount(key, minlength=_PARTITIONS))])
    grouped = arr.take(pa.array(order))
    codes = np.empty(len(arr), np.int32)
    dictionaries = []
    base = 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi > lo:
            encoded = pc.dictionary_encode(grouped.slice(lo, hi - lo))
            part = _codes(encoded.indices)
            codes[order[lo:hi]] = np.where(part >= 0, part + base, -1) if encoded.indices.null_count else part + base
            base += len(encoded.dictionary)
            dictionaries.append(encoded.dictionary)
    return codes, pa.concat_arrays(dictionaries) if dictionaries else pa.array([], arr.type)


def _codes(indices) -> np.ndarray:
    """Dictionary indices as int32 codes, -1 for null (a zero-copy, read-only view when none is null)."""
    import pyarrow.compute as pc

    if indices.null_count:
        indices = pc.fill_null(indices, -1)
    return indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def _partition_key(arr) -> np.ndarray:
    """Group (0-15) of each string from its length and last two bytes: equal values, equal groups."""
    import pyarrow as pa

    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    width = 8 if wide else 4
    offsets = np.frombuffer(arr.buffers()[1], np.int64 if wide else np.int32, len(arr) + 1, arr.offset * width)
    data = arr.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None and data.size else np.zeros(1, np.uint8)
    # Lengths modulo 256 (uint8 arithmetic wraps at a multiple of 16); fresh pages cost more than math.
    key = np.subtract(offsets[1:], offsets[:-1], out=np.empty(len(arr), np.uint8), casting="unsafe")
    empty, short = key < 1, key < 2
    positions = offsets[1:] - 1
    last = data.take(positions, mode="clip")
    positions -= 1
    prev = data.take(positions, mode="clip")
    last[empty] = 0  # bytes before a short value belong to its neighbour; with lengths modulo 256 a
    prev[short] = 0  # 256-byte value counts as empty, which is still a function of the value
    key *= 5
    key += last
    prev *= 3
    key += prev
    key &= _PARTITIONS - 1
    return key


def clean_sessions(s: pd.Series) -> pd.Series:
    # Often one distinct value per few rows, so no factorize; the float rule is checked cheaply.
    s = clean_strings(s)
    first = s.first_valid_index()
    return _strip_float_suffix(s) if first is not None and str(s[first]).endswith(".0") else s


def clean_column(s: pd.Series, *, lower: bool = False) -> pd.Series:
    """:func:`clean_strings` (and lower-casing), through distinct values when they are few."""
    return encode_column(s, lower=lower)[0]


def encode_column(
    s: pd.Series, *, lower: bool = False
) -> tuple[pd.Series, tuple[np.ndarray, pd.Index] | None]:
    """:func:`clean_column`, plus ``(codes, uniques)`` when it went through distinct values.

    The codes let the statistics count values and the workspace write a dictionary-encoded
    column without hashing the strings again; ``None`` for short or high-cardinality columns.
    """
    head = s.iloc[:10_000]
    if len(s) > 50_000 and head.nunique() < 1_000:
        out, codes, uniques, _ = factorize_clean(s, lower=lower)
        return out, (codes, uniques)
    out = clean_strings(s)
    return (out.str.lower() if lower else out), None


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
    """Whether a sample of the column is ISO 8601 (a failed Arrow cast costs a full pass).

    The sample is the first and last 100 present values (the first 100 of a short column).
    """
    import pyarrow.compute as pc

    n_present = len(arr) - arr.null_count
    if n_present == 0:
        return False
    if n_present <= 200:
        samples = [pc.drop_null(arr).slice(0, 100)]
    else:
        samples = list(_present_ends(arr, 100))
    return all(pc.all(pc.match_substring_regex(s, _ISO_RE)).as_py() for s in samples)


def _present_ends(arr, k: int) -> tuple:
    """The first and last ``k`` present values; windows are cut before dropping nulls (no full copy)."""
    import pyarrow.compute as pc

    head = pc.drop_null(arr.slice(0, 10 * k))
    tail = pc.drop_null(arr.slice(max(len(arr) - 10 * k, 0)))
    if min(len(head), len(tail)) < k:  # sparse ends: look at every present value
        head = tail = pc.drop_null(arr)
    return head.slice(0, k), tail.slice(max(len(tail) - k, 0))


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
    if not ns.flags.writeable:  # a zero-copy view of Arrow memory; everything else is ours already
        ns = ns.copy()
    return pd.Series(ns.view("datetime64[ns]"), index=index, copy=False)


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
