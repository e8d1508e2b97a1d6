"""Hybrid: planted context effects, cold start from attributes, the feature-group API, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import evaluate_model, evaluate_recommendations
from recsys.evaluation.splits import make_split
from recsys.models.hybrid import Hybrid
from recsys.models.registry import create, get_spec
from recsys.training.options import FitOptions

TOPICS = ("Outdoor", "Cooking", "Finance")
SEGMENTS = {"18-24": "Outdoor", "35-44": "Cooking", "65+": "Finance"}
WORDS = {"Outdoor": "trail hiking mountain camping kayak", "Cooking": "pasta recipe oven spices bread",
         "Finance": "stocks savings budget invest pension"}
DAY = 86_400
START = 1_735_689_600  # 2025-01-01 00:00 UTC
# Planted: videos are chosen on mobile at night, articles on desktop in the morning.
CONTEXTS = ({"device": "mobile", "hour": 21, "boost": "video"}, {"device": "desktop", "hour": 8, "boost": "article"})
FAST = dict(embedding_dim=16, hidden_size=32, hidden_layers=1, text_dim=8, epochs=10, batch_size=512,
            learning_rate=0.02, n_negatives=4)


def planted(n_users: int = 240, n_items: int = 60, events_per_user: int = 20, seed: int = 0,
            n_cold_users: int = 6, n_cold_items: int = 6) -> Dataset:
    """Segments (age group) prefer a topic x6; the context boosts a content type x6."""
    rng = np.random.default_rng(seed)
    n_all = n_items + n_cold_items
    topic = np.array([TOPICS[i % 3] for i in range(n_all)])
    kind = np.array(["video" if (i // 3) % 2 == 0 else "article" for i in range(n_all)])
    items = pd.DataFrame({
        "item_id": [f"i{i:03d}" for i in range(n_all)], "category": topic, "content_type": kind,
        "title": [f"{WORDS[t].split()[i % 5]} {k} {i}" for i, (t, k) in enumerate(zip(topic, kind))],
        "description": [WORDS[t] for t in topic], "tags": [f"{t.lower()}|{k}" for t, k in zip(topic, kind)],
        "price": rng.uniform(0, 50, n_all).round(2)})
    ages = list(SEGMENTS)
    users = pd.DataFrame({"user_id": [f"u{u:03d}" for u in range(n_users + n_cold_users)],
                          "age_group": [ages[u % 3] for u in range(n_users + n_cold_users)],
                          "email": [f"user{u}@example.com" for u in range(n_users + n_cold_users)]})
    popularity = 1.0 / (1 + rng.permutation(n_items)) ** 0.5
    rows = []
    for u in range(n_users):
        liked = SEGMENTS[ages[u % 3]]
        for e in range(events_per_user):
            ctx = CONTEXTS[rng.integers(2)]
            w = popularity * np.where(topic[:n_items] == liked, 6.0, 1.0) * np.where(kind[:n_items] == ctx["boost"], 6.0, 1.0)
            item = rng.choice(n_items, p=w / w.sum())
            ts = START + int(rng.integers(300)) * DAY + ctx["hour"] * 3600 + int(rng.integers(3600))
            rows.append((f"u{u:03d}", f"i{item:03d}", ts, ctx["device"], "app"))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "device", "channel"])
    return Dataset.from_tables(events, items, users)


@pytest.fixture(scope="module")
def split():
    return make_split(planted(), "leave_last_out")


@pytest.fixture(scope="module")
def data(split) -> Dataset:
    return split.fit_data()


@pytest.fixture(scope="module")
def model(data) -> Hybrid:
    return Hybrid(**FAST).fit(data, options=FitOptions(device="cpu", seed=1))


def _share(data: Dataset, recs, column: str, value: str) -> np.ndarray:
    values = data.item_features[column].to_numpy(dtype=object)
    top = recs.item_matrix(10)
    return (values[top] == value).mean(1)


def test_context_changes_the_ranking_in_the_planted_direction(data, model):
    users = data.active_users()
    night = _share(data, model.recommend(users, 10, context={"device": "mobile", "hour": 21}), "content_type", "video")
    morning = _share(data, model.recommend(users, 10, context={"device": "desktop", "hour": 8}), "content_type", "video")
    assert night.mean() > morning.mean() + 0.3
    assert (night > morning).mean() > 0.9


def test_missing_context_keys_mean_any_context(data, model):
    users = data.active_users()[:50]
    night = model.score(users, context={"device": "mobile", "hour": 21})
    anytime = model.score(users, context={})
    video = data.item_features["content_type"].to_numpy() == "video"
    gap = lambda s: s[:, video].mean(1) - s[:, ~video].mean(1)
    assert (gap(night) > gap(anytime)).mean() > 0.9
    assert np.array_equal(model.score(users, context={"weather": "rain"}), anytime)


def test_default_context_unknown_or_habit(data, model):
    users = data.active_users()[:20]
    assert np.array_equal(model.score(users), model.score(users, context={}))
    habit = Hybrid(**{**model.get_params(), "default_context": "habit"})
    habit.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    habitual = model.features_.default_context[users]
    assert (habitual > 0).all()
    assert np.array_equal(habit.score(users), model._score_codes(users, habitual))


def test_cold_start_user_follows_segment(data, model):
    cold = np.flatnonzero(np.bincount(data.frame["user_idx"], minlength=data.n_users) == 0)
    assert len(cold) == 6
    recs = model.recommend(cold, 10, context={})
    topics = data.item_features["category"].to_numpy(dtype=object)[recs.item_matrix(10)]
    ages = data.user_features["age_group"].to_numpy(dtype=object)[cold]
    liked = np.array([SEGMENTS[a] for a in ages])
    assert ((topics == liked[:, None]).mean(1) >= 0.6).all()
    # The same from raw attributes, without an id.
    raw = model.score_new_users([{"age_group": a} for a in ages], context={})
    assert np.allclose(raw, model.score(cold, context={}), atol=1e-5)


def test_cold_start_items_scored_from_attributes_and_text(data, model):
    cold_items = np.flatnonzero(data.item_popularity() == 0)
    assert len(cold_items) == 6
    topics = data.item_features["category"].to_numpy(dtype=object)
    users = data.active_users()
    ages = data.user_features["age_group"].to_numpy(dtype=object)[users]
    scores = model.score(users, cold_items, context={})
    best = topics[cold_items][scores.argmax(1)]
    assert (best == np.array([SEGMENTS[a] for a in ages])).mean() > 0.8


def test_feature_group_api_matches_score(data, model):
    assert model.feature_groups() == ["collaborative", "customer", "item", "text", "context"]
    users = np.array([0, 3, 7, 7])
    items = np.array([5, 1, 2, 40])
    context = {"device": "mobile", "hour": 21, "weekday": 5}
    inputs = model.encode(users, items, context)
    assert set(inputs) == set(model.feature_groups())
    assert inputs["text"].dtype == torch.float32 and inputs["context"].dtype == torch.int64
    with torch.no_grad():
        rows = model.forward_groups(inputs).numpy()
    full = model.score(users, context=context)
    assert np.allclose(rows, full[np.arange(4), items], atol=1e-4)
    masked = model.mask_groups(inputs, ["context"])
    assert (masked["context"] == 0).all() and masked["customer"] is inputs["customer"]
    with torch.no_grad():
        anytime = model.forward_groups(masked).numpy()
    assert np.allclose(anytime, model.score(users, context={})[np.arange(4), items], atol=1e-4)
    with pytest.raises(KeyError):
        model.mask_groups(inputs, ["nope"])


def test_fast_paths_equal_forward(model):
    net, tables = model.network_, model.tables_
    users, items = torch.tensor([0, 4, 9]), torch.tensor([[3, 1], [0, 7], [2, 2]])
    ctx = torch.as_tensor(model.features_.context_codes({"device": "tv", "hour": 20}, users.numpy()))
    rows = model.encode(users.numpy()[:, None], items.numpy(), {"device": "tv", "hour": 20})
    with torch.no_grad():
        expected = net(rows).reshape(3, 2)
        user_terms = net.side_terms(tables.user_inputs(users, ctx), "user")
        grouped = net.score_grouped(user_terms, net.side_terms(tables.item_inputs(items.reshape(-1)), "item"))
        matrix = net.score_matrix(user_terms, net.side_terms(tables.item_inputs(), "item"))
    assert torch.allclose(grouped, expected, atol=1e-5)
    assert torch.allclose(torch.gather(matrix, 1, items), expected, atol=1e-5)


def test_forward_groups_is_differentiable_on_embeddings(model):
    inputs = model.encode([0, 1], [2, 3], None)
    embedded = model.network_.embed(inputs)
    for value in embedded.values():
        value.retain_grad()
    model.network_.forward_embedded(embedded).sum().backward()
    assert all(v.grad is not None and v.grad.shape == v.shape for v in embedded.values())
    model.network_.zero_grad(set_to_none=True)


def test_save_load_identical_scores_with_context(data, model, tmp_path):
    model.save(tmp_path / "m")
    again = Hybrid.load(tmp_path / "m")
    users = np.arange(data.n_users)
    for context in (None, {"device": "desktop", "hour": 8, "channel": "app"}, {}):
        assert np.array_equal(model.score(users, context=context), again.score(users, context=context))
    assert again.context_fields() == model.context_fields()
    assert np.array_equal(again.score_new_users([{"age_group": "65+"}]), model.score_new_users([{"age_group": "65+"}]))


def test_inference_does_not_mutate(data, model):
    before = {k: v.clone() for k, v in model.network_.state_dict().items()}
    model.recommend(np.arange(10), 5, context={"device": "tv"})
    model.encode([0], [0], None)
    after = model.network_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_registry_entry_matches_constructor():
    spec = get_spec("hybrid")
    assert spec.family == "hybrid" and spec.uses_torch
    assert spec.defaults() == Hybrid().get_params()
    assert isinstance(create("hybrid", embedding_dim=8), Hybrid)
    with pytest.raises(ValueError):
        create("hybrid", loss="mse")


def test_ids_only_data_still_trains():
    frame = pd.DataFrame({"user_id": list("aabbccdd"), "item_id": list("xyyzzwwx")})
    m = Hybrid(**{**FAST, "epochs": 2}).fit(Dataset.from_tables(frame), options=FitOptions(device="cpu"))
    assert m.feature_groups() == ["collaborative"]
    assert m.score([0, 1], context={"device": "mobile", "hour": 3}).shape == (2, 4)


def test_beats_popularity_and_more_so_knowing_the_context(split, data, model):
    popular = create("popularity").fit(data)
    ndcg = {name: evaluate_model(m, split, ks=(10,)).summary["ndcg@10"]
            for name, m in (("hybrid", model), ("popularity", popular))}
    # The held-out event's own context (device, hour), as a live system would know it.
    users = split.eval_users()
    last = split.test.frame.set_index("user_idx").loc[users]
    context = {"device": last["device"].to_numpy(), "hour": (last["timestamp"].to_numpy() // 3600) % 24}
    scores = model.score(users, context=context)
    scores[split.seen_for("test")[users].nonzero()] = -np.inf
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    ndcg["hybrid+context"] = evaluate_recommendations(ranked, users, split, ks=(10,)).summary["ndcg@10"]
    assert ndcg["hybrid"] > 1.2 * ndcg["popularity"], ndcg
    assert ndcg["hybrid+context"] > 1.1 * ndcg["hybrid"], ndcg


@pytest.mark.slow
def test_bundled_sample_video_in_the_evening_on_mobile(repo_root):
    folder = repo_root / "sample_data" / "content_platform"
    events = pd.read_csv(folder / "events.csv.gz").rename(columns={"customer_id": "user_id",
                                                                   "event_time": "timestamp"})
    events["timestamp"] = pd.to_datetime(events["timestamp"])
    users = pd.read_csv(folder / "customers.csv").rename(columns={"customer_id": "user_id"})
    # The first 1,000 customers keep this near half a minute.
    events, users = events[events["user_id"] <= "C001000"], users[users["user_id"] <= "C001000"]
    data = Dataset.from_tables(events, pd.read_csv(folder / "items.csv"), users)
    model = Hybrid(epochs=4, embedding_dim=16, hidden_size=64, text_dim=16).fit(
        data, options=FitOptions(device="cpu", seed=0))
    active = data.active_users()
    evening = _share(data, model.recommend(active, 10, context={"device": "mobile", "hour": 21}), "content_type", "video")
    morning = _share(data, model.recommend(active, 10, context={"device": "desktop", "hour": 8}), "content_type", "video")
    assert evening.mean() > morning.mean() + 0.1
    assert (evening > morning).mean() > 0.75
