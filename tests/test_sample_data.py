"""Tests of the synthetic content-platform generator and the committed sample data."""

from __future__ import annotations

import gzip
import json
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sample_data import CONTENT_PLATFORM_DIR, ONLINE_RETAIL_DIR
from sample_data import generate as gen
from sample_data import make_online_retail_subset as subset
from sample_data import planted as P

REPO = pathlib.Path(__file__).resolve().parents[1]
SMALL = ["--users", "400", "--items", "200", "--events", "15000", "--seed", "7"]
FILES = ["items.csv", "customers.csv", "events.csv.gz", "planted.json"]
ITEM_COLS = ["item_id", "title", "description", "content_type", "category", "tags", "brand",
             "price", "publish_date"]
CUSTOMER_COLS = ["customer_id", "age_group", "gender", "country", "loyalty_tier",
                 "preferred_device", "signup_date", "email"]
EVENT_COLS = ["customer_id", "item_id", "event_time", "event_type", "device", "channel",
              "session_id"]


def _load(d: pathlib.Path) -> dict:
    return {
        "items": pd.read_csv(d / "items.csv"),
        "customers": pd.read_csv(d / "customers.csv"),
        "events": pd.read_csv(d / "events.csv.gz"),
        "planted": json.loads((d / "planted.json").read_text()),
    }


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp("small")
    gen.main([*SMALL, "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def small(small_dir) -> dict:
    return _load(small_dir)


@pytest.fixture(scope="module")
def ev(small) -> pd.DataFrame:
    """Events joined with item and customer attributes, plus parsed time columns."""
    e = small["events"].merge(small["items"][["item_id", "category", "content_type"]],
                              on="item_id", how="left")
    e = e.merge(small["customers"], on="customer_id", how="left")
    e["t"] = pd.to_datetime(e["event_time"], format="%Y-%m-%dT%H:%M:%S")
    e["hour"] = e["t"].dt.hour
    return e


# --- determinism -------------------------------------------------------------------------


def test_cli_same_seed_gives_identical_bytes(small_dir, tmp_path):
    out = tmp_path / "again"
    res = subprocess.run([sys.executable, "-m", "sample_data.generate", *SMALL, "--out", str(out)],
                         cwd=REPO, capture_output=True, text=True, check=True)
    assert res.stdout.count("\n") == 1 and "15000 events" in res.stdout
    for name in FILES:
        assert (out / name).read_bytes() == (small_dir / name).read_bytes(), name


def test_gzip_header_has_no_timestamp_or_name(small_dir):
    head = (small_dir / "events.csv.gz").read_bytes()[:10]
    assert head[:2] == b"\x1f\x8b" and head[4:8] == b"\x00\x00\x00\x00"
    assert head[3] & 0x08 == 0  # FNAME flag unset


def test_different_seed_gives_different_data(small_dir, tmp_path):
    args = [a if a != "7" else "8" for a in SMALL]
    gen.main([*args, "--out", str(tmp_path)])
    for name in ["items.csv", "customers.csv", "events.csv.gz"]:
        assert (tmp_path / name).read_bytes() != (small_dir / name).read_bytes(), name


# --- schema ------------------------------------------------------------------------------


def test_columns_and_sizes(small):
    assert list(small["items"].columns) == ITEM_COLS
    assert list(small["customers"].columns) == CUSTOMER_COLS
    assert list(small["events"].columns) == EVENT_COLS
    assert len(small["items"]) == 200 and len(small["customers"]) == 400
    assert len(small["events"]) == 15000


def test_ids_are_unique_strings(small):
    items, cust, events = small["items"], small["customers"], small["events"]
    for col, pattern in [(items["item_id"], r"I\d{5}"), (cust["customer_id"], r"C\d{6}"),
                         (events["session_id"], r"S\d{7}")]:
        assert pd.api.types.is_string_dtype(col)
        assert col.str.fullmatch(pattern).all()
    assert items["item_id"].is_unique and cust["customer_id"].is_unique
    assert events["item_id"].isin(items["item_id"]).all()
    assert events["customer_id"].isin(cust["customer_id"]).all()


def test_item_fields(small):
    items = small["items"]
    assert set(items["content_type"]) == set(P.CONTENT_TYPES)
    assert set(items["category"]) == set(P.TOPIC_NAMES)
    assert pd.api.types.is_float_dtype(items["price"]) and (items["price"] >= 0).all()
    free = items["content_type"].isin(["article", "video"])
    assert (items.loc[free, "price"] == 0).all() and (items.loc[~free, "price"] > 0).all()
    tags = items["tags"].str.split("|")
    assert tags.map(len).between(2, 5).all() and tags.map(lambda t: "" not in t).all()
    sentences = items["description"].str.count(r"\.(?:\s|$)")
    assert sentences.between(1, 3).all()
    assert items["title"].notna().all() and items["brand"].notna().all()
    pd.to_datetime(items["publish_date"], format="%Y-%m-%d")


def test_customer_fields(small):
    cust = small["customers"]
    assert set(cust["age_group"]) <= set(P.AGE_GROUPS)
    assert set(cust["country"]) <= set(P.COUNTRIES)
    assert set(cust["loyalty_tier"]) <= set(P.LOYALTY_TIERS)
    assert set(cust["preferred_device"]) <= set(P.DEVICES)
    assert cust["email"].str.fullmatch(r"[a-z]+\.[a-z]+\d+@example\.com").all()
    assert cust["email"].is_unique
    pd.to_datetime(cust["signup_date"], format="%Y-%m-%d")


def test_event_fields_and_order(small, ev):
    events = small["events"]
    assert events["event_time"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    assert events["event_time"].is_monotonic_increasing
    assert set(events["event_type"]) == set(P.EVENT_TYPES)
    assert set(events["device"]) <= set(P.DEVICES) and set(events["channel"]) <= set(P.CHANNELS)
    assert ev["t"].min() >= pd.Timestamp(P.START)
    assert ev["t"].max() < pd.Timestamp(P.END) + pd.Timedelta(days=1)
    assert (ev["t"] >= pd.to_datetime(ev["signup_date"])).all()
    pub = ev["item_id"].map(small["items"].set_index("item_id")["publish_date"])
    assert (ev["t"] >= pd.to_datetime(pub)).all()


def test_sessions_belong_to_one_customer_and_do_not_interleave(ev):
    per_session = ev.groupby("session_id").agg(n_cust=("customer_id", "nunique"),
                                               first=("t", "min"), last=("t", "max"),
                                               cust=("customer_id", "first"))
    assert (per_session["n_cust"] == 1).all()
    s = per_session.sort_values(["cust", "first"])
    same = s["cust"].eq(s["cust"].shift())
    assert (s["first"][same] > s["last"].shift()[same]).all()
    assert ev["session_id"].nunique() > 1000


def test_funnel_shape(ev):
    counts = ev["event_type"].value_counts()
    assert counts["view"] > counts["click"] > counts["add_to_cart"] > counts["purchase"] > 0
    bought = ev.loc[ev["event_type"] == "purchase", "content_type"]
    assert bought.isin(["offer", "product"]).mean() > 0.9


def test_activity_is_heavy_tailed(small, ev):
    per_customer = ev.groupby("customer_id").size()
    assert per_customer.max() > 8 * per_customer.median()
    assert (per_customer >= 2).mean() > 0.97
    assert len(per_customer) >= 0.95 * len(small["customers"])


# --- planted structure -------------------------------------------------------------------


def test_planted_json_keys(small):
    pl = small["planted"]
    for key in ["generator", "topics", "segment_topic_preferences", "series", "promotion",
                "trend_shift", "new_items", "underserved_group", "device_time_effects",
                "popularity", "funnel", "activity"]:
        assert key in pl, key
    assert pl["generator"] == {"users": 400, "items": 200, "events": 15000, "seed": 7,
                               "start": "2025-01-01", "end": "2025-12-31", "timezone": "UTC"}
    assert all(len(s["item_ids"]) >= 4 for s in pl["series"]) and len(pl["series"]) >= 2


def test_segment_topic_preferences_differ(ev, small):
    age_topics = small["planted"]["segment_topic_preferences"]["age_group"]["topics"]
    for group, topics in age_topics.items():
        inside = ev["age_group"] == group
        share_in = ev.loc[inside, "category"].isin(topics).mean()
        share_out = ev.loc[~inside, "category"].isin(topics).mean()
        assert share_in > 1.3 * share_out, group


def _consumption_sequence(ev: pd.DataFrame) -> pd.DataFrame:
    """One row per interaction (its view event), in time order per customer."""
    views = ev[ev["event_type"] == "view"].sort_values(["customer_id", "t"], kind="stable")
    return views.assign(next_item=views.groupby("customer_id")["item_id"].shift(-1))


def test_series_are_consumed_in_order(ev, small):
    nxt = {a: b for s in small["planted"]["series"]
           for a, b in zip(s["item_ids"], s["item_ids"][1:])}
    seq = _consumption_sequence(ev)
    on_part = seq["item_id"].isin(list(nxt)) & seq["next_item"].notna()
    assert on_part.sum() > 200
    rate = (seq.loc[on_part, "next_item"] == seq.loc[on_part, "item_id"].map(nxt)).mean()
    assert rate > 0.6


def test_sequential_model_beats_popularity_on_next_item(ev):
    seq = _consumption_sequence(ev).dropna(subset=["next_item"])
    cut = seq["t"].quantile(0.8)
    train, test = seq[seq["t"] < cut], seq[seq["t"] >= cut]
    k = 10
    top = list(train["next_item"].value_counts().index[:k])
    succ = (train.groupby(["item_id", "next_item"]).size().rename("n").reset_index()
            .sort_values(["item_id", "n"], ascending=[True, False], kind="stable")
            .groupby("item_id")["next_item"].apply(list).to_dict())

    def markov(item: str) -> list[str]:
        seen = succ.get(item, [])[:k]
        return seen + [i for i in top if i not in seen][: k - len(seen)]

    pop_hit = test["next_item"].isin(top).mean()
    seq_hit = np.mean([n in markov(i) for i, n in zip(test["item_id"], test["next_item"])])
    assert seq_hit > pop_hit + 0.05


def test_device_and_time_of_day_effects(ev):
    mobile = ev[ev["device"] == "mobile"]
    evening = (mobile.loc[mobile["hour"] >= 18, "content_type"] == "video").mean()
    morning = (mobile.loc[mobile["hour"].between(6, 10), "content_type"] == "video").mean()
    assert evening > morning + 0.15
    desktop = ev[ev["device"] == "desktop"]
    d_morning = (desktop.loc[desktop["hour"].between(6, 10), "content_type"] == "article").mean()
    d_evening = (desktop.loc[desktop["hour"] >= 18, "content_type"] == "article").mean()
    assert d_morning > d_evening + 0.1
    lunch_mail = (ev["channel"] == "email") & ev["hour"].between(11, 14)
    assert (ev.loc[lunch_mail, "content_type"] == "offer").mean() > 2 * (
        ev.loc[~lunch_mail, "content_type"] == "offer").mean()
    share = ev["hour"].value_counts(normalize=True)
    assert share[20] > 4 * share[4]


def test_promotion_window_spike(ev, small):
    promo = small["planted"]["promotion"]
    inside = ev["t"].between(pd.Timestamp(promo["start"]),
                             pd.Timestamp(promo["end"]) + pd.Timedelta(days=1))
    hit = ev["category"].isin(promo["categories"]) & (ev["content_type"] == "offer")
    assert hit[inside].mean() > 3 * hit[~inside].mean()


def test_trend_shift(ev, small):
    shift = small["planted"]["trend_shift"]
    date = pd.Timestamp(shift["date"])
    after = ev["t"] >= date
    before = ev["t"].between(date - pd.Timedelta(days=90), date, inclusive="left")
    def share(mask: pd.Series, cat: str) -> float:
        return (ev.loc[mask, "category"] == cat).mean()

    for cat in shift["rising"]:
        assert share(after, cat) > 1.4 * share(before, cat), cat
    for cat in shift["falling"]:
        assert share(after, cat) < 0.6 * share(before, cat), cat


def test_new_items_have_no_events(small):
    items, new = small["items"], small["planted"]["new_items"]["item_ids"]
    assert 0.03 <= len(new) / len(items) <= 0.05
    assert not small["events"]["item_id"].isin(new).any()
    pub = pd.to_datetime(items.set_index("item_id").loc[new, "publish_date"])
    assert (pub > pd.Timestamp(P.END) - pd.Timedelta(days=P.NEW_ITEM_DAYS)).all()
    seen = set(small["events"]["item_id"])
    old = items[~items["item_id"].isin(new)]
    assert old["item_id"].isin(seen).mean() > 0.9


def test_popularity_has_long_tail(ev, small):
    counts = ev["item_id"].value_counts()
    head = counts.iloc[: len(small["items"]) // 10].sum() / counts.sum()
    tail = counts.iloc[len(counts) // 2:].sum() / counts.sum()
    assert head > 0.3 and tail < 0.2
    assert counts.max() > 5 * counts.median()


def test_popularity_serves_planted_group_worse(ev, small):
    group = small["planted"]["underserved_group"]
    pairs = ev.drop_duplicates(["customer_id", "item_id"])
    top = set(pairs["item_id"].value_counts().index[:20])
    hit = pairs.assign(hit=pairs["item_id"].isin(top)).groupby("customer_id").agg(
        hit=("hit", "mean"), value=(group["column"], "first"))
    mine = hit["value"] == group["value"]
    assert mine.sum() >= 10
    assert hit.loc[mine, "hit"].mean() < 0.8 * hit.loc[~mine, "hit"].mean()
    fav = (ev.loc[ev[group["column"]] == group["value"], "category"] == group["favourite_topic"])
    assert fav.mean() > 0.3 and (ev["category"] == group["favourite_topic"]).mean() < 0.1


def test_rejects_too_small_arguments():
    with pytest.raises(ValueError):
        gen.generate(users=5, items=200, events=1000, seed=1)


# --- committed data ----------------------------------------------------------------------


def test_committed_default_dataset():
    d = CONTENT_PLATFORM_DIR
    sizes = {name: (d / name).stat().st_size for name in FILES}
    assert sum(sizes.values()) < 10 * 1024 * 1024
    data = _load(d)
    assert data["planted"]["generator"]["seed"] == gen.DEFAULT_ARGS["seed"]
    assert {k: data["planted"]["generator"][k] for k in gen.DEFAULT_ARGS} == gen.DEFAULT_ARGS
    assert len(data["customers"]) == gen.DEFAULT_ARGS["users"]
    assert len(data["items"]) == gen.DEFAULT_ARGS["items"]
    assert len(data["events"]) == gen.DEFAULT_ARGS["events"]
    assert list(data["events"].columns) == EVENT_COLS
    counts = data["events"]["item_id"].value_counts()
    assert counts.iloc[: len(counts) // 10].sum() > 0.45 * len(data["events"])  # long tail


@pytest.mark.slow
def test_committed_default_matches_generator(tmp_path):
    gen.main(["--out", str(tmp_path)])
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (CONTENT_PLATFORM_DIR / name).read_bytes(), name


def test_committed_online_retail_subset():
    d = ONLINE_RETAIL_DIR
    path = d / "online_retail_sample.csv.gz"
    assert path.stat().st_size < 3 * 1024 * 1024
    raw = subset.read_raw(path)
    assert list(raw.columns) == subset.COLUMNS
    known = raw["CustomerID"] != ""
    assert 900 <= raw.loc[known, "CustomerID"].nunique() <= 1100
    assert (~known).sum() > 500
    cancelled = raw["InvoiceNo"].str.startswith("C")
    assert cancelled.any() and (pd.to_numeric(raw.loc[cancelled, "Quantity"]) < 0).all()
    items = pd.read_csv(d / "items.csv", dtype={"StockCode": str})
    customers = pd.read_csv(d / "customers.csv", dtype={"CustomerID": str})
    assert list(items.columns) == ["StockCode", "Description", "UnitPrice"]
    assert list(customers.columns) == ["CustomerID", "Country"]
    assert set(items["StockCode"]) == set(raw["StockCode"])
    assert set(customers["CustomerID"]) == set(raw.loc[known, "CustomerID"])


def _toy_raw() -> pd.DataFrame:
    rows = []
    for c in range(30):
        for line in range(3):
            rows.append((f"5{c:05d}", f"2{line}00{c % 4}", f"THING {line}", "2",
                         "2011-01-01 10:00:00", "1.25", f"{12000 + c}.0", "United Kingdom"))
    rows.append(("C599999", "20001", "THING 1", "-2", "2011-01-02 10:00:00", "1.25", "12001.0",
                 "United Kingdom"))
    for inv in range(5):
        rows.append((f"58{inv:04d}", "20002", "", "1", "2011-01-03 10:00:00", "0", "", "France"))
    return pd.DataFrame(rows, columns=subset.COLUMNS)


def test_subset_script_is_deterministic_and_keeps_mess(tmp_path):
    src = tmp_path / "raw.csv.gz"
    _toy_raw().to_csv(src, index=False)
    raw = subset.read_raw(src)
    a = subset.select_rows(raw, n_customers=10, anonymous_rows=3, seed=1)
    b = subset.select_rows(raw, n_customers=10, anonymous_rows=3, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert a["CustomerID"].replace("", np.nan).nunique() == 10
    assert (a["CustomerID"] == "").sum() == 3
    subset.main(["--source", str(src), "--out", str(tmp_path / "o1"), "--customers", "10",
                 "--anonymous-rows", "3", "--seed", "1"])
    subset.main(["--source", str(src), "--out", str(tmp_path / "o2"), "--customers", "10",
                 "--anonymous-rows", "3", "--seed", "1"])
    for name in ["online_retail_sample.csv.gz", "items.csv", "customers.csv"]:
        assert (tmp_path / "o1" / name).read_bytes() == (tmp_path / "o2" / name).read_bytes()
    with gzip.open(tmp_path / "o1" / "online_retail_sample.csv.gz", "rt") as fh:
        assert fh.readline().strip() == ",".join(subset.COLUMNS)
