"""Export formats: formula-injection-safe analyst files, and ad-platform uploads byte for byte."""

from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.data.dataset import Dataset
from recsys.segments.formats import (contact_table, customer_match_file, e164, iso2, meta_file, neutralise,
                                     segment_table, table_file)

TEST_EMAIL_SHA256 = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"  # sha256(b"test@example.com")
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV Injection


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# ----- analyst files -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tcmd", "\rcmd", "\ncmd", "  =cmd", "＝1"])
def test_formula_starts_are_neutralised(value):
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["", "plain", "a=b", "1-2", "'quoted", "e-mail"])
def test_harmless_text_is_untouched(value):
    assert neutralise(value) == value


text_cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)


@given(st.lists(st.tuples(text_cells, text_cells, st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=12))
@settings(max_examples=150, deadline=None)
def test_no_text_cell_of_the_analyst_csv_can_start_a_formula(rows):
    frame = pd.DataFrame(rows, columns=["title", "reason", "score"])
    frame["title"] = frame["title"].astype("string")  # pandas' string dtype and plain objects both count
    data = table_file(frame, "csv").data
    cells = read_csv_cells(data)
    assert cells[0] == ["title", "reason", "score"]
    for (title, reason, score), line in zip(rows, cells[1:]):
        for original, written in ((title, line[0]), (reason, line[1])):
            assert written == (("'" + original) if original != neutralise(original) else original)
            assert written[:1] not in DANGEROUS
            assert written.lstrip(" ")[:1] not in ("=", "+", "-", "@")
        assert float(line[2]) == pytest.approx(score)
    assert not data.startswith(b"\xef\xbb\xbf")


def test_every_text_column_and_header_is_neutralised_in_csv_and_excel():
    frame = pd.DataFrame({"user_id": ["@u1", "u2"], "title": ["=HYPERLINK(\"http://x\")", "ok"],
                          "category": ["-Tech", "+Home"], "reason": ["\tBecause", "fine"], "=score": [-1.5, 2.0]})
    cells = read_csv_cells(table_file(frame, "csv").data)
    assert cells[0] == ["user_id", "title", "category", "reason", "'=score"]
    assert cells[1] == ["'@u1", "'=HYPERLINK(\"http://x\")", "'-Tech", "'\tBecause", "-1.5"]
    assert cells[2] == ["u2", "ok", "'+Home", "fine", "2.0"]
    book = openpyxl.load_workbook(io.BytesIO(table_file(frame, "xlsx").data))
    sheet = book.active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row), "no cell may be a formula"
    assert values[1][:4] == ["'@u1", "'=HYPERLINK(\"http://x\")", "'-Tech", "'\tBecause"]
    assert values[1][4] == -1.5


def test_parquet_keeps_values_exactly():
    frame = pd.DataFrame({"user_id": ["=a", "b"], "score": [0.5, -1.0]})
    back = pd.read_parquet(io.BytesIO(table_file(frame, "parquet").data))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


# ----- ad-platform uploads -----------------------------------------------------------------------

def contacts(**overrides) -> pd.DataFrame:
    row = {"customer_id": "C1", "email": "  Test@Example.com ", "phone": "(555) 123-4567", "first_name": " John ",
           "last_name": "O'Neil", "country": "United States", "zip": "94043-1234", "city": "Mountain View",
           "state": "CA"}
    row.update(overrides)
    return pd.DataFrame([row])


def test_customer_match_file_byte_for_byte():
    frame = pd.concat([contacts(), contacts(customer_id="C2", email="no-at-sign", phone="020 7946 0958",
                                            first_name="Ann", last_name="Lee", country="UK", zip="SW1A 1AA"),
                       contacts(customer_id="C3", email=None, phone=None, first_name="Zed", last_name=None,
                                country="Narnia", zip=None)], ignore_index=True)
    upload = customer_match_file(frame)
    expected = ("Email,Phone,First Name,Last Name,Country,Zip\n"
                f"{TEST_EMAIL_SHA256},{sha('+15551234567')},{sha('john')},{sha(chr(111) + chr(39) + 'neil')},US,94043-1234\n"
                f",{sha('+442079460958')},{sha('ann')},{sha('lee')},GB,SW1A 1AA\n").encode("utf-8")
    assert upload.data == expected
    assert sha("test@example.com") == TEST_EMAIL_SHA256
    assert upload.row_count == 2
    assert upload.stats["n_dropped_no_identifier"] == 1
    assert upload.stats["n_unknown_country"] == 1 and upload.stats["unknown_countries"] == ["Narnia"]
    assert upload.stats["n_invalid_email"] == 1


def test_meta_file_byte_for_byte():
    upload = meta_file(pd.concat([contacts(), contacts(customer_id="C2", email="x@y.org", phone=None, first_name=None,
                                                       last_name=None, country="Deutschland", zip=" 10115 ",
                                                       city=None, state=None)], ignore_index=True))
    expected = ("EMAIL,PHONE,FN,LN,ZIP,CT,ST,COUNTRY,EXTERN_ID\n"
                f"{TEST_EMAIL_SHA256},{sha('15551234567')},{sha('john')},{sha('oneil')},{sha('94043')},"
                f"{sha('mountainview')},{sha('ca')},{sha('us')},C1\n"
                f"{sha('x@y.org')},,,,{sha('10115')},,,{sha('de')},C2\n").encode("utf-8")
    assert upload.data == expected
    assert upload.stats["n_with_email"] == 2 and upload.stats["n_with_phone"] == 1


def test_uploads_have_no_bom_and_use_given_extern_ids():
    upload = meta_file(contacts(), extern_ids=["pseudo-1"])
    assert not upload.data.startswith(b"\xef\xbb\xbf") and b"\r" not in upload.data
    assert upload.data.decode("utf-8").splitlines()[1].endswith(",pseudo-1")
    assert not customer_match_file(contacts()).data.startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("raw, country, expected", [
    ("(555) 123-4567", "US", "+15551234567"),
    ("1-555-123-4567", "US", "+15551234567"),
    ("+44 20 7946 0958", None, "+442079460958"),
    ("0044 20 7946 0958", "FR", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("06 1234 5678", "IT", "+390612345678"),  # Italy keeps the leading 0
    ("555 1234", "US", ""),  # too short for a NANP number
    ("0612345678", None, ""),  # a local number without a known country
    ("", "US", ""),
])
def test_phones_normalise_to_e164(raw, country, expected):
    assert e164(raw, country) == expected


@pytest.mark.parametrize("name, code", [("United Kingdom", "GB"), ("uk", "GB"), ("U.S.A.", "US"), ("España", "ES"),
                                        ("Deutschland", "DE"), ("jp", "JP"), ("Netherlands", "NL"), ("Atlantis", None)])
def test_country_names_map_to_iso2(name, code):
    assert iso2(name) == code


def test_contact_table_and_segment_table_from_a_dataset():
    users = pd.DataFrame({"user_id": ["A", "B"], "Email": ["a@x.com", None], "postal_code": ["1000", "2000"],
                          "country": ["France", "Japan"], "tier": ["gold", "silver"]})
    events = pd.DataFrame({"user_id": ["A", "B"], "item_id": ["I", "I"]})
    data = Dataset.from_tables(events, None, users)
    table = contact_table(data, np.array([1, 0]))
    assert table["customer_id"].tolist() == ["B", "A"]
    assert table["email"].tolist() == [None, "a@x.com"] and table["zip"].tolist() == ["2000", "1000"]
    assert table["phone"].isna().all()
    members = pd.DataFrame({"user_id": ["B", "A"], "user_idx": [1, 0], "affinity": [0.9, 0.5], "rank": [1, 2]})
    analyst = segment_table(members, data)
    assert list(analyst.columns) == ["user_id", "rank", "affinity", "country", "tier"], "no contact columns"
