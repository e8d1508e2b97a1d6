"""Popularity and Trending: the contract, and ranking exactly by (decayed) counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contract import ModelContract, taste_tables
from recsys.data.dataset import DEFAULT_EVENT_WEIGHTS, SECONDS_PER_DAY, Dataset
from recsys.models.popularity import Popularity, Trending
from recsys.training.options import FitOptions


class TestPopularity(ModelContract):
    key = "popularity"
    beats_popularity = False

    def test_scores_are_distinct_user_counts(self, data):
        model = Popularity().fit(data)
        f = data.frame
        expected = f.drop_duplicates(["user_idx", "item_idx"]).groupby("item_idx").size()
        expected = expected.reindex(range(data.n_items), fill_value=0).to_numpy()
        np.testing.assert_array_equal(model.score([0])[0], expected)

    def test_weighted_counts_follow_event_types(self):
        events = pd.DataFrame({"user_id": ["a", "b", "c", "d", "e"], "item_id": ["x", "x", "x", "y", "z"],
                               "event_type": ["view", "view", "view", "purchase", "add_to_cart"]})
        data = Dataset.from_tables(events)
        plain = Popularity().fit(data).score([0])[0]
        weighted = Popularity(count="weighted").fit(data).score([0])[0]
        x, y, z = data.items.index_of(["x", "y", "z"])
        assert plain[x] == 3 and plain[y] == 1 and plain[z] == 1
        assert weighted[y] == DEFAULT_EVENT_WEIGHTS["purchase"] and weighted[x] == 3 * DEFAULT_EVENT_WEIGHTS["view"]
        assert weighted[y] > weighted[z] > weighted[x]

    def test_ranks_exactly_by_count_excluding_seen(self, data):
        model = Popularity().fit(data)
        counts = model.score([0])[0]
        unseen = np.setdiff1d(np.arange(data.n_items), data.matrix().getrow(3).indices)
        recs = model.recommend([3], 10)
        expected = np.sort(counts[unseen])[::-1][:10]
        np.testing.assert_array_equal(counts[recs.item_idx], expected)
        np.testing.assert_array_equal(recs.score, expected)
        must = unseen[counts[unseen] > expected[-1]]
        assert set(must) <= set(recs.item_idx)

    def test_bad_count_is_refused(self, data):
        with pytest.raises(ValueError, match="count"):
            Popularity(count="clicks").fit(data)


class TestTrending(ModelContract):
    key = "trending"
    beats_popularity = False

    def test_scores_are_decayed_event_counts(self, data):
        model = Trending(half_life_days=3.0).fit(data)
        f = data.frame
        age = (f["timestamp"].max() - f["timestamp"]) / SECONDS_PER_DAY
        expected = (0.5 ** (age / 3.0)).groupby(f["item_idx"]).sum().reindex(range(data.n_items), fill_value=0)
        np.testing.assert_allclose(model.score([0])[0], expected.to_numpy(), rtol=1e-5)
        assert model.reference_time_ == int(f["timestamp"].max())

    def test_recent_item_outranks_old_favourite(self):
        day = int(SECONDS_PER_DAY)
        old = [("u%d" % k, "classic", 1_700_000_000 + k) for k in range(10)]
        new = [("v%d" % k, "hit", 1_700_000_000 + 60 * day + k) for k in range(3)]
        events = pd.DataFrame(old + new, columns=["user_id", "item_id", "timestamp"])
        data = Dataset.from_tables(events)
        classic, hit = data.items.index_of(["classic", "hit"])
        trending = Trending(half_life_days=7.0).fit(data).score([0])[0]
        assert trending[hit] > trending[classic]
        slow = Trending(half_life_days=3000.0).fit(data).score([0])[0]
        assert slow[classic] > slow[hit]

    def test_weighted_multiplies_event_weights(self, data):
        plain = Trending(half_life_days=5.0).fit(data).item_scores_
        weighted = Trending(half_life_days=5.0, weighted=True).fit(data).item_scores_
        f = data.frame
        age = (f["timestamp"].max() - f["timestamp"]) / SECONDS_PER_DAY
        expected = (f["weight"] * 0.5 ** (age / 5.0)).groupby(f["item_idx"]).sum()
        np.testing.assert_allclose(weighted[expected.index], expected.to_numpy(), rtol=1e-5)
        assert not np.allclose(plain, weighted)

    def test_needs_timestamps(self):
        data = Dataset.from_tables(taste_tables().drop(columns=["timestamp"]))
        model = Trending()
        with pytest.raises(ValueError, match="timestamps"):
            model.fit(data, options=FitOptions(device="cpu"))
        assert not model.is_fitted
