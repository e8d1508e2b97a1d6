"""Hostile input files: each one tries to crash, hang, exhaust memory or smuggle something in.

``hostile_files()`` returns name -> :class:`Hostile`: the bytes, and what must happen: either the
file is refused with a message containing ``refusal`` (naming the file), or it is read with
exactly the ``ids`` given (first user ids, in file order). Files are generated, never committed.
The size limits are lowered by ``LIMITS_ENV`` so the bombs stay small and fast; their mechanism is
the same at the default limits.
"""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from dataclasses import dataclass

from bad_files.corpus import _xlsx

# Lowered limits for the test run (see recsys.data.readers.max_inflated_bytes / max_rows).
LIMITS_ENV = {"RECSYS_MAX_INFLATED_MB": "16", "RECSYS_MAX_ROWS": "100000"}


@dataclass(frozen=True)
class Hostile:
    data: bytes
    refusal: str | None = None  # substring of the message when the file must be refused
    ids: tuple[str, ...] = ()  # the user ids it must read as, when accepted
    cli: bool = True  # also through `python -m recsys import` (the upload limit is UI-only)


def _csv(header: str, rows: list[str]) -> str:
    return header + "\n" + "\n".join(rows) + "\n"


_BASIC = _csv("user_id,item_id,timestamp", [
    "u1,i1,2024-01-05T10:00:00", "u1,i2,2024-01-06T10:00:00", "u2,i1,2024-01-07T10:00:00",
    "u2,i3,2024-01-08T10:00:00", "u3,i2,2024-01-09T10:00:00",
])
_JAPANESE = _csv("user_id,item_id,title", ["顧客一,i1,東京のカフェ", "顧客二,i2,ラーメン", "顧客一,i2,ラーメン"])


def _wide() -> bytes:
    header = ",".join(["user_id", "item_id", "timestamp"] + [f"attr_{i}" for i in range(9_997)])
    row = ",".join(["u1", "i1", "2024-01-05"] + ["1"] * 9_997)
    return (header + "\n" + row + "\n" + row.replace("u1", "u2", 1) + "\n").encode()


def _gzip_bomb() -> bytes:
    """A 'billion-row claim': gzip members that would inflate to 6 GB of 'u1,i1' rows (10^9 rows)."""
    block = b"u1,i1\n" * (1 << 20)  # 6 MB, 1,048,576 rows
    member = gzip.compress(block, compresslevel=9)
    members = gzip.compress(b"user_id,item_id\n") + member * 954  # about 10^9 rows, 8 MB
    return gzip.compress(members)  # gzip again: the repeated members shrink to a few KB


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("events.csv", b"user_id,item_id\n" + b"u1,i1\n" * (6 << 20))  # 36 MB
    return buf.getvalue()


def _zip_claiming_4gb() -> bytes:
    """A tiny zip whose central directory claims its member is 4 GB."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("events.csv", _BASIC)
    data = bytearray(buf.getvalue())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 0xFFFF_FFF0)  # uncompressed size
    return bytes(data)


def _parquet(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _nested_parquet() -> bytes:
    import pyarrow as pa

    return _parquet(pa.table({
        "user_id": ["u1", "u2"], "item_id": ["i1", "i2"],
        "basket": pa.array([[{"sku": "A", "qty": 1}], [{"sku": "B", "qty": 2}]]),
    }))


def _many_rows_parquet() -> bytes:
    import pyarrow as pa

    n = 250_000  # over the test's row cap; nulls cost no memory to build
    return _parquet(pa.table({"user_id": pa.nulls(n, pa.string()), "item_id": pa.nulls(n, pa.string())}))


def hostile_files() -> dict[str, Hostile]:
    """Every hostile file by name."""
    formulas = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd", "-2+3"]
    return {
        "utf16_bom.csv": Hostile(_BASIC.encode("utf-16"), ids=("u1", "u1", "u2", "u2", "u3")),
        "utf16le_no_bom.csv": Hostile(_BASIC.encode("utf-16-le"), ids=("u1", "u1", "u2", "u2", "u3")),
        "shift_jis.csv": Hostile(_JAPANESE.encode("shift_jis"), ids=("顧客一", "顧客二", "顧客一")),
        "unclosed_quote.csv": Hostile(
            _csv("user_id,item_id", ['u1,i1', '"u2,i2', 'u3,i3', 'u4,i4']).encode(), refusal="never closed"),
        "stray_quotes.csv": Hostile(
            _csv("user_id,item_id", ['u1,i"1', 'u"2,i2', 'u3,i3']).encode(), ids=("u1", 'u"2', "u3")),
        "columns_10000.csv": Hostile(_wide(), refusal="10,000 columns"),
        "billion_rows.csv.gz": Hostile(_gzip_bomb(), refusal="decompresses to more than 16 MB"),
        "zip_bomb.xlsx": Hostile(_zip_bomb(), refusal="claims 37,748,752 bytes, more than 16 MB"),
        "claims_4gb.xlsx": Hostile(_zip_claiming_4gb(), refusal="claims 4,294,967,280 bytes"),
        "rows_over_cap.parquet": Hostile(_many_rows_parquet(), refusal="declares 250,000 rows"),
        "ids_with_commas_newlines.csv": Hostile(
            _csv("user_id,item_id", ['"Smith, John","item, one"', '"line\nbreak","i2"', '"Smith, John",i2']).encode(),
            ids=("Smith, John", "line\nbreak", "Smith, John")),
        "negative_timestamps.csv": Hostile(
            _csv("user_id,item_id,timestamp", ["u1,i1,-86400", "u1,i2,-1", "u2,i1,-2208988800", "u2,i2,1700000000"])
            .encode(), ids=("u1", "u1", "u2", "u2")),
        "emoji.csv": Hostile(
            _csv("user_id,item_id,note", ["😀,🍕,pizza 🍕", "👍🏽,🍕,thumbs", "😀,🚀,🚀🚀"]).encode(),
            ids=("😀", "👍🏽", "😀")),
        "formulas.csv": Hostile(
            _csv("user_id,item_id", [f'"{f.replace(chr(34), chr(34) * 2)}",i{n}' for n, f in enumerate(formulas)])
            .encode(), ids=tuple(formulas)),
        "macros.xlsm": Hostile(_xlsx([["user_id", "item_id"], ["u1", "i1"], ["u2", "i2"]], vba=True), ids=("u1", "u2")),
        "nested.parquet": Hostile(_nested_parquet(), refusal="column 'basket': nested type"),
        "over_upload_limit.csv": Hostile(
            (_BASIC + "u9,i9,2024-02-01T00:00:00\n" * 100_000).encode(), refusal="over the 1 MB upload limit",
            cli=False),
    }
