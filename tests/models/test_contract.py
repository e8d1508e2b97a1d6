"""The contract every registered model honours, run for each entry of the registry.

Parametrising over ``REGISTRY`` (rather than asking each model's test file to
inherit a mixin) means a model added to the catalog is held to the contract
without anyone remembering to opt in.
"""

from __future__ import annotations

import hashlib
import inspect

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.models.base import NotFittedError, Recommender
from recsys.models.registry import REGISTRY, create, get_spec
from recsys.training.options import FitOptions
from recsys.training.progress import TrainingCancelled

# Small budgets so the whole contract stays fast on CPU; the models' own test files
# check accuracy with realistic settings.
FAST = {
    "als": {"iterations": 3, "factors": 8},
    "bpr": {"epochs": 3, "factors": 8},
    "neumf": {"epochs": 2, "factors": 8},
    "multvae": {"epochs": 3, "hidden_dim": 32, "latent_dim": 8},
    "multdae": {"epochs": 3, "hidden_dim": 32, "latent_dim": 8},
    "gru4rec": {"epochs": 2, "embedding_dim": 16, "hidden_size": 16, "max_len": 20},
    "sasrec": {"epochs": 2, "hidden_size": 16, "max_len": 20},
    "content_neural": {"epochs": 2, "dim": 16, "embed_dim": 16, "n_filters": 16, "n_negatives": 16,
                       "min_count": 1},
    "content_tfidf": {"min_df": 1},
    "hybrid": {"epochs": 2, "embedding_dim": 8, "hidden_size": 16, "text_dim": 8},
}
ITERATIVE = {key for key, spec in REGISTRY.items() if any(p.name in ("epochs", "iterations") for p in spec.params)}
KEYS = sorted(REGISTRY)
TOPICS = ["hiking", "cooking"]


def toy_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    """60 customers in two taste groups, 40 items in two topics, with time, types and context."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({
        "item_id": [f"i{j}" for j in range(40)],
        "title": [f"{TOPICS[j % 2]} guide part {j}" for j in range(40)],
        "description": [f"all about {TOPICS[j % 2]} and {TOPICS[j % 2]} gear, volume {j}" for j in range(40)],
        "category": [TOPICS[j % 2] for j in range(40)],
        "tags": [f"{TOPICS[j % 2]}|guide" for j in range(40)],
    })
    users = pd.DataFrame({"user_id": [f"u{u}" for u in range(60)],
                          "age_group": ["18-24" if u % 2 else "45-54" for u in range(60)]})
    rows = []
    for u in range(60):
        liked = np.arange(u % 2, 40, 2)
        for t, j in enumerate(rng.choice(liked, size=8, replace=False)):
            rows.append({"user_id": f"u{u}", "item_id": f"i{j}",
                         "timestamp": pd.Timestamp("2025-01-01") + pd.Timedelta(hours=int(u * 50 + t * 3)),
                         "event_type": "purchase" if t % 4 == 0 else "view",
                         "device": "mobile" if t % 2 else "desktop", "channel": "app"})
    return {"interactions": pd.DataFrame(rows), "items": items, "users": users}


@pytest.fixture(scope="module")
def data() -> Dataset:
    tables = toy_tables()
    return Dataset.from_tables(tables["interactions"], tables["items"], tables["users"])


def make(key: str) -> Recommender:
    return create(key, **FAST.get(key, {}))


@pytest.fixture(scope="module")
def fitted(data) -> dict[str, Recommender]:
    return {key: make(key).fit(data, options=FitOptions(device="cpu", seed=7)) for key in KEYS}


def state_digest(model: Recommender) -> str:
    arrays, weights = model._get_state()
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = arrays[name]
        value = value.toarray() if sp.issparse(value) else np.asarray(value)
        digest.update(name.encode() + np.ascontiguousarray(value).tobytes())
    for name in sorted(weights or {}):
        digest.update(name.encode() + weights[name].detach().cpu().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("key", KEYS)
def test_fit_returns_self_and_unfitted_raises(key, data):
    model = make(key)
    with pytest.raises(NotFittedError):
        model.recommend([0], 5)
    with pytest.raises(NotFittedError):
        model.score([0])
    assert model.fit(data, options=FitOptions(device="cpu", seed=1)) is model


@pytest.mark.parametrize("key", KEYS)
def test_recommend_shape_ranks_order_and_exclusions(key, data, fitted):
    model = fitted[key]
    users = np.arange(10)
    recs = model.recommend(users, 5)
    frame = recs.to_frame()
    assert set(frame["user_idx"]) == set(users)
    for _, group in frame.groupby("user_idx"):
        assert list(group["rank"]) == list(range(1, len(group) + 1)) and len(group) == 5
        assert np.all(np.diff(group["score"].to_numpy()) <= 1e-6), "scores must not increase with rank"
    seen = data.matrix(binary=True)
    assert not any(seen[u, i] for u, i in zip(recs.user_idx, recs.item_idx)), "seen items must be excluded"
    candidates = np.arange(0, 40, 3)
    restricted = model.recommend(users, 3, candidates=candidates)
    assert set(restricted.item_idx) <= set(candidates)
    block = sp.csr_matrix((np.ones(len(users)), (users, recs.item_matrix(5)[:, 0])), shape=seen.shape)
    again = model.recommend(users, 5, exclude=block)
    assert not set(zip(again.user_idx, again.item_idx)) & set(zip(users, recs.item_matrix(5)[:, 0]))


@pytest.mark.parametrize("key", KEYS)
def test_scores_are_batched_and_finite(key, fitted):
    model = fitted[key]
    scores = model.score(np.arange(7))
    assert scores.shape == (7, model.n_items_) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    assert np.allclose(model.score([3, 4], item_idx=[1, 5]), scores[3:5][:, [1, 5]], atol=1e-5)


@pytest.mark.parametrize("key", KEYS)
def test_same_seed_same_model(key, data, fitted):
    again = make(key).fit(data, options=FitOptions(device="cpu", seed=7))
    np.testing.assert_allclose(again.score(np.arange(12)), fitted[key].score(np.arange(12)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("key", KEYS)
def test_save_load_round_trip(key, fitted, tmp_path):
    model = fitted[key]
    model.save(tmp_path / key)
    loaded = get_spec(key).load_class().load(tmp_path / key)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_allclose(loaded.score(np.arange(12)), model.score(np.arange(12)), rtol=1e-5, atol=1e-6)
    a, b = model.recommend(np.arange(12), 5), loaded.recommend(np.arange(12), 5)
    assert np.array_equal(a.item_idx, b.item_idx)


@pytest.mark.parametrize("key", KEYS)
def test_inference_does_not_mutate(key, fitted):
    model = fitted[key]
    before = state_digest(model)
    model.recommend(np.arange(20), 10)
    model.score(np.arange(5))
    assert state_digest(model) == before


@pytest.mark.parametrize("key", KEYS)
def test_registry_round_trip(key, fitted):
    model = fitted[key]
    rebuilt = create(key, **model.get_params())
    assert rebuilt.get_params() == model.get_params()
    spec = get_spec(key)
    signature = inspect.signature(spec.load_class().__init__)
    constructor_defaults = {name: p.default for name, p in signature.parameters.items() if name != "self"}
    assert constructor_defaults == spec.defaults(), "the registry form and the constructor must agree"


@pytest.mark.parametrize("key", sorted(ITERATIVE))
def test_progress_callbacks_fire_and_cancel_is_clean(key, data):
    events = []
    make(key).fit(data, options=FitOptions(device="cpu", seed=0, callbacks=[events.append]))
    assert any(e.stage in ("epoch", "iteration") for e in events), "iterative models report each epoch"
    model = make(key)
    with pytest.raises(TrainingCancelled):
        model.fit(data, options=FitOptions(device="cpu", should_stop=lambda: True))
    assert not model.is_fitted, "a cancelled fit must not leave a model that looks fitted"
