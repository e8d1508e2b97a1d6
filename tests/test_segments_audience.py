"""Audiences on a small fitted model: members are exactly those a direct computation selects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset
from recsys.models.ease import EASE
from recsys.segments.audience import build_audience, random_members, resolve_target
from recsys.segments.rules import RuleError, SegmentRule, Target

CATEGORIES = ("Outdoor", "Cooking", "Tech")
START = pd.Timestamp("2025-01-01")


def small_world(n_users: int = 160, n_items: int = 36, n_events: int = 5000, seed: int = 7):
    """Customers with category tastes, a catalog with prices, a year of funnel events, and an EASE fit."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({"item_id": [f"I{i:03d}" for i in range(n_items)],
                          "title": [f"Item number {i}" for i in range(n_items)],
                          "category": [CATEGORIES[i % 3] for i in range(n_items)],
                          "price": np.round(rng.uniform(0, 100, n_items), 2)})
    users = pd.DataFrame({"user_id": [f"C{u:04d}" for u in range(n_users)],
                          "country": rng.choice(["France", "Japan", "United States"], n_users),
                          "loyalty_tier": rng.choice(["bronze", "gold"], n_users),
                          "email": [f" Person.{u}@Example.com" for u in range(n_users)]})
    taste = rng.integers(0, 3, n_users)
    user = rng.integers(0, n_users - 5, n_events)  # the last five customers never act
    liked = rng.random(n_events) < 0.75
    category = np.where(liked, taste[user], rng.integers(0, 3, n_events))
    item = category + 3 * rng.integers(0, n_items // 3, n_events)
    events = pd.DataFrame({"user_id": users["user_id"].to_numpy()[user], "item_id": items["item_id"].to_numpy()[item],
                           "timestamp": START + pd.to_timedelta(np.sort(rng.integers(0, 365 * 86400, n_events)), "s"),
                           "event_type": rng.choice(["view", "click", "purchase"], n_events, p=[0.75, 0.17, 0.08])})
    data = Dataset.from_tables(events, items, users)
    return data, EASE(regularization=20.0).fit(data)


@pytest.fixture(scope="module")
def world():
    return small_world()


def direct_members(rule: SegmentRule, model, data: Dataset) -> pd.DataFrame:
    """The rule computed the plain way: full score matrix, pandas filters, a sort."""
    scores = model.score(np.arange(data.n_users))
    items = data.item_features
    if rule.target.items:
        targets = np.flatnonzero(items["item_id"].isin(rule.target.items).to_numpy())
    else:
        targets = np.flatnonzero((items["category"].str.lower() == rule.target.category.lower()).to_numpy())
    frame, users = data.frame, data.user_features
    ok = pd.Series(True, index=range(data.n_users))
    if rule.customer_query == "country = Japan":
        ok &= users["country"].eq("Japan").to_numpy()
    counts = frame.groupby("user_idx").size().reindex(range(data.n_users), fill_value=0)
    ok &= counts >= rule.min_events
    if rule.active_days:
        recent = frame[frame["timestamp"] >= frame["timestamp"].max() - rule.active_days * 86400]
        ok &= ok.index.isin(recent["user_idx"])
    if rule.exclude_buyers:
        bought = frame[frame["item_idx"].isin(targets) & (frame["event_type"] == "purchase")]
        ok &= ~ok.index.isin(bought["user_idx"])
    seen = model.history_.toarray() > 0
    rows = []
    for u in np.flatnonzero(ok.to_numpy()):
        if rule.affinity == "max":
            value = float(scores[u, targets].max())
        elif rule.affinity == "mean":
            value = float(scores[u, targets].astype(np.float64).mean())
        else:
            order = sorted(range(data.n_items), key=lambda j: (-scores[u, j], j))
            listed = [j for j in order if j in set(targets) or not seen[u, j]]
            value = float(next(pos for pos, j in enumerate(listed, 1) if j in set(targets)))
        rows.append((data.users.ids[u], u, value))
    out = pd.DataFrame(rows, columns=["user_id", "user_idx", "affinity"])
    higher = rule.affinity != "rank"
    if rule.threshold is not None:
        out = out[out["affinity"] >= rule.threshold] if higher else out[out["affinity"] <= rule.threshold]
    out = out.sort_values(["affinity", "user_id"], ascending=[not higher, True])
    return out.head(rule.size) if rule.size else out


@pytest.mark.parametrize("affinity", ["max", "mean", "rank"])
@pytest.mark.parametrize("filters", [{}, {"customer_query": "country = Japan", "min_events": 25, "active_days": 60}])
def test_members_are_exactly_the_direct_computation(world, affinity, filters):
    data, model = world
    rule = SegmentRule("t", "run", Target(category="outdoor"), affinity=affinity, size=40, **filters)
    audience = build_audience(rule, model, data, batch_size=7)
    expected = direct_members(rule, model, data)
    assert len(expected) > 5
    assert audience.members["user_id"].tolist() == expected["user_id"].tolist()
    np.testing.assert_allclose(audience.members["affinity"], expected["affinity"], rtol=1e-6)
    assert audience.members["rank"].tolist() == list(range(1, len(expected) + 1))


@pytest.mark.parametrize("affinity", ["max", "rank"])
def test_threshold_keeps_exactly_the_customers_past_it(world, affinity):
    data, model = world
    unlimited = direct_members(SegmentRule("t", "run", Target(items=("I001", "I004")), affinity=affinity,
                                           threshold=float("-inf") if affinity == "max" else 1e9), model, data)
    values = np.sort(unlimited["affinity"].unique())
    cut = float((values[len(values) // 2] + values[len(values) // 2 + 1]) / 2)  # between two values: no float ties
    rule = SegmentRule("t", "run", Target(items=("I001", "I004")), affinity=affinity, threshold=cut)
    audience = build_audience(rule, model, data, batch_size=11)
    expected = direct_members(rule, model, data)
    assert set(audience.members["user_id"]) == set(expected["user_id"])
    assert 0 < audience.size < len(unlimited)


def test_buyers_of_the_target_are_absent(world):
    data, model = world
    rule = SegmentRule("t", "run", Target(category="Tech"), size=10_000)
    frame = data.frame
    tech = set(np.flatnonzero(data.item_features["category"].eq("Tech").to_numpy()))
    buyers = set(frame[frame["item_idx"].isin(tech) & frame["event_type"].eq("purchase")]["user_idx"])
    audience = build_audience(rule, model, data)
    assert buyers and not buyers & set(audience.members["user_idx"])
    assert audience.stats["n_buyers_excluded"] == len(buyers)
    kept = build_audience(SegmentRule("t", "run", Target(category="Tech"), size=10_000, exclude_buyers=False),
                          model, data)
    assert buyers <= set(kept.members["user_idx"])


def test_building_is_deterministic_and_independent_of_batch_size(world):
    data, model = world
    rule = SegmentRule("t", "run", Target(category="Cooking"), affinity="rank", size=70)
    first = build_audience(rule, model, data, batch_size=5).members
    pd.testing.assert_frame_equal(first, build_audience(rule, model, data, batch_size=5).members)
    pd.testing.assert_frame_equal(first, build_audience(rule, model, data, batch_size=4096).members)


class ConstantModel:
    """Every customer scores every item the same: the order comes from tie-breaking alone."""

    def __init__(self, data: Dataset):
        self.n_users_ = data.n_users
        self.history_ = data.matrix()

    def score(self, users, item_idx=None):
        return np.ones((len(users), self.history_.shape[1]), np.float32)


def test_ties_are_broken_by_customer_id(world):
    data, _ = world
    rule = SegmentRule("t", "run", Target(category="Tech"), size=25, exclude_buyers=False)
    audience = build_audience(rule, ConstantModel(data), data, batch_size=9)
    assert audience.members["user_id"].tolist() == sorted(data.users.ids.astype(str))[:25]


def test_targets_resolve_items_categories_and_derived_price_tiers(world):
    data, _ = world
    assert resolve_target(Target(items=("I002", "I001")), data).tolist() == sorted(data.items.index_of(["I001", "I002"]))
    premium = resolve_target(Target(query="category = Outdoor and price_tier = premium"), data)
    prices = data.item_features["price"]
    assert len(premium) and all(data.item_features.loc[i, "category"] == "Outdoor" for i in premium)
    assert prices[premium].min() > np.quantile(prices[prices > 0], 2 / 3)
    with pytest.raises(RuleError, match="unknown target item"):
        resolve_target(Target(items=("nope",)), data)
    with pytest.raises(RuleError, match="no catalog item matches"):
        resolve_target(Target(category="Gardening"), data)


def test_cold_customers_are_scored_and_filters_count_each_step(world):
    data, model = world
    audience = build_audience(SegmentRule("t", "run", Target(category="Tech"), size=10_000, min_events=1),
                              model, data)
    stats = audience.stats
    assert stats["n_customers"] == data.n_users
    assert stats["n_after_activity"] == data.n_users - 5  # the five silent customers
    assert stats["n_eligible"] == len(audience.pool) == audience.size
    assert stats["n_batches"] >= 1 and stats["affinity_max"] >= stats["affinity_min"]


def test_random_members_come_from_the_pool(world):
    data, model = world
    audience = build_audience(SegmentRule("t", "run", Target(category="Tech"), size=30), model, data)
    drawn = random_members(audience, data, seed=3)
    assert len(drawn) == 30 and set(drawn["user_idx"]) <= set(audience.pool)
    assert drawn["user_idx"].tolist() == random_members(audience, data, seed=3)["user_idx"].tolist()
