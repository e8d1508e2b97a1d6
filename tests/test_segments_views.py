"""Segment views: distribution, composition against the base, overlap, lift arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_segments_audience import small_world

from recsys.segments.audience import build_audience
from recsys.segments.rules import SegmentRule, Target
from recsys.segments.views import (composition, composition_attributes, engaged_customers, overlap,
                                   score_distribution, segment_lift, size_summary)


@pytest.fixture(scope="module")
def built():
    data, model = small_world()
    audience = build_audience(SegmentRule("t", "run", Target(category="Tech"), size=40), model, data)
    return data, model, audience


def test_distribution_counts_the_pool_and_the_members(built):
    _, _, audience = built
    hist = score_distribution(audience, bins=12)
    assert len(hist) == 12 and hist["n_pool"].sum() == len(audience.pool)
    assert hist["n_members"].sum() == audience.size
    assert (hist["n_members"] <= hist["n_pool"]).all()
    # The members are the strongest affinities: they fill the top bins first.
    assert hist["n_members"].iloc[-1] == hist["n_pool"].iloc[-1]


def test_composition_against_the_whole_base(built):
    data, _, audience = built
    assert composition_attributes(data) == ["country", "loyalty_tier"], "no ids or contact details"
    table = composition(audience.members["user_idx"].to_numpy(), data, ["country"])
    users = data.user_features
    seg = users.iloc[audience.members["user_idx"]]["country"].value_counts()
    base = users["country"].value_counts()
    for row in table.itertuples():
        assert row.n_segment == seg.get(row.value, 0) and row.n_base == base[row.value]
        assert row.segment_share == pytest.approx(row.n_segment / audience.size)
        assert row.index == pytest.approx(100 * (row.n_segment / audience.size) / (row.n_base / len(users)))
    assert table["segment_share"].sum() == pytest.approx(1.0) and table["base_share"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cannot break down by 'email'"):
        composition([0], data, "email")


def test_overlap_counts_and_matrix():
    result = overlap({"a": ["1", "2", "3", "4"], "b": ["3", "4", "5"], "c": ["4", "9"]})
    assert result.matrix.loc["a", "a"] == 4 and result.matrix.loc["a", "b"] == 2 and result.matrix.loc["b", "c"] == 1
    assert (result.matrix.to_numpy() == result.matrix.to_numpy().T).all()
    ab = result.pairs.set_index(["a", "b"]).loc[("a", "b")]
    assert ab["both"] == 2 and ab["jaccard"] == pytest.approx(2 / 5) and ab["share_of_b"] == pytest.approx(2 / 3)
    assert result.n_in_all == 1 and result.n_in_any == 6
    combos = result.combinations
    assert combos["customers"].sum() == 6
    only_a = combos[combos["a"] & ~combos["b"] & ~combos["c"]]["customers"].item()
    assert only_a == 2  # customers 1 and 2
    with pytest.raises(ValueError, match="at least two"):
        overlap({"a": ["1"]})


def test_lift_arithmetic_on_a_planted_example():
    engaged = np.zeros(1000, dtype=bool)
    engaged[:100] = True  # 10% of the pool engaged
    members = np.arange(50)  # a segment where everyone engaged
    result = segment_lift(members, np.arange(1000), engaged, n_random=400, seed=1)
    assert result.segment_rate == 1.0 and result.baseline_rate == pytest.approx(0.1)
    assert result.lift == pytest.approx(9.0)
    assert result.random_low < 0 < result.random_high < 1.5
    assert result.p_value == pytest.approx(1 / 401)
    random_segment = segment_lift(np.arange(0, 1000, 20), np.arange(1000), engaged, n_random=50)
    assert random_segment.lift == pytest.approx(0.0)  # 5 of 50 engaged: exactly the base rate


def test_engagement_and_summary(built):
    data, _, audience = built
    engaged = engaged_customers(data, audience.target_items, events=["purchase"])
    frame = data.frame
    expected = frame[frame["item_idx"].isin(audience.target_items) & (frame["event_type"] == "purchase")]["user_idx"]
    assert set(np.flatnonzero(engaged)) == set(expected)
    summary = size_summary(audience)
    assert summary["members"] == 40 and summary["customers"] == data.n_users
    assert summary["share_of_base"] == pytest.approx(40 / data.n_users)


def test_views_accept_pandas_members(built):
    data, _, audience = built
    table = composition(pd.Series(audience.members["user_idx"]).to_numpy(), data, "loyalty_tier")
    assert set(table["attribute"]) == {"loyalty_tier"}
