"""read_table: every format, encoding and delimiter of the corpus, and the errors it must raise."""

from __future__ import annotations

import gzip
import io

import pandas as pd
import pytest

from bad_files.corpus import EXPECT, GOOD_CSV, build_corpus
from recsys.data.errors import DataValidationError
from recsys.data.readers import read_table, sniff_delimiter


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("bad_files"))


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_corpus_outcome(corpus, name):
    kind, expected = EXPECT[name]
    if kind == "ok":
        df = read_table(corpus[name])
        assert len(df) == expected
        assert all(str(dt) == "str" for dt in df.dtypes), df.dtypes
    else:
        with pytest.raises(DataValidationError) as info:
            read_table(corpus[name])
        assert info.value.code == expected
        assert info.value.file == name
        assert str(info.value).startswith(name)


def _rows(df: pd.DataFrame) -> list[list]:
    return [[None if pd.isna(v) else v for v in row] for row in df.itertuples(index=False)]


@pytest.mark.parametrize("name", ["good.csv", "tabs.tsv", "tabs.txt", "pipes.txt", "bom.csv", "utf16.csv",
                                  "mac_cr.csv", "crlf.csv", "good.csv.gz", "semicolon.csv.gz", "single.zip"])
def test_same_table_whatever_the_encoding_and_delimiter(corpus, name):
    expected = read_table(corpus["good.csv"])
    df = read_table(corpus[name])
    assert list(df.columns) == ["user_id", "item_id", "timestamp", "event_type", "device"]
    assert _rows(df) == _rows(expected)
    assert _rows(expected)[0] == ["u1", "i1", "2024-01-05T10:00:00", "view", "mobile"]


def test_delimiters_are_reported(corpus):
    assert read_table(corpus["semicolon.csv"]).attrs["delimiter"] == ";"
    assert read_table(corpus["tabs.tsv"]).attrs["delimiter"] == "\t"
    assert read_table(corpus["pipes.txt"]).attrs["delimiter"] == "|"
    assert read_table(corpus["semicolon.csv"])["Menge"].tolist() == ["3,5", "4,0", "1,5"]


def test_latin1_and_cp1252_accents(corpus):
    df = read_table(corpus["latin1.csv"])
    assert df["item"].tolist() == ["café", "thé"]
    assert df["title"].tolist() == ["crème brûlée", "Müsli"]
    assert read_table(corpus["cp1252.csv"])["promo"].tolist() == ["€ 5 “deal”", "—"]


def test_mixed_utf8_file_with_one_latin1_byte():
    data = "user,item\nu1,café\n".encode() + b"u2,caf\xe9\n"
    assert read_table(data, name="x.csv")["item"].tolist() == ["café", "café"]


def test_quoted_fields_with_delimiters_newlines_and_quotes(corpus):
    df = read_table(corpus["quoted.csv"])
    assert df["user_id"].tolist() == ["Smith, John", "u2"]
    assert df["item_id"].tolist() == ["item\nA", "i,2"]
    assert df["comment"].tolist() == ['said "hi", then left', "line1\r\nline2"]


def test_quoted_header_alone_and_quoted_newline_after_it():
    body = "".join(f"u{i},i{i % 7}\n" for i in range(3000))
    df = read_table(('"user","item"\n' + body).encode(), name="q.csv")  # quotes in the header only
    assert len(df) == 3000 and df.iloc[-1].tolist() == ["u2999", "i3"]
    late = read_table(('"user","item"\n' + body + 'u9,"two\nlines"\n').encode(), name="q.csv")
    assert len(late) == 3001 and late["item"].iloc[-1] == "two\nlines"
    import pyarrow as pa

    assert pa.array(df["user"].array).type == pa.large_string()  # pandas' own layout: no copy


def test_multiline_header_uses_the_forgiving_parser():
    data = b'"user\nid",item\n"a",b\nc,"d,e"\n'
    df = read_table(data, name="odd.csv")
    assert list(df.columns) == ["user\nid", "item"]
    assert _rows(df) == [["a", "b"], ["c", "d,e"]]


def test_missing_markers_and_short_rows(corpus):
    df = read_table(corpus["nan_ids.csv"])
    assert df["user_id"].isna().tolist() == [False, True, True, False, False, True, False, False, True]
    assert df["user_id"].iloc[4] == "  "  # whitespace survives reading; validation strips it
    short = read_table(corpus["short_rows.csv"])
    assert short["ts"].isna().tolist() == [False, True]


def test_ids_are_never_numbers():
    df = read_table(b"user_id,item_id\n00123,1.0\n17850,2e5\n", name="ids.csv")
    assert df["user_id"].tolist() == ["00123", "17850"]
    assert df["item_id"].tolist() == ["1.0", "2e5"]


def test_parquet_float_ids_come_back_without_dot_zero(corpus):
    df = read_table(corpus["good.parquet"])
    assert df["CustomerID"].tolist()[:2] == ["17850", "13047"]
    assert pd.isna(df["CustomerID"].iloc[2])
    assert df["Quantity"].tolist() == ["6", "6", "8", "-2"]
    assert df["InvoiceDate"].iloc[0].startswith("2010-12-01 08:26:00")


def test_excel_values_and_row_numbers(corpus):
    df = read_table(corpus["good.xlsx"])
    assert df["CustomerID"].tolist()[:2] == ["17850", "13047"]
    assert df["StockCode"].tolist()[1] == "71053"
    assert df["InvoiceDate"].tolist()[0] == "2010-12-01 08:26:00"
    assert df["Quantity"].tolist()[:2] == ["6", "6.5"]
    assert df.attrs["first_data_row"] == 2 and df.attrs["format"] == "excel"


def test_macro_workbook_is_read_as_data_only(corpus):
    df = read_table(corpus["macros.xlsm"])
    assert _rows(df) == [["u1", "i1"], ["u2", "i2"]]


def test_ragged_row_error_names_the_row(corpus):
    with pytest.raises(DataValidationError) as info:
        read_table(corpus["ragged.csv"])
    assert info.value.row == 3
    assert "ragged.csv, row 3:" in str(info.value)


def test_duplicate_header_names_are_named(corpus):
    with pytest.raises(DataValidationError, match="'user_id'"):
        read_table(corpus["dup_header.csv"])


def test_sources_bytes_filelike_and_upload(corpus):
    data = GOOD_CSV.encode()

    class Upload(io.BytesIO):  # the shape of Streamlit's UploadedFile
        name = "upload.csv.gz"

    up = Upload(gzip.compress(data))
    assert len(read_table(up)) == 5
    assert len(read_table(io.BytesIO(data))) == 5
    assert len(read_table(data, name="x.csv")) == 5
    assert len(read_table(str(corpus["good.csv"]))) == 5
    with pytest.raises(DataValidationError) as info:
        read_table(Upload(b""))
    assert info.value.file == "upload.csv.gz"


def test_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataValidationError) as info:
        read_table(tmp_path / "nope.csv")
    assert info.value.code == "unreadable" and info.value.file == "nope.csv"


def test_blank_leading_lines_shift_the_first_data_row():
    df = read_table(b"\n\nuser_id,item_id\nu1,i1\n", name="x.csv")
    assert list(df.columns) == ["user_id", "item_id"]
    assert df.attrs["first_data_row"] == 4


def test_empty_header_names_get_placeholders():
    df = read_table(b"user_id,,item_id\nu1,x,i1\n", name="x.csv")
    assert list(df.columns) == ["user_id", "column_2", "item_id"]


def test_sniffer_prefers_consistency_over_count():
    sample = "a;b;c\n1,5;2;3\n4,5;5;6\n"
    assert sniff_delimiter(sample) == ";"
    assert sniff_delimiter("a\tb\n1\t2\n", "x.tsv") == "\t"
    assert sniff_delimiter("single\nvalue\n") == ","


def test_error_str_format():
    err = DataValidationError("cannot parse '2024-13-45' as a time", file="events.csv", column="timestamp", row=17)
    assert str(err) == "events.csv, column 'timestamp', row 17: cannot parse '2024-13-45' as a time"
    assert isinstance(err, ValueError)
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert (again.file, again.column, again.row, again.code) == ("events.csv", "timestamp", 17, "invalid_data")


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_memory_mapped_files_read_like_their_bytes(corpus, name, monkeypatch):
    """Big files are memory-mapped; every corpus file read that way gives the same table or error."""
    from recsys.data import readers

    def outcome(source):
        try:
            df = read_table(source, name=name)
        except DataValidationError as err:
            return ("error", err.code, err.file, err.row)
        return ("ok", list(df.columns), _rows(df), df.attrs)

    expected = outcome(corpus[name].read_bytes())
    monkeypatch.setattr(readers, "_MAP_MIN_BYTES", 1)
    assert outcome(corpus[name]) == expected


def test_a_big_file_is_memory_mapped_and_read_in_full(tmp_path, monkeypatch):
    from recsys.data import readers

    mapped = []
    monkeypatch.setattr(readers, "_file_bytes", lambda path: mapped.append(path) or _map(path))
    rows = [f"u{i % 977},i{i % 131},2024-01-{1 + i % 28:02d}T10:00:00" for i in range(60_000)]
    path = tmp_path / "big.csv"
    path.write_bytes(("\r\n\nuser,item,time\n" + "\n".join(rows) + "\n").encode())
    df = read_table(path)
    assert mapped == [path] and len(df) == 60_000 and df.attrs["first_data_row"] == 4
    assert df.iloc[-1].tolist() == rows[-1].split(",")


def _map(path):
    import mmap

    with open(path, "rb") as fh:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def test_an_excel_sheet_over_the_row_cap_is_refused(monkeypatch):
    from bad_files.corpus import _xlsx

    data = _xlsx([["user_id", "item_id"]] + [[f"u{i}", f"i{i}"] for i in range(5)])
    monkeypatch.setenv("RECSYS_MAX_ROWS", "5")
    assert len(read_table(data, name="events.xlsx")) == 5  # header + 5 rows: at the cap, read
    monkeypatch.setenv("RECSYS_MAX_ROWS", "4")
    with pytest.raises(DataValidationError) as info:
        read_table(data, name="events.xlsx")
    assert info.value.code == "too_large" and "more than 4 rows" in str(info.value)
