"""Feature encoding for the feature-aware models: vocabularies, buckets, text, context, state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset
from recsys.models.features import (DAYPARTS, FeatureEncoder, NumericBuckets, TextEncoder, Vocabulary,
                                    _modal_rows)

# 2025-01-06 was a Monday; 00:00 UTC.
MONDAY = 1_736_121_600
HOUR = 3600


def _tiny() -> Dataset:
    interactions = pd.DataFrame({
        "user_id": ["u1", "u1", "u1", "u2", "u2", "u3"],
        "item_id": ["a", "b", "a", "c", "a", "b"],
        "timestamp": [MONDAY + 21 * HOUR, MONDAY + 22 * HOUR, MONDAY + 86_400 + 20 * HOUR,
                      MONDAY + 8 * HOUR, MONDAY + 5 * 86_400 + 9 * HOUR, MONDAY + 12 * HOUR],
        "device": ["mobile", "mobile", "tv", "desktop", "desktop", "mobile"],
        "channel": ["app", "app", "app", "web", "web", "email"],
    })
    items = pd.DataFrame({
        "item_id": ["a", "b", "c", "new"],
        "title": ["trail running shoes", "pasta recipe video", "stock market basics", "running socks"],
        "description": ["light shoes for trail running", "cook pasta at home", "learn to invest", ""],
        "category": ["Outdoor", "Cooking", "Finance", "Outdoor"],
        "content_type": ["product", "video", "article", "product"],
        "tags": ["running|shoes", "pasta", None, "running|socks|sale"],
        "price": [80.0, 0.0, 0.0, 12.0],
    })
    users = pd.DataFrame({
        "user_id": ["u1", "u2", "u3", "u4"],
        "age_group": ["18-24", "45-54", "18-24", "65+"],
        "country": ["France", "Spain", "France", "Japan"],
        "email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com"],
    })
    return Dataset.from_tables(interactions, items, users)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return _tiny()


@pytest.fixture(scope="module")
def encoder(data) -> FeatureEncoder:
    return FeatureEncoder.fit(data, text_dim=2)


def test_vocabulary_orders_by_frequency_and_maps_unknown_to_zero():
    vocab = Vocabulary.build(["b", "a", "b", None, " c ", "a", "b"])
    assert vocab.values == ["b", "a", "c"]
    assert len(vocab) == 4
    assert vocab.encode(["a", "zzz", None, "c", ""]).tolist() == [2, 0, 0, 3, 0]
    assert vocab.decode([1, 0, 3]) == ["b", None, "c"]


def test_numeric_buckets_encode_missing_as_zero_and_round_trip():
    buckets = NumericBuckets.build(np.arange(100.0), n_buckets=4)
    codes = buckets.encode([0.0, 30.0, 99.0, np.nan, 1e9])
    assert codes[3] == 0
    assert list(codes[[0, 1, 2]]) == sorted(codes[[0, 1, 2]]) and codes[0] < codes[2]
    assert codes[4] == len(buckets) - 1
    again = NumericBuckets(json.loads(json.dumps(buckets.to_json()))["edges"])
    assert np.array_equal(again.encode([0.0, 30.0, 99.0, np.nan]), codes[:4])


def test_text_encoder_round_trips_through_arrays():
    texts = ["trail running shoes for the mountains", "pasta recipe with tomato", "invest in index funds",
             "running in the mountains", "tomato soup recipe"]
    enc = TextEncoder.fit(texts, 3)
    z = enc.transform(texts)
    assert z.shape == (5, enc.dim) and enc.dim >= 2
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    again = TextEncoder(enc.terms, enc.to_arrays()["text_idf"], enc.to_arrays()["text_components"])
    assert np.allclose(again.transform(texts), z)
    assert np.allclose(again.transform(["", "qwertyuiop"]), 0.0)
    # Running texts are closer to each other than to the pasta recipe.
    assert z[0] @ z[3] > z[0] @ z[1]


def test_fields_groups_and_personal_data_left_out(encoder):
    assert encoder.groups() == ["collaborative", "customer", "item", "text", "context"]
    names = {f.group: [] for f in encoder.fields()}
    for f in encoder.fields():
        names[f.group].append(f.name)
    assert names["customer"] == ["age_group", "country"]  # never e-mail
    assert names["item"] == ["category", "content_type", "price", "tags"]
    assert names["context"] == ["device", "channel", "daypart", "weekday"]


def test_ids_without_events_and_unseen_values_are_unknown(data, encoder):
    u4, new = data.users.index_of(["u4"])[0], data.items.index_of(["new"])[0]
    arrays = encoder.encode([u4, 0], [new, 0])
    assert arrays["collaborative"][0].tolist() == [0, 0]
    assert arrays["collaborative"][1].tolist() == [1, 1]
    # u4 is 65+/Japan, values no user with events has.
    assert arrays["customer"][0].tolist() == [0, 0]
    row = encoder.decode("item", arrays["item"][0])
    assert row["category"] == "Outdoor" and row["content_type"] == "product"
    assert row["tags"] == ["running"]  # "socks" and "sale" were never seen on an item with events
    assert np.linalg.norm(arrays["text"][0]) > 0  # new items still have text


def test_context_dict_hour_weekday_missing_and_foreign_keys(data, encoder):
    users = np.array([0, 1])
    codes = encoder.context_codes({"device": "mobile", "hour": 21, "weekday": 5, "page": "home"}, users)
    assert codes.shape == (2, 4)
    decoded = encoder.decode("context", codes[0])
    assert decoded == {"device": "mobile", "channel": None, "daypart": "evening", "weekday": "Sat"}
    assert encoder.decode("context", encoder.context_codes({"weekday": "saturday"}, [0])[0])["weekday"] == "Sat"
    assert (encoder.context_codes({}, users) == 0).all()
    assert (encoder.context_codes({"device": "fridge", "hour": 99}, users) == 0).all()
    per_row = encoder.context_codes({"device": ["mobile", "desktop"], "hour": [8, 21]}, users)
    assert [encoder.decode("context", r)["daypart"] for r in per_row] == ["morning", "evening"]
    assert DAYPARTS[8] == "morning"


def test_default_context_is_each_users_most_frequent(data, encoder):
    u1, u2, u4 = data.users.index_of(["u1", "u2", "u4"])
    default = encoder.context_codes(None, [u1, u2, u4])
    assert encoder.decode("context", default[0])["device"] == "mobile"
    assert encoder.decode("context", default[0])["daypart"] == "evening"
    assert encoder.decode("context", default[1])["device"] == "desktop"
    assert (default[2] == 0).all()  # no events: unknown context


def test_event_context_reads_time_in_utc(data, encoder):
    codes = encoder.event_context(data.frame)
    first = encoder.decode("context", codes[0])
    assert first["weekday"] == "Mon" and first["daypart"] == "morning"  # u2 at 08:00 Monday is first


def test_state_round_trip_gives_identical_encodings(data, encoder):
    config, arrays = encoder.to_state()
    again = FeatureEncoder.from_state(json.loads(json.dumps(config)), {k: v.copy() for k, v in arrays.items()})
    users, items = np.arange(data.n_users), np.arange(data.n_items)[: data.n_users]
    for context in (None, {"device": "tv", "hour": 20, "channel": "app"}):
        a, b = encoder.encode(users, items, context), again.encode(users, items, context)
        assert a.keys() == b.keys()
        for group in a:
            assert np.array_equal(a[group], b[group])
    assert [f.to_dict() for f in again.fields()] == [f.to_dict() for f in encoder.fields()]


def test_ids_only_data_has_only_collaborative_group():
    frame = pd.DataFrame({"user_id": ["a", "b", "a"], "item_id": ["x", "y", "y"]})
    enc = FeatureEncoder.fit(Dataset.from_tables(frame))
    assert enc.groups() == ["collaborative"]
    assert enc.encode([0, 1], [1, 0])["collaborative"].tolist() == [[1, 2], [2, 1]]
    assert enc.context_codes({"device": "mobile", "hour": 3}, [0]).shape == (1, 0)


def test_user_attributes_of_new_users(encoder):
    codes = encoder.encode_user_attributes(pd.DataFrame({"age_group": ["45-54", "99+"], "email": ["x", "y"]}))
    assert codes.shape == (2, 2)
    assert encoder.decode("customer", codes[0]) == {"age_group": "45-54", "country": None}
    assert (codes[1] == 0).all()


def test_modal_rows_breaks_ties_by_smallest_code():
    users = np.array([0, 0, 0, 1, 1, 2])
    codes = np.array([[2], [3], [3], [4], [1], [0]])
    assert _modal_rows(users, codes, 4)[:, 0].tolist() == [3, 1, 0, 0]
