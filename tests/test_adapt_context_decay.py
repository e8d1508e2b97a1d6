"""Context filters and half-life decay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.adapt.context_filter import allowed_items, recommend_in_context, rules_from_frame
from recsys.adapt.decay import decay_weights, summarize_decay
from recsys.data.dataset import Dataset
from recsys.models.registry import create
from recsys.training.options import FitOptions

RULES = rules_from_frame(pd.DataFrame({"key": ["device", "channel"], "value": ["tv", "email"],
                                       "attribute": ["content_type", "content_type"],
                                       "allowed": ["video", "offer|video"]}))


@pytest.fixture(scope="module")
def data():
    items = pd.DataFrame({"item_id": [f"i{j}" for j in range(12)],
                          "content_type": ["video", "article", "offer"] * 4})
    events = pd.DataFrame({"user_id": [f"u{u % 5}" for u in range(40)],
                           "item_id": [f"i{(u * 7) % 12}" for u in range(40)],
                           "timestamp": 1_700_000_000 + 86_400 * np.arange(40)})
    return Dataset.from_tables(events, items)


def test_tv_allows_only_videos_for_any_model(data):
    model = create("popularity").fit(data, options=FitOptions(device="cpu"))
    recs = recommend_in_context(model, [0, 1], 5, {"device": "tv"}, data.item_features, RULES)
    assert len(recs) and set(data.item_features["content_type"].to_numpy()[recs.item_idx]) == {"video"}
    both = allowed_items(data.item_features, {"device": "tv", "channel": "email"}, RULES)
    assert set(data.item_features["content_type"].to_numpy()[both]) == {"video"}  # rules intersect
    assert allowed_items(data.item_features, {"device": "mobile"}, RULES) is None


def test_decay_halves_every_half_life(data):
    w = decay_weights(np.array([0, 86_400 * 7, 86_400 * 14]), 7.0)
    np.testing.assert_allclose(w, [0.25, 0.5, 1.0])
    s = summarize_decay(data, 7.0)
    assert 0 < s.total_weight_share < 1 and s.share_last_7_days < s.share_last_30_days <= 1
    # a week covers 8 of the 40 daily events; with a 7-day half-life it carries about half the weight
    assert 0.4 < s.share_last_7_days < 0.6
