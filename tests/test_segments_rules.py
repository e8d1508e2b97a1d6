"""Segment rules: the attribute query parser (no eval), its evaluation, targets and JSON round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.segments.rules import Clause, RuleError, SegmentRule, Target, evaluate, parse_query


def test_parses_the_documented_forms():
    assert parse_query("category = Outdoor and price_tier = premium") == (
        Clause("category", "=", ("Outdoor",)), Clause("price_tier", "=", ("premium",)))
    assert parse_query('country in ("United Kingdom", Ireland) AND loyalty_tier != bronze') == (
        Clause("country", "in", ("United Kingdom", "Ireland")), Clause("loyalty_tier", "!=", ("bronze",)))
    assert parse_query("price>=10 and price<20.5") == (Clause("price", ">=", ("10",)), Clause("price", "<", ("20.5",)))
    assert parse_query("country = United Kingdom") == (Clause("country", "=", ("United Kingdom",)),)
    assert parse_query("title = 'rock and roll'") == (Clause("title", "=", ("rock and roll",)),)
    assert parse_query("tier not in [gold, 'plat inum']") == (Clause("tier", "not in", ("gold", "plat inum")),)
    assert parse_query('note = "say \\"hi\\""') == (Clause("note", "=", ('say "hi"',)),)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("category", "needs an operator"),
    ("category =", "needs a value"),
    ("a = b and", "ends with 'and'"),
    ("a = b or c = d", "only 'and' joins clauses"),
    ("a in (b", "unclosed list"),
    ("a in b", "needs a list"),
    ("1x = 2", "attribute name"),
    ('a = "b', "cannot read"),
    ("__import__('os').system('true')", "expected an operator"),
])
def test_bad_queries_get_a_clear_message(text, fragment):
    with pytest.raises(RuleError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_query(text)


def test_queries_are_never_evaluated_as_python(monkeypatch):
    import ast
    import inspect

    from recsys.segments import rules

    tree = ast.parse(inspect.getsource(rules))
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not called & {"eval", "exec", "compile", "__import__"}

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(rules, name, forbidden, raising=False)
    frame = pd.DataFrame({"a": ["x", "__import__(\"os\")"]})
    assert evaluate(parse_query("a = '__import__(\"os\")'"), frame).tolist() == [False, True]


@pytest.fixture
def catalog() -> pd.DataFrame:
    return pd.DataFrame({
        "category": pd.array(["Outdoor", "outdoor ", "Tech", None, "Outdoor"], dtype="string"),
        "price": [5.0, 50.0, 20.0, 1.0, np.nan],
        "published": pd.to_datetime(["2025-01-01", "2025-06-01", "2025-07-01", "2024-01-01", "2025-06-02"]),
        "tier": pd.array(["budget", "premium", "premium", "mid", "premium"], dtype="string"),
    })


@pytest.mark.parametrize("query, expected", [
    ("category = outdoor", [True, True, False, False, True]),       # case- and space-insensitive text
    ("category != Outdoor", [False, False, True, False, False]),    # a missing value satisfies no clause
    ("price > 10", [False, True, True, False, False]),
    ("price <= 5", [True, False, False, True, False]),
    ("price = 50", [False, True, False, False, False]),
    ("published >= 2025-06-01", [False, True, True, False, True]),
    ("tier in (premium, mid)", [False, True, True, True, True]),
    ("tier not in (premium)", [True, False, False, True, False]),
    ("category = Outdoor and tier = premium", [False, True, False, False, True]),
])
def test_evaluation_matches_pandas(catalog, query, expected):
    assert evaluate(parse_query(query), catalog).tolist() == expected


def test_unknown_columns_and_non_numbers_are_explained(catalog):
    with pytest.raises(RuleError, match="unknown attribute 'colour'.*available: category"):
        evaluate(parse_query("colour = red"), catalog)
    with pytest.raises(RuleError, match="must be a number"):
        evaluate(parse_query("price > cheap"), catalog)


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12),
                min_size=1, max_size=4))
@settings(max_examples=60, deadline=None)
def test_any_value_survives_quoting(values):
    clause = Clause("col", "in", tuple(values))
    reparsed = parse_query(str(clause))
    assert reparsed == (Clause("col", "in", tuple(" ".join(v.split()) if _bare(v) else v for v in values)),)


def _bare(value: str) -> bool:
    # Bare words are re-joined with single spaces; str(Clause) quotes anything else.
    return str(Clause("c", "=", (value,))).split(" = ", 1)[1] == value


def test_targets_parse_items_categories_and_queries():
    assert Target.parse("items=I1, I2").items == ("I1", "I2")
    assert Target.parse("category=Outdoor").category == "Outdoor"
    assert Target.parse("category = Outdoor and price_tier = premium").query == \
        "category = Outdoor and price_tier = premium"
    with pytest.raises(RuleError, match="exactly one"):
        Target(items=("I1",), category="Outdoor")


def test_rules_round_trip_through_json():
    rule = SegmentRule("Outdoor fans", "run-1", Target.parse("category = Outdoor and price_tier = premium"),
                       affinity="rank", customer_query="country in (Japan, France)", min_events=3,
                       active_days=30, exclude_buyers=False, buyer_events=("Purchase", "add_to_cart"), size=1000,
                       threshold=20, min_size=50)
    again = SegmentRule.from_json(rule.to_json())
    assert again == rule and again.to_dict() == rule.to_dict()
    assert again.buyer_events == ("purchase", "add_to_cart")
    items = SegmentRule("x", "r", Target(items=("I1", "I2")), size=5)
    assert SegmentRule.from_dict(items.to_dict()) == items
    assert rule.with_run("run-2").run_id == "run-2" and rule.with_run("run-2").target == rule.target


@pytest.mark.parametrize("kwargs, fragment", [
    ({"affinity": "median"}, "affinity must be one of"),
    ({"size": None}, "cap the segment"),
    ({"size": 0}, "positive"),
    ({"customer_query": "email = 'a@b.com'"}, "contact details"),
    ({"min_size": 0}, "at least 1"),
])
def test_invalid_rules_are_refused(kwargs, fragment):
    args = {"name": "x", "run_id": "r", "target": Target(category="Tech"), "size": 10, **kwargs}
    with pytest.raises(RuleError, match=fragment):
        SegmentRule(**args)
