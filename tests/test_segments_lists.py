"""Per-customer lists: business rules, re-rankers and reasons, checked against direct computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_segments_audience import small_world

from recsys.models.popularity import Popularity
from recsys.segments.lists import LIST_COLUMNS, ListOptions, customer_lists, purchases


@pytest.fixture(scope="module")
def world():
    return small_world()


def by_user(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {u: g.sort_values("rank")["item_id"].tolist() for u, g in frame.groupby("user_id")}


def test_plain_lists_are_the_models_own_top_n(world):
    data, model = world
    users = np.arange(0, data.n_users, 3)
    lists = customer_lists(model, data, ListOptions(n=6), users, batch_size=8)
    assert list(lists.frame.columns) == LIST_COLUMNS
    recs = model.recommend(users, 6).to_frame(data)
    expected = {u: g.sort_values("rank")["item_id"].tolist() for u, g in recs.groupby("user_id")}
    assert by_user(lists.frame) == expected
    first = lists.frame.iloc[0]
    assert first["title"] == data.item_features.set_index("item_id").loc[first["item_id"], "title"]
    pd.testing.assert_frame_equal(lists.frame, customer_lists(model, data, ListOptions(n=6), users).frame)


def test_bought_and_seen_items_are_left_out(world):
    data, model = world
    bought = purchases(data)
    history = model.history_
    lists = customer_lists(model, data, ListOptions(n=8, exclude_seen=False), batch_size=16)
    pairs = zip(data.users.index_of(lists.frame["user_id"]), data.items.index_of(lists.frame["item_id"]))
    flagged = [(u, i) for u, i in pairs if bought[u, i]]
    assert not flagged
    seen_listed = sum(history[u, i] > 0 for u, i in zip(data.users.index_of(lists.frame["user_id"]),
                                                         data.items.index_of(lists.frame["item_id"])))
    assert seen_listed > 0, "seen (not bought) items may come back when exclude_seen is off"
    strict = customer_lists(model, data, ListOptions(n=8))
    assert all(history[u, i] == 0 for u, i in zip(data.users.index_of(strict.frame["user_id"]),
                                                   data.items.index_of(strict.frame["item_id"])))


def test_category_rules(world):
    data, model = world
    only = customer_lists(model, data, ListOptions(n=5, include_categories=("tech", "Cooking")))
    assert set(only.frame["category"]) == {"Tech", "Cooking"}
    without = customer_lists(model, data, ListOptions(n=5, exclude_categories=("Tech",)))
    assert "Tech" not in set(without.frame["category"])
    capped = customer_lists(model, data, ListOptions(n=6, max_per_category=2), batch_size=13)
    assert capped.frame.groupby(["user_id", "category"]).size().max() == 2
    assert (capped.frame.groupby("user_id").size() <= 6).all()
    # The cap keeps the model's order otherwise: each list is the best-scored items allowed by the cap
    # (shorter where the customer has seen most of a category).
    plain = customer_lists(model, data, ListOptions(n=36))
    for user, items in by_user(capped.frame).items():
        ranked = plain.frame[plain.frame["user_id"] == user]
        counts, expected = {}, []
        for item, category in zip(ranked["item_id"], ranked["category"]):
            if counts.get(category, 0) < 2 and len(expected) < 6:
                expected.append(item)
                counts[category] = counts.get(category, 0) + 1
        assert items == expected


def test_reasons_name_the_top_contributing_history_item(world):
    data, model = world
    lists = customer_lists(model, data, ListOptions(n=3), np.arange(20))
    assert lists.stats["reasons"] == "history item"
    titles = data.item_features["title"].to_numpy()
    history = (model.history_ > 0).astype(np.float32)
    for row in lists.frame.itertuples():
        u, i = data.users.index_of([row.user_id])[0], data.items.index_of([row.item_id])[0]
        seen = history[u].indices
        contributions = model.weights_[seen, i]  # binary weighting: x_uh = 1
        best = seen[np.argmax(contributions)]
        assert row.reason == f'Similar to "{titles[best]}" in their history'


def test_category_affinity_reasons_for_other_models(world):
    data, _ = world
    model = Popularity().fit(data)
    lists = customer_lists(model, data, ListOptions(n=3), np.arange(10))
    assert lists.stats["reasons"] == "category affinity"
    categories = data.item_features["category"].to_numpy()
    for row in lists.frame.itertuples():
        u = data.users.index_of([row.user_id])[0]
        seen = model.history_[u].indices
        share = np.mean(categories[seen] == row.category)
        expected = f"{share:.0%} of their history is {row.category}" if share > 0 else \
            f"New category for them: {row.category}"
        assert row.reason == expected


@pytest.mark.parametrize("method", ["calibrated", "exposure", "mmr"])
def test_rerankers_run_in_batches_and_are_described(world, method):
    data, model = world
    lists = customer_lists(model, data, ListOptions(n=5, rerank=method, strength=0.5, n_candidates=20),
                           batch_size=17)
    assert lists.reranker["method"] == method and lists.reranker["lambda"] == 0.5
    assert (lists.frame.groupby("user_id").size() == 5).all()
    assert not lists.frame.duplicated(["user_id", "item_id"]).any()


def test_full_strength_mmr_diversifies_categories(world):
    data, model = world
    plain = customer_lists(model, data, ListOptions(n=3))
    diverse = customer_lists(model, data, ListOptions(n=3, rerank="mmr", strength=1.0))
    distinct = diverse.frame.groupby("user_id")["category"].nunique()
    categories = data.item_features["category"].to_numpy()
    for user, n_distinct in distinct.items():
        u = data.users.index_of([user])[0]
        unseen = np.flatnonzero(model.history_[u].toarray().ravel() == 0)
        assert n_distinct == min(3, len(set(categories[unseen])))
    assert distinct.mean() > plain.frame.groupby("user_id")["category"].nunique().mean()


def test_invalid_options_are_refused():
    with pytest.raises(ValueError, match="unknown re-ranker"):
        ListOptions(rerank="shuffle")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ListOptions(rerank="mmr", strength=2)
