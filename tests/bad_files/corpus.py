"""A corpus of good and bad input files, generated (not committed) so it stays small and exact.

``build_corpus(folder)`` writes every file and returns name -> path. ``EXPECT`` says what
reading each file must give: ``("ok", n_rows)`` or ``("error", code)``.
"""

from __future__ import annotations

import gzip
import io
import pathlib
import random
import zipfile

GOOD_ROWS = [
    ("u1", "i1", "2024-01-05T10:00:00", "view", "mobile"),
    ("u1", "i2", "2024-01-05T10:05:00", "purchase", "mobile"),
    ("u2", "i1", "2024-01-06T08:00:00", "view", "desktop"),
    ("u2", "i3", "2024-01-07T09:30:00", "click", "desktop"),
    ("u3", "i2", "2024-01-08T12:00:00", "view", "tablet"),
]
GOOD_CSV = "user_id,item_id,timestamp,event_type,device\n" + "".join(",".join(r) + "\n" for r in GOOD_ROWS)


def _csv(rows: list[tuple], header: tuple, delim: str = ",") -> str:
    return delim.join(header) + "\n" + "".join(delim.join(map(str, r)) + "\n" for r in rows)


def _xlsx(rows: list[list], vba: bool = False) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "events"
    for row in rows:
        ws.append(row)
    wb.create_sheet("notes").append(["ignored"])
    buf = io.BytesIO()
    wb.save(buf)
    if not vba:
        return buf.getvalue()
    # A macro-enabled workbook: same parts plus a VBA project, which must never run.
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                )
            dst.writestr(item, data)
        dst.writestr("xl/vbaProject.bin", b"Attribute VB_Name = \"Module1\"\nSub Auto_Open()\nShell \"calc\"\nEnd Sub\n")
    return out.getvalue()


def _parquet() -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        # Float-typed ids as pandas writes an int column with gaps: must come back "17850".
        "CustomerID": pa.array([17850.0, 13047.0, None, 12583.0], pa.float64()),
        "StockCode": ["85123A", "71053", "84406B", "22633"],
        "InvoiceDate": pa.array([1291191960, 1291192000, 1291193000, 1291194000], pa.timestamp("s")),
        "Quantity": pa.array([6, 6, 8, -2], pa.int64()),
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def corpus_bytes() -> dict[str, bytes]:
    """Every corpus file's name and content."""
    rng = random.Random(7)
    header = ("user_id", "item_id", "timestamp", "event_type", "device")
    files: dict[str, bytes] = {
        "good.csv": GOOD_CSV.encode(),
        "semicolon.csv": _csv(
            [("u1", "i1", "05/01/2024 10:00", "3,5"), ("u2", "i2", "06/01/2024 11:00", "4,0"),
             ("u3", "i1", "07/01/2024 12:00", "1,5")],
            ("Kunde", "Artikel", "Datum", "Menge"), ";").encode(),
        "tabs.tsv": _csv(GOOD_ROWS, header, "\t").encode(),
        "tabs.txt": _csv(GOOD_ROWS, header, "\t").encode(),
        "pipes.txt": _csv(GOOD_ROWS, header, "|").encode(),
        "bom.csv": b"\xef\xbb\xbf" + GOOD_CSV.encode(),
        "utf16.csv": GOOD_CSV.encode("utf-16"),
        "latin1.csv": _csv([("u1", "café", "2024-01-05", "crème brûlée"), ("u2", "thé", "2024-01-06", "Müsli")],
                           ("user", "item", "date", "title")).encode("latin-1"),
        "cp1252.csv": _csv([("u1", "i1", "2024-01-05", "€ 5 “deal”"), ("u2", "i2", "2024-01-06", "—")],
                           ("user", "item", "date", "promo")).encode("cp1252"),
        "mac_cr.csv": GOOD_CSV.replace("\n", "\r").encode(),
        "crlf.csv": GOOD_CSV.replace("\n", "\r\n").encode(),
        "missing_columns.csv": b"a,b,c\n1,2,3\n4,5,6\n",
        "no_header.csv": b"1,10,5,978300760\n1,20,3,978302109\n2,10,4,978301968\n",
        "empty.csv": b"",
        "blank_lines.csv": b"\n\n   \n\r\n",
        "header_only.csv": b"user_id,item_id,timestamp\n",
        "junk.bin": bytes(rng.randrange(256) for _ in range(4096)),
        "junk.csv": bytes(rng.randrange(256) for _ in range(2048)),
        "fake.pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "dup_header.csv": b"user_id,item_id,user_id\nu1,i1,u9\n",
        "nan_ids.csv": _csv(
            [("u1", "i1"), ("", "i2"), ("NaN", "i3"), ("u4", "nan"), ("  ", "i5"), ("None", "None"),
             ("u7", "i7"), (" u8 ", " i8 "), (",", ",")][:8],
            ("user_id", "item_id")).encode() + b",\n",
        "mixed_ts.csv": _csv(
            [("u1", "i1", "2024-01-05T10:00:00"), ("u1", "i2", "2024-01-05 10:00:00"),
             ("u2", "i1", "2024-01-05T12:00:00+02:00"), ("u2", "i2", "2024-01-05T10:00:00Z"),
             ("u3", "i1", "25/12/2024 10:00"), ("u3", "i2", "1704448800"), ("u4", "i1", "2024-01-05")],
            ("user_id", "item_id", "timestamp")).encode(),
        "unix_s.csv": _csv([("u1", "i1", 1704448800), ("u2", "i2", 1704452400)], ("user_id", "item_id", "ts")).encode(),
        "unix_ms.csv": _csv([("u1", "i1", 1704448800000), ("u2", "i2", 1704452400123)],
                            ("user_id", "item_id", "ts")).encode(),
        "quoted.csv": (
            'user_id,item_id,comment\n'
            '"Smith, John","item\nA","said ""hi"", then left"\n'
            '"u2","i,2","line1\r\nline2"\n'
        ).encode(),
        "ragged.csv": b"user_id,item_id,ts\nu1,i1,2024-01-01\nu2,i2,2024-01-02,extra,more\n",
        "short_rows.csv": b"user_id,item_id,ts\nu1,i1,2024-01-01\nu2,i2\n",
        "bad_ts.csv": _csv([("u1", "i1", "2024-01-05"), ("u2", "i2", "2024-13-45"), ("u3", "i3", "soon"),
                            ("u4", "i4", "2024-01-06")], ("user_id", "item_id", "timestamp")).encode(),
        "non_numeric.csv": _csv([("u1", "i1", "five"), ("u2", "i2", "4"), ("u3", "i3", "lots")],
                                ("user_id", "item_id", "rating")).encode(),
        "good.csv.gz": gzip.compress(GOOD_CSV.encode()),
        "semicolon.csv.gz": gzip.compress(_csv(GOOD_ROWS, header, ";").encode("utf-16")),
        "corrupt.gz": b"\x1f\x8b\x08\x00garbage-not-deflate",
        "good.parquet": _parquet(),
        "corrupt.parquet": b"PAR1" + bytes(rng.randrange(256) for _ in range(300)),
        "good.xlsx": _xlsx([
            ["CustomerID", "StockCode", "InvoiceDate", "Quantity"],
            [17850, "85123A", __import__("datetime").datetime(2010, 12, 1, 8, 26), 6],
            [13047.0, 71053, __import__("datetime").datetime(2010, 12, 1, 8, 28), 6.5],
            [None, None, None, None],
            [12583, "22633", "2010-12-01 08:45", 3],
        ]),
        "macros.xlsm": _xlsx([["user_id", "item_id"], ["u1", "i1"], ["u2", "i2"]], vba=True),
        "empty_sheet.xlsx": _xlsx([]),
        "corrupt.xlsx": b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(500)),
    }
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as zf:
        zf.writestr("events.csv", GOOD_CSV)
    files["single.zip"] = zbuf.getvalue()
    return files


# What read_table must do with each file: ("ok", rows) or ("error", DataValidationError.code).
EXPECT: dict[str, tuple[str, object]] = {
    "good.csv": ("ok", 5), "semicolon.csv": ("ok", 3), "tabs.tsv": ("ok", 5), "tabs.txt": ("ok", 5),
    "pipes.txt": ("ok", 5), "bom.csv": ("ok", 5), "utf16.csv": ("ok", 5), "latin1.csv": ("ok", 2),
    "cp1252.csv": ("ok", 2), "mac_cr.csv": ("ok", 5), "crlf.csv": ("ok", 5),
    "missing_columns.csv": ("ok", 2), "no_header.csv": ("ok", 2), "empty.csv": ("error", "empty_file"),
    "blank_lines.csv": ("error", "empty_file"), "header_only.csv": ("error", "header_only"),
    "junk.bin": ("error", "unsupported_format"), "junk.csv": ("error", "unsupported_format"),
    "fake.pdf": ("error", "unsupported_format"), "dup_header.csv": ("error", "duplicate_columns"),
    "nan_ids.csv": ("ok", 9), "mixed_ts.csv": ("ok", 7), "unix_s.csv": ("ok", 2), "unix_ms.csv": ("ok", 2),
    "quoted.csv": ("ok", 2), "ragged.csv": ("error", "ragged_rows"), "short_rows.csv": ("ok", 2),
    "bad_ts.csv": ("ok", 4), "non_numeric.csv": ("ok", 3), "good.csv.gz": ("ok", 5),
    "semicolon.csv.gz": ("ok", 5), "corrupt.gz": ("error", "unreadable"), "good.parquet": ("ok", 4),
    "corrupt.parquet": ("error", "unreadable"), "good.xlsx": ("ok", 4), "macros.xlsm": ("ok", 2),
    "empty_sheet.xlsx": ("error", "empty_file"), "corrupt.xlsx": ("error", "unreadable"),
    "single.zip": ("ok", 5),
}


def build_corpus(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write the corpus into ``folder``; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, data in corpus_bytes().items():
        path = folder / name
        path.write_bytes(data)
        out[name] = path
    return out
