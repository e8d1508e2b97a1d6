"""Column mapping: auto-detection of common headers, explicit JSON overrides, canonical renaming."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.data.errors import DataValidationError
from recsys.data.mapping import ColumnMapping, apply_mapping, auto_map, parse_mappings, resolve_mapping
from recsys.data.schema import TABLE_ROLES, header_key, snake_case

ONLINE_RETAIL = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
                 "CustomerID", "Country"]


def test_online_retail_headers():
    m = auto_map("interactions", ONLINE_RETAIL)
    assert m.mapped() == {"user_id": "CustomerID", "item_id": "StockCode", "timestamp": "InvoiceDate",
                          "value": "Quantity", "session_id": "InvoiceNo"}
    assert m.roles["event_type"] is None
    assert m.output_names(ONLINE_RETAIL) == {"Description": "description", "UnitPrice": "unit_price",
                                             "Country": "country"}


def test_movielens_headers():
    m = auto_map("interactions", ["userId", "movieId", "rating", "timestamp"])
    assert m.mapped() == {"user_id": "userId", "item_id": "movieId", "timestamp": "timestamp", "value": "rating"}
    items = auto_map("items", ["movieId", "title", "genres"])
    assert items.mapped() == {"item_id": "movieId", "title": "title", "category": "genres"}


def test_retailrocket_headers():
    m = auto_map("interactions", ["timestamp", "visitorid", "event", "itemid", "transactionid"])
    assert m.mapped() == {"user_id": "visitorid", "item_id": "itemid", "timestamp": "timestamp",
                          "event_type": "event"}


@pytest.mark.parametrize("user", ["userId", "user", "customer_id", "customerid", "CustomerID", "visitorid",
                                  "client_id", "member_id", "User ID", "USER_ID", " user-id "])
@pytest.mark.parametrize("item", ["movieId", "item", "itemid", "product_id", "StockCode", "sku", "article_id",
                                  "content_id", "Item Id"])
def test_id_aliases_any_spelling(user, item):
    assert auto_map("interactions", ["x", item, user]).mapped() == {"user_id": user, "item_id": item}


@pytest.mark.parametrize("header", ["timestamp", "time", "event_time", "datetime", "date", "InvoiceDate",
                                    "created_at", "ts", "Event Time", "order_timestamp"])
def test_timestamp_aliases(header):
    assert auto_map("interactions", ["user", "item", header]).source_of("timestamp") == header


@pytest.mark.parametrize("header", ["rating", "value", "quantity", "Quantity", "amount", "revenue"])
def test_value_aliases(header):
    assert auto_map("interactions", ["user", "item", header]).source_of("value") == header


@pytest.mark.parametrize("header", ["session", "session_id", "InvoiceNo", "order_id", "basket_id"])
def test_session_aliases(header):
    assert auto_map("interactions", ["user", "item", header]).source_of("session_id") == header


@pytest.mark.parametrize("header", ["event", "event_type", "action", "interaction_type"])
def test_event_aliases(header):
    assert auto_map("interactions", ["user", "item", header]).source_of("event_type") == header


def test_priority_rating_over_quantity_and_first_match_wins():
    m = auto_map("interactions", ["user", "item", "quantity", "rating"])
    assert m.source_of("value") == "rating"
    assert m.output_names(["user", "item", "quantity", "rating"]) == {"quantity": "quantity"}


def test_items_description_is_the_title_only_without_a_title():
    retail = auto_map("items", ["StockCode", "Description", "UnitPrice"])
    assert retail.mapped() == {"item_id": "StockCode", "title": "Description"}
    full = auto_map("items", ["item_id", "name", "description", "category", "tags", "price"])
    assert full.mapped() == {"item_id": "item_id", "title": "name", "description": "description",
                             "category": "category", "tags": "tags"}
    text = auto_map("items", ["sku", "title", "text", "genre", "keywords"])
    assert text.mapped() == {"item_id": "sku", "title": "title", "description": "text", "category": "genre",
                             "tags": "keywords"}


def test_users_table():
    m = auto_map("users", ["CustomerID", "Age Group", "Gender", "Country", "LoyaltyTier", "signup_date",
                           "Email", "phone_number", "favourite_colour"])
    assert m.mapped() == {"user_id": "CustomerID", "age_group": "Age Group", "gender": "Gender",
                          "country": "Country", "loyalty_tier": "LoyaltyTier", "signup_date": "signup_date",
                          "email": "Email", "phone": "phone_number"}
    assert m.output_names(m.mapped().values()) == {}
    assert m.output_names(["favourite_colour"]) == {"favourite_colour": "favourite_colour"}


def test_every_role_has_aliases_in_key_form():
    for roles in TABLE_ROLES.values():
        for role in roles:
            assert role.aliases, role.name
            assert all(a == header_key(a) for a in role.aliases), role.name


def test_snake_case():
    assert snake_case("UnitPrice") == "unit_price"
    assert snake_case("CustomerID") == "customer_id"
    assert snake_case("Unit Price ($)") == "unit_price"
    assert snake_case("HTTPStatus") == "http_status"
    assert snake_case("  ") == "column"


def test_apply_mapping_renames_keeps_and_deduplicates():
    df = pd.DataFrame({"CustomerID": ["1"], "StockCode": ["a"], "Value": ["x"], "rating": ["5"],
                       "Unit Price": ["2"], "unit_price": ["3"]}, dtype="str")
    m = auto_map("interactions", df.columns)
    assert m.source_of("value") == "rating"
    out = apply_mapping(df, m)
    assert list(out.columns) == ["user_id", "item_id", "value", "value_2", "unit_price", "unit_price_2"]
    assert out.loc[0, "value"] == "5" and out.loc[0, "value_2"] == "x"


def test_apply_mapping_missing_source_column():
    df = pd.DataFrame({"a": ["1"], "b": ["2"]}, dtype="str")
    with pytest.raises(DataValidationError) as info:
        apply_mapping(df, ColumnMapping("interactions", {"user_id": "a", "item_id": "nope"}), file="f.csv")
    assert info.value.column == "nope" and "found: a, b" in info.value.message


def test_round_trip_and_unknown_roles():
    m = auto_map("interactions", ONLINE_RETAIL)
    assert ColumnMapping.from_dict(m.to_dict()) == m
    with pytest.raises(DataValidationError, match="unknown role"):
        ColumnMapping("interactions", {"customer": "CustomerID"})
    with pytest.raises(DataValidationError, match="unknown table"):
        ColumnMapping("orders", {})


def test_parse_mappings_json_both_directions_and_null():
    spec = ('{"interactions": {"user_id": "Kunde", "item_id": "Artikel", "value": null},'
            ' "items": {"Artikel": "item_id", "Name": "title"}}')
    parsed = parse_mappings(spec)
    assert parsed["interactions"] == {"user_id": "Kunde", "item_id": "Artikel", "value": None}
    assert parsed["items"] == {"item_id": "Artikel", "title": "Name"}
    for bad in ("not json", "[1, 2]", '{"orders": {}}', '{"interactions": {"user": "x"}}',
                '{"interactions": {"user_id": 3}}'):
        with pytest.raises(DataValidationError):
            parse_mappings(bad)


def test_overrides_are_completed_but_a_mapping_object_is_final():
    cols = ["Kunde", "item", "rating", "timestamp"]
    completed = resolve_mapping("interactions", cols, {"user_id": "Kunde", "value": None})
    assert completed.mapped() == {"user_id": "Kunde", "item_id": "item", "timestamp": "timestamp"}
    final = resolve_mapping("interactions", cols, ColumnMapping("interactions", {"user_id": "Kunde",
                                                                                 "item_id": "item"}))
    assert final.mapped() == {"user_id": "Kunde", "item_id": "item"}
    with pytest.raises(DataValidationError):
        resolve_mapping("items", cols, ColumnMapping("interactions", {}))
