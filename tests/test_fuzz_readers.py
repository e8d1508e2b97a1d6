"""Property tests: whatever bytes arrive, read_table raises only DataValidationError and
load_and_validate never raises (and never hits an internal error)."""

from __future__ import annotations

import gzip

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys.data.errors import DataValidationError
from recsys.data.readers import read_table
from recsys.data.validation import load_and_validate

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

MAGIC = st.sampled_from([b"", b"PAR1", b"PK\x03\x04", b"\x1f\x8b", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
                         b"\xd0\xcf\x11\xe0", b"user_id,item_id\n", b"user_id;item_id;ts\n"])
HEADERS = st.sampled_from(["user_id", "item_id", "timestamp", "rating", "event", "title", "x", "", " ", "user_id",
                           "CustomerID", "StockCode", "InvoiceDate", "Quantity", "row", "reason"])
CELL = st.one_of(
    st.text(alphabet=st.sampled_from(list('abcé€ 0123456789.,;|\t"\n\r-:/TZ+') + ["\x00", "\x1a"]), max_size=12),
    st.sampled_from(["", "NaN", "None", "17850.0", "2024-01-05T10:00:00Z", "1704448800", "1704448800123",
                     "25/12/2024 10:00", "9999-12-31", "-1e309", "inf", "1,5", "$3", "00123"]),
)


def _check_read(data: bytes, name: str) -> None:
    try:
        df = read_table(data, name=name)
    except DataValidationError as err:
        assert err.file  # every error names the file
        return
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    assert all(str(d) == "str" for d in df.dtypes)


def _check_validate(data: bytes, name: str) -> None:
    report = load_and_validate({"interactions": data, "items": data}, None)
    assert "internal_error" not in {i.code for i in report.issues}, report.lines()
    report.summary()
    report.to_dict()


@SETTINGS
@given(prefix=MAGIC, body=st.binary(max_size=600),
       name=st.sampled_from(["f.csv", "f.tsv", "f.gz", "f.parquet", "f.xlsx", "f", "f.txt"]))
def test_arbitrary_bytes(prefix, body, name):
    _check_read(prefix + body, name)
    _check_validate(prefix + body, name)


@st.composite
def csvish(draw) -> tuple[bytes, str]:
    delim = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = draw(st.lists(HEADERS, min_size=1, max_size=6))
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=len(header) + 1), max_size=12))
    quote = draw(st.booleans())

    def fmt(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if quote else v

    text = delim.join(map(fmt, header)) + "\n" + "".join(delim.join(map(fmt, r)) + "\n" for r in rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = gzip.compress(data)
    return data, "events.csv"


@SETTINGS
@given(csvish())
def test_csv_like_text(case):
    data, name = case
    _check_read(data, name)
    _check_validate(data, name)


@SETTINGS
@given(rows=st.lists(st.tuples(CELL, CELL, CELL, CELL), min_size=1, max_size=30))
def test_well_formed_csv_always_reads_and_counts_add_up(rows):
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "value"])
    data = df.to_csv(index=False).encode()
    report = load_and_validate({"interactions": data})
    assert "internal_error" not in {i.code for i in report.issues}, report.lines()
    if "interactions" in report.tables:
        read = report.stats["interactions"]["rows_read"]
        assert len(report.tables["interactions"]) + len(report.dropped["interactions"]) == read
        assert report.dropped["interactions"]["reason"].notna().all()
