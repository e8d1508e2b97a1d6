"""Validation report: exact drop counts, time and number parsing, warnings, errors, import round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bad_files.corpus import build_corpus
from recsys.data.errors import DataValidationError
from recsys.data.importer import import_dataset
from recsys.data.mapping import ColumnMapping
from recsys.data.validation import (
    load_and_validate,
    parse_datetimes,
    parse_numbers,
    validate_tables,
)

NOW = pd.Timestamp("2025-01-01")


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame({k: pd.array(v, dtype="str") for k, v in cols.items()})


def validate(interactions: pd.DataFrame, **kw) -> object:
    raw = {"interactions": interactions, **{k: v for k, v in kw.items() if k in ("items", "users")}}
    opts = {k: v for k, v in kw.items() if k not in ("items", "users")}
    return validate_tables(raw, {}, {t: f"{t}.csv" for t in raw}, now=NOW, **opts)


def codes(report, severity=None) -> set[str]:
    return {i.code for i in report.issues if severity is None or i.severity == severity}


def issue(report, code):
    found = [i for i in report.issues if i.code == code]
    assert len(found) == 1, [i.line() for i in report.issues]
    return found[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("bad_files"))


# ----------------------------------------------------------------------------- drops


def test_dropped_rows_are_counted_exactly_with_reasons_and_rows():
    n = 40
    users = [f"u{i % 7}" for i in range(n)]
    items = [f"i{i % 5}" for i in range(n)]
    times = [f"2024-03-{1 + i % 28:02d} 10:00:00" for i in range(n)]
    users[3] = None
    users[4] = "  "
    items[5] = "nan"
    users[6], items[6] = None, None
    times[7] = "garbage"
    users[8], items[8], times[8] = None, None, None
    report = validate(frame(user=users, item=items, when=times))
    dropped = report.dropped["interactions"]
    assert dict(zip(dropped["row"], dropped["reason"])) == {
        5: "missing user_id", 6: "missing user_id", 7: "missing item_id",
        8: "missing user_id and item_id", 9: "unparseable timestamp", 10: "empty row",
    }
    assert report.ok
    assert report.n_dropped == 6 and len(report.tables["interactions"]) == n - 6
    stats = report.stats["interactions"]
    assert stats["rows_read"] == n and stats["rows"] == n - 6 and stats["dropped"] == 6
    assert stats["dropped_by_reason"]["missing user_id"] == 2
    assert issue(report, "missing_ids").count == 4
    assert issue(report, "bad_timestamps").severity == "warning"
    assert list(dropped.columns) == ["row", "user", "item", "when", "reason"]
    assert dropped.loc[dropped["row"] == 9, "when"].item() == "garbage"


def test_all_rows_without_ids_is_an_error():
    report = validate(frame(user_id=[None, " "], item_id=["a", "b"]))
    assert not report.ok and "no_valid_rows" in codes(report, "error")
    assert "interactions" not in report.tables


def test_examples_carry_source_row_numbers_and_at_most_five_rows():
    users = ["u1"] * 3 + [None] * 8
    report = validate(frame(user_id=users, item_id=["i"] * 11))
    ex = issue(report, "missing_ids").examples
    assert list(ex["row"]) == [5, 6, 7, 8, 9]
    assert list(ex.columns) == ["row", "user_id", "item_id"]


# ----------------------------------------------------------------------------- times


def times_of(values):
    times, bad, info = parse_datetimes(pd.Series(values, dtype="str"))
    assert str(times.dtype) == "datetime64[ns]"
    return times, bad, info


def test_iso_with_and_without_zone_becomes_naive_utc():
    times, bad, _ = times_of(["2024-01-05T10:00:00", "2024-01-05 10:00:00", "2024-01-05T12:00:00+02:00",
                              "2024-01-05T10:00:00Z", "2024-01-05T05:00:00-05:00"])
    assert (times == pd.Timestamp("2024-01-05 10:00")).all() and not bad.any()


def test_unix_seconds_and_milliseconds_by_magnitude():
    times, bad, info = times_of(["1704448800", "1704448800123", None])
    assert times[0] == pd.Timestamp("2024-01-05 10:00:00")
    assert times[1] == pd.Timestamp("2024-01-05 10:00:00.123")  # exact, not float-rounded
    assert pd.isna(times[2]) and not bad.any()
    assert {"unix seconds", "unix milliseconds"} <= set(info["formats"])


def test_day_first_and_month_first_formats():
    times, _, info = times_of(["25/12/2024 10:00", "01/02/2024 08:30"])
    assert list(times) == [pd.Timestamp("2024-12-25 10:00"), pd.Timestamp("2024-02-01 08:30")]
    retail, _, _ = times_of(["12/1/2010 8:26", "12/13/2010 9:00"])  # Online Retail is month-first
    assert list(retail) == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2010-12-13 09:00")]
    _, _, ambiguous = times_of(["01/02/2024", "03/04/2024"])
    assert ambiguous["ambiguous_day_month"]


def test_mixed_formats_element_wise_and_bad_values():
    times, bad, _ = times_of(["2024-01-05", "05.01.2024 10:00", "1704448800", "Jan 5 2024", "2024-13-45",
                              "soon", "9999-12-31"])
    assert list(times[:4].dt.date.astype(str)) == ["2024-01-05"] * 4
    assert list(bad) == [False] * 4 + [True] * 3


def test_timestamp_threshold_blocks_or_drops():
    good = [f"2024-01-{1 + i % 28:02d}" for i in range(20)]
    few = frame(user_id=[f"u{i}" for i in range(20)], item_id=["i"] * 20, ts=good[:19] + ["2024-13-45"])
    report = validate(few)
    assert report.ok and report.dropped["interactions"]["reason"].tolist() == ["unparseable timestamp"]
    many = frame(user_id=[f"u{i}" for i in range(20)], item_id=["i"] * 20, ts=good[:17] + ["x", "y", "z"])
    report = validate(many)
    err = issue(report, "bad_timestamps")
    assert err.severity == "error" and err.count == 3 and err.column == "ts"
    assert list(err.examples["row"]) == [19, 20, 21]
    assert validate(many, max_bad_timestamp_share=0.2).ok


def test_missing_timestamp_column_warns_about_what_is_unavailable():
    report = validate(frame(user_id=["a"], item_id=["b"]))
    message = issue(report, "no_timestamp").message
    assert all(w in message for w in ("time splits", "sequences", "decay", "replay"))


def test_suspicious_timestamps_are_kept_and_warned():
    report = validate(frame(user_id=["a", "b", "c"], item_id=["x", "y", "z"],
                            ts=["2024-01-01", "1985-06-01", "2031-01-01"]))
    assert issue(report, "suspicious_timestamps").count == 2
    assert len(report.tables["interactions"]) == 3


# ----------------------------------------------------------------------------- values


def test_parse_numbers_formats():
    num, bad = parse_numbers(pd.Series(["3,5", "1,234.50", "$12", "€ 7,50", " 4 ", None, "abc", "1.234,5", "inf"],
                                       dtype="str"))
    assert num[:5].tolist() == [3.5, 1234.5, 12.0, 7.5, 4.0]
    assert np.isnan(num[5]) and not bad[5]
    assert bad[6] and np.isnan(num[6])
    assert num[7] == 1234.5
    assert bad[8]
    clean, bad = parse_numbers(pd.Series(["1", "inf", "-2.5", None], dtype="str"))  # the fast all-numeric path
    assert clean[[0, 2]].tolist() == [1.0, -2.5] and bad.tolist() == [False, True, False, False]


def test_non_numeric_value_threshold():
    vals = [str(i % 5 + 1) for i in range(40)]
    ok = frame(user_id=[f"u{i}" for i in range(40)], item_id=["i"] * 40, rating=vals[:39] + ["five"])
    report = validate(ok)
    assert report.ok and report.dropped["interactions"]["reason"].tolist() == ["non-numeric value"]
    assert report.tables["interactions"]["value"].dtype == np.float64
    bad = frame(user_id=["u1", "u2", "u3"], item_id=["a", "b", "c"], rating=["five", "4", "lots"])
    report = validate(bad)
    assert issue(report, "non_numeric_value").severity == "error" and not report.ok


def test_missing_values_are_kept_as_nan():
    report = validate(frame(user_id=["a", "b"], item_id=["x", "y"], event=["view", "purchase"], revenue=[None, "9.5"]))
    assert report.ok and report.n_dropped == 0
    assert report.tables["interactions"]["value"].isna().tolist() == [True, False]


def test_extreme_and_negative_values_warned_not_dropped():
    values = ["1", "2", "2", "3", "1", "2", "3", "2", "-1", "80995"]
    report = validate(frame(user_id=[f"u{i}" for i in range(10)], item_id=["i"] * 10, Quantity=values))
    assert issue(report, "extreme_values").count == 1
    assert issue(report, "extreme_values").examples["Quantity"].tolist() == ["80995"]
    assert issue(report, "negative_values").count == 1
    assert len(report.tables["interactions"]) == 10


# ----------------------------------------------------------------------------- warnings


def test_duplicates_unknown_ids_single_events():
    inter = frame(user_id=["u1", "u1", "u1", "u2", "u2", "u3"], item_id=["a", "a", "b", "a", "zz", "b"],
                  ts=["2024-01-01", "2024-01-01", "2024-01-02", "2024-01-01", "2024-01-03", "2024-01-04"])
    items = frame(item_id=["a", "b", "c"], title=["A", "B", "C"])
    users = frame(user_id=["u1", "u2"], country=["UK", "FR"])
    report = validate(inter, items=items, users=users)
    assert report.ok
    assert issue(report, "duplicate_rows").count == 1
    assert list(issue(report, "duplicate_rows").examples["row"]) == [3]
    assert issue(report, "unknown_items").count == 1
    assert issue(report, "unknown_users").count == 1
    assert issue(report, "single_event_users").count == 1  # u3
    assert issue(report, "single_event_items").count == 1  # zz
    assert report.stats["interactions"]["n_duplicate_rows"] == 1
    assert len(report.tables["interactions"]) == 6  # duplicates are kept


def test_duplicates_need_every_column_equal():
    inter = frame(user_id=["u1", "u1"], item_id=["a", "a"], ts=["2024-01-01"] * 2, device=["web", "app"])
    assert "duplicate_rows" not in codes(validate(inter))


def test_float_style_ids_lose_dot_zero():
    report = validate(frame(CustomerID=["17850.0", "13047.0"], StockCode=["a", "b"]))
    assert report.tables["interactions"]["user_id"].tolist() == ["17850", "13047"]
    assert "float_ids" in codes(report, "warning")


def test_canonical_dtypes_and_event_types():
    report = validate(frame(userId=[" 7 ", "8"], movieId=["1", "2"], action=[" View ", "PURCHASE"],
                            ts=["2024-01-01", "2024-01-02"], amount=["1", "2.5"], basket=["b1", "b2"],
                            Channel=["email", None]))
    df = report.tables["interactions"]
    assert list(df.columns) == ["user_id", "item_id", "timestamp", "event_type", "value", "session_id", "channel"]
    assert df["user_id"].tolist() == ["7", "8"]
    assert df["event_type"].tolist() == ["view", "purchase"]
    assert str(df["timestamp"].dtype) == "datetime64[ns]" and df["value"].dtype == np.float64
    assert all(str(df[c].dtype) == "str" for c in ("user_id", "item_id", "event_type", "session_id", "channel"))


# ----------------------------------------------------------------------------- items and users


def test_items_duplicates_tags_and_attribute_types():
    items = frame(sku=["a", "b", "a", None], name=["A", "B", "A again", "none"], keywords=["x, y", "z", "w", None],
                  price=["1.5", "2", "3", "4"], launch_date=["2024-01-01", "2024-02-01", "2024-03-01", None],
                  brand_id=["007", "008", "009", "010"])
    report = validate(frame(user_id=["u"], item_id=["a"]), items=items)
    df = report.tables["items"]
    assert df["item_id"].tolist() == ["a", "b"] and df["title"].tolist() == ["A", "B"]
    assert df["tags"].tolist() == ["x|y", "z"]
    assert df["price"].dtype == np.float64
    assert str(df["launch_date"].dtype) == "datetime64[ns]"
    assert df["brand_id"].tolist() == ["007", "008"]
    reasons = report.dropped["items"]["reason"].tolist()
    assert reasons == ["duplicate item_id", "missing item_id"]
    assert issue(report, "duplicate_item_ids").count == 1


def test_items_without_id_is_an_error_and_blocks():
    report = validate(frame(user_id=["u"], item_id=["a"]), items=frame(title=["A"], colour=["red"]))
    err = issue(report, "missing_required_column")
    assert err.table == "items" and "found columns: title, colour" in err.message
    assert not report.ok and "items" not in report.tables


def test_users_attributes():
    users = frame(customer_id=["u1", "u2"], Age=["34", "51"], signup=["2023-05-01", "01/02/2023"],
                  email=["a@x.com", "b@y.org"], phone=["0044123", "0033456"], zip=["01234", "99999"])
    report = validate(frame(user_id=["u1", "u2"], item_id=["a", "b"]), users=users)
    df = report.tables["users"]
    assert df["age"].dtype == np.float64
    assert str(df["signup_date"].dtype) == "datetime64[ns]"
    assert df["phone"].tolist() == ["0044123", "0033456"] and df["zip"].tolist() == ["01234", "99999"]


# ----------------------------------------------------------------------------- report & loading


def test_report_summary_and_json():
    report = validate(frame(user_id=["a", None], item_id=["b", "c"], ts=["2024-01-01", "x"]),
                      max_bad_timestamp_share=0.9)
    text = report.summary()
    assert "\n" not in text and text.startswith("OK: interactions 1 row (1 dropped), 1 user, 1 item")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] and data["n_dropped"] == 1
    assert data["mappings"]["interactions"]["roles"]["user_id"] == "user_id"
    bad = validate(frame(a=["1"]))
    assert bad.summary().startswith("1 error") and not bad.ok
    assert bad.lines()[0].startswith("ERROR [missing_required_column] interactions.csv (interactions)")


def test_explicit_mapping_overrides(corpus):
    report = load_and_validate({"interactions": corpus["semicolon.csv"]},
                               {"interactions": {"user_id": "Kunde", "item_id": "Artikel", "timestamp": "Datum",
                                                 "value": "Menge"}})
    assert report.ok, report.lines()
    df = report.tables["interactions"]
    assert df["value"].tolist() == [3.5, 4.0, 1.5]
    assert df["timestamp"].tolist()[0] == pd.Timestamp("2024-01-05 10:00")
    final = validate_tables({"interactions": frame(user=["a"], item=["b"], rating=["5"])},
                            {"interactions": ColumnMapping("interactions", {"user_id": "user", "item_id": "item"})})
    assert "value" not in final.tables["interactions"] and "rating" in final.tables["interactions"]


@pytest.mark.parametrize("name, code", [("empty.csv", "empty_file"), ("junk.bin", "unsupported_format"),
                                        ("header_only.csv", "header_only"), ("dup_header.csv", "duplicate_columns"),
                                        ("missing_columns.csv", "missing_required_column"),
                                        ("bad_ts.csv", "bad_timestamps"), ("corrupt.parquet", "unreadable")])
def test_load_and_validate_turns_bad_files_into_errors(corpus, name, code):
    report = load_and_validate({"interactions": corpus[name]})
    assert not report.ok and code in codes(report, "error")
    assert report.errors[0].file == name


def test_load_and_validate_never_raises_on_odd_sources(tmp_path):
    report = load_and_validate({"interactions": tmp_path, "items": object(), "orders": b"a,b\n1,2\n",
                                "users": None}, mappings="{not json")
    assert not report.ok
    assert {"unreadable", "unknown_table", "bad_mapping"} <= codes(report, "error")
    assert "internal_error" not in codes(report)
    assert load_and_validate({}).errors[0].code == "missing_table"


def test_good_corpus_files_validate(corpus):
    for name in ("good.csv", "good.parquet", "good.xlsx", "mixed_ts.csv", "quoted.csv", "latin1.csv"):
        report = load_and_validate({"interactions": corpus[name]})
        assert report.ok, (name, report.lines())
    assert load_and_validate({"interactions": corpus["mixed_ts.csv"]}).tables["interactions"]["timestamp"].notna().all()


# ----------------------------------------------------------------------------- import


def test_import_round_trip(tmp_path):
    from recsys.workspace import Workspace

    inter = frame(CustomerID=["1", "1", "2", None], StockCode=["a", "b", "a", "c"],
                  InvoiceDate=["2024-01-01 10:00", "2024-01-02 11:00", "2024-01-03 12:00", "2024-01-04"],
                  Quantity=["1", "2", "3", "4"], Country=["UK", "UK", "FR", "DE"])
    items = frame(StockCode=["a", "b", "c"], Description=["Mug", "Lamp", "Tea"], UnitPrice=["1.5", "20", "3"])
    report = validate_tables({"interactions": inter, "items": items}, {}, {"interactions": "r.csv", "items": "i.csv"})
    assert report.ok
    ws = Workspace(tmp_path / "ws")
    info = import_dataset(report, "retail", ws, source={"test": True})
    assert info.row_counts["interactions"] == 3 and info.row_counts["dropped_interactions"] == 1
    loaded = ws.load_tables("retail")
    pd.testing.assert_frame_equal(loaded["interactions"], report.tables["interactions"])
    pd.testing.assert_frame_equal(loaded["items"], report.tables["items"])
    assert loaded["dropped_interactions"]["reason"].tolist() == ["missing user_id"]
    assert loaded["dropped_interactions"]["row"].tolist() == [5]
    meta = ws.dataset_info("retail").metadata
    assert meta["mappings"]["interactions"]["roles"]["user_id"] == "CustomerID"
    assert meta["dropped_counts"] == {"interactions": 1, "items": 0}
    assert meta["summary"] == report.summary() and meta["source"] == {"test": True}
    assert info.fingerprint


def test_import_refuses_errors_and_existing_names(tmp_path):
    from recsys.workspace import Workspace, WorkspaceError

    ws = Workspace(tmp_path / "ws")
    with pytest.raises(DataValidationError, match="cannot import"):
        import_dataset(validate(frame(a=["1"])), "x", ws)
    good = validate(frame(user_id=["u"], item_id=["i"]))
    import_dataset(good, "x", ws)
    with pytest.raises(WorkspaceError):
        import_dataset(good, "x", ws)
    assert import_dataset(good, "x", ws, overwrite=True).name == "x"


def test_import_uses_default_workspace(isolated_workspace):
    from recsys.workspace import Workspace

    import_dataset(validate(frame(user_id=["u"], item_id=["i"])), "default-ws")
    assert Workspace(isolated_workspace).has_dataset("default-ws")


def test_report_json_without_examples():
    report = validate(frame(user_id=["a", None, "b"], item_id=["x", "y", "z"]))
    full, light = report.to_dict(), report.to_dict(examples=False)
    assert full["issues"][0]["examples"] and all("examples" not in i for i in light["issues"])
    assert {k: v for k, v in full.items() if k != "issues"} == {k: v for k, v in light.items() if k != "issues"}
    assert report.issues[0].to_dict(examples=False) == {
        k: v for k, v in report.issues[0].to_dict().items() if k != "examples"}


def test_import_metadata_keeps_warnings_without_examples(tmp_path):
    from recsys.workspace import Workspace

    report = validate(frame(user_id=["a", None, "b"], item_id=["x", "y", "z"]))
    info = import_dataset(report, "light", Workspace(tmp_path / "ws"))
    assert [w["code"] for w in info.metadata["warnings"]] == [i.code for i in report.warnings]
    assert all("examples" not in w for w in info.metadata["warnings"])
    assert info.metadata["stats"] == json.loads(json.dumps(report.to_dict()["stats"]))


def _big_log(n: int = 120_000) -> pd.DataFrame:
    """Big enough for the threaded column jobs and the category codes, with planted problems."""
    rng = np.random.default_rng(3)
    users = np.char.add("u", rng.integers(0, 5_000, n).astype(str)).astype(object)
    items = np.char.add("sku-", rng.integers(0, 800, n).astype(str)).astype(object)
    times = np.datetime_as_string(np.datetime64("2024-01-01") + rng.integers(0, 10**7, n).astype("timedelta64[s]"))
    times = times.astype(object)
    events = np.array([" View", "click", "PURCHASE ", "n/a"], dtype=object)[rng.integers(0, 4, n)]
    device = np.array(["mobile", "desktop", None], dtype=object)[rng.integers(0, 3, n)]
    users[::997], items[5::1009], times[7::4001] = None, "NULL", "not a time"
    return frame(user_id=users, item_id=items, timestamp=times, event_type=events, device=device,
                 value=rng.integers(1, 9, n).astype(str))


def _summary(report) -> tuple:
    issues = sorted((i.severity, i.code, i.column, i.count) for i in report.issues)
    return issues, report.stats, {t: report.dropped[t]["reason"].value_counts().to_dict() for t in report.dropped}


def test_threaded_column_jobs_give_the_single_threaded_report(monkeypatch, tmp_path):
    from recsys.workspace import Workspace

    raw = _big_log()
    monkeypatch.setenv("RECSYS_INGEST_THREADS", "1")
    single = validate(raw)
    monkeypatch.setenv("RECSYS_INGEST_THREADS", "3")
    threaded = validate(raw)
    assert _summary(threaded) == _summary(single)
    pd.testing.assert_frame_equal(threaded.tables["interactions"], single.tables["interactions"])
    kept = threaded.tables["interactions"]
    assert set(kept["event_type"].dropna()) == {"view", "click", "purchase"}
    assert threaded.stats["interactions"]["event_types"] == kept["event_type"].value_counts().to_dict()
    # the codes handed to the workspace describe the kept rows exactly
    for column, (codes, uniques) in threaded.encodings["interactions"].items():
        decoded = pd.Series(pd.Index(uniques).take(np.maximum(codes, 0)), dtype="str").mask(codes < 0)
        pd.testing.assert_series_equal(decoded, kept[column], check_names=False)
    assert {"user_id", "item_id", "event_type", "device"} <= set(threaded.encodings["interactions"])
    ws = Workspace(tmp_path / "ws")
    import_dataset(threaded, "big", ws)
    pd.testing.assert_frame_equal(ws.load_tables("big")["interactions"], kept)
