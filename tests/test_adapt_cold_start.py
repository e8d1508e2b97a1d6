"""Cold start: new customers from attributes and onboarding picks; cold-start protocols."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.adapt.cold_start import (attribute_scores, cold_items, evaluate_cold, item_cold_split,
                                     model_scorer, onboarding_scores, user_cold_split)
from recsys.data.dataset import Dataset
from recsys.models.registry import create
from recsys.training.options import FitOptions

WORDS = ["running gym workout muscle", "stocks budget savings invest", "recipe oven baking dinner",
         "gaming console controller arcade"]


@pytest.fixture(scope="module")
def data():
    """Customers stick to their segment's category (a power law inside it); items name their category."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    n_cat, per_cat, n_users = 4, 25, 400
    items = pd.DataFrame({"item_id": [f"i{c}_{j}" for c in range(n_cat) for j in range(per_cat)],
                          "title": [f"{WORDS[c]} {j}" for c in range(n_cat) for j in range(per_cat)],
                          "category": [f"cat{c}" for c in range(n_cat) for _ in range(per_cat)]})
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(n_users)],
                          "segment": [f"s{u % n_cat}" for u in range(n_users)],
                          "noise": rng.choice(["a", "b"], n_users)})
    p = 1.0 / np.arange(1, per_cat + 1)
    # segments differ in size so that global popularity is dominated by one category
    rows = [(f"u{u}", f"i{u % n_cat}_{j}", 0)
            for u in range(n_users) for j in rng.choice(per_cat, 6, replace=False, p=p / p.sum())]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Dataset.from_tables(events, items, users)


def fit(key, data, **params):
    return create(key, **params).fit(data, options=FitOptions(device="cpu", seed=0))


def test_user_cold_split_holds_out_whole_customers(data):
    split = user_cold_split(data, test_fraction=0.25, seed=0)
    train_users = set(split.train.frame["user_idx"])
    test_users = set(split.test.frame["user_idx"])
    assert not train_users & test_users and len(test_users) == 100
    assert split.train.n_events + split.test.n_events == data.n_events


def test_attributes_beat_popularity_for_new_customers(data):
    split = user_cold_split(data, test_fraction=0.25, seed=0)
    pop = evaluate_cold(model_scorer(fit("popularity", split.train)), split).summary["ndcg@10"]
    attrs = evaluate_cold(lambda u: attribute_scores(split.train, u, ["segment", "noise"],
                                                     {"segment": 1.0, "noise": 0.2}), split).summary["ndcg@10"]
    print(f"user-cold NDCG@10: popularity {pop:.3f}, attributes {attrs:.3f}")
    assert attrs > 2 * pop and attrs > 0.2


def test_item_cold_content_beats_popularity(data):
    split = item_cold_split(data, test_fraction=0.2, seed=0)
    cold = cold_items(split)
    assert len(cold) == 20 and not np.isin(cold, split.train.frame["item_idx"]).any()
    pop = evaluate_cold(model_scorer(fit("popularity", split.train)), split).summary["ndcg@10"]
    content = evaluate_cold(model_scorer(fit("content_tfidf", split.train, min_df=1)), split).summary["ndcg@10"]
    print(f"item-cold NDCG@10: popularity {pop:.3f}, content {content:.3f}")
    assert content > pop + 0.2


@pytest.mark.parametrize("key,params", [("content_tfidf", {"min_df": 1}), ("itemknn", {}),
                                        ("als", {"factors": 8, "iterations": 5})])
def test_onboarding_picks_steer_the_list(key, params, data):
    model = fit(key, data, **params)
    picks = data.items.index_of(["i3_0", "i3_1", "i3_2"])
    scores = onboarding_scores(model, picks)
    scores[picks] = -np.inf
    top = np.argsort(-scores)[:10]
    share = (data.item_features["category"].to_numpy()[top] == "cat3").mean()
    assert share >= 0.8, (key, share)
