"""The model contract as a mixin: each model's test file subclasses ``ModelContract``.

``tests/models/test_contract.py`` runs the core of the contract over the whole
registry; this mixin adds what needs a model's own settings (its fast and
planted-data parameters) and is where a model's test file starts from::

    class TestEASE(ModelContract):
        key = "ease"

Data generators live here too, so per-model correctness tests share them.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.models.base import NotFittedError, Recommender
from recsys.models.registry import create, get_spec
from recsys.training.options import FitOptions
from recsys.training.progress import TrainingCancelled

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")


def taste_tables(n_users: int = 60, n_items: int = 40, per_user: int = 8, seed: int = 0) -> pd.DataFrame:
    """Interactions of two taste groups: even users like even items, odd users odd items.

    Every event has a timestamp and an event type; 10% of events stray to the
    other group's items so that the matrix is not block-diagonal.
    """
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2025-01-01")
    for u in range(n_users):
        liked = np.arange(u % 2, n_items, 2)
        other = np.arange(1 - u % 2, n_items, 2)
        chosen = list(rng.choice(liked, size=per_user, replace=False))
        if rng.random() < 0.5:
            chosen[-1] = int(rng.choice(other))
        for t, j in enumerate(chosen):
            rows.append({"user_id": f"u{u}", "item_id": f"i{j}",
                         "timestamp": start + pd.Timedelta(hours=int(rng.integers(0, 24 * 60))),
                         "event_type": EVENT_TYPES[int(rng.integers(0, len(EVENT_TYPES)))]})
    return pd.DataFrame(rows)


def taste_data(n_users: int = 60, n_items: int = 40, seed: int = 0) -> Dataset:
    """``taste_tables`` as a Dataset whose catalog has all ``n_items`` items."""
    catalog = pd.DataFrame({"item_id": [f"i{j}" for j in range(n_items)]})
    return Dataset.from_tables(taste_tables(n_users, n_items, seed=seed), items=catalog)


def planted_groups(n_groups: int = 4, users_per_group: int = 40, items_per_group: int = 12,
                   n_popular: int = 12, seed: int = 0) -> tuple[Dataset, sp.csr_matrix]:
    """Train data and held-out test items with structure only a personalised model can use.

    Each group of users has its own items; a shared set of globally popular
    items is touched by everyone, so it tops the popularity ranking. Each user
    keeps 6 group items and 3 popular items in training; 2 other group items are
    held out as the test.
    """
    rng = np.random.default_rng(seed)
    n_items = n_groups * items_per_group + n_popular
    popular = np.arange(n_groups * items_per_group, n_items)
    train_rows, test_rows = [], []
    for g in range(n_groups):
        own = np.arange(g * items_per_group, (g + 1) * items_per_group)
        for k in range(users_per_group):
            u = g * users_per_group + k
            picks = rng.choice(own, size=8, replace=False)
            train_rows += [(u, int(j)) for j in picks[:6]]
            train_rows += [(u, int(j)) for j in rng.choice(popular, size=3, replace=False)]
            test_rows += [(u, int(j)) for j in picks[6:]]
    n_users = n_groups * users_per_group
    train = pd.DataFrame(train_rows, columns=["user_id", "item_id"]).astype(str)
    train["timestamp"] = 1_700_000_000 + np.arange(len(train)) * 60
    train["event_type"] = "purchase"
    catalog = pd.DataFrame({"item_id": np.arange(n_items).astype(str)})
    data = Dataset.from_tables(train, items=catalog)
    users = data.users.index_of(np.asarray([str(u) for u, _ in test_rows], dtype=object))
    items = data.items.index_of(np.asarray([str(i) for _, i in test_rows], dtype=object))
    test = sp.csr_matrix((np.ones(len(users)), (users, items)), shape=(n_users, n_items))
    return data, test



def shuffled_planted_groups() -> tuple[Dataset, sp.csr_matrix]:
    """``planted_groups`` with the training events in a seeded random time order.

    The planted histories put each user's popular items last, so a next-item model
    rightly predicts a popular item there; shuffled, only the group taste is left.
    """
    train, test = planted_groups()
    frame = train.frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame["timestamp"] = np.arange(len(frame)) + 1_700_000_000
    return train.with_frame(frame), test


def ndcg_at_k(model: Recommender, test: sp.csr_matrix, k: int = 10) -> float:
    """Mean NDCG@k over users with test items (binary relevance, seen items excluded)."""
    users = np.flatnonzero(np.diff(test.indptr))
    top = model.recommend(users, k).item_matrix(k)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    total = 0.0
    for row, u in zip(top, users):
        relevant = set(test.indices[test.indptr[u]:test.indptr[u + 1]])
        dcg = sum(discount[r] for r, i in enumerate(row) if i in relevant)
        total += dcg / discount[:min(len(relevant), k)].sum()
    return total / len(users)


def state_digest(model: Recommender) -> str:
    """A hash of everything a fitted model holds (state arrays, weights, history, attributes)."""
    arrays, weights = model._get_state()
    digest = hashlib.sha256()
    for name, value in sorted({**arrays, "history_": model.history_}.items()):
        value = value.toarray() if sp.issparse(value) else np.asarray(value)
        digest.update(name.encode() + np.ascontiguousarray(value).tobytes())
    for name in sorted(weights or {}):
        digest.update(name.encode() + weights[name].detach().cpu().numpy().tobytes())
    digest.update(repr(sorted(vars(model))).encode())
    return digest.hexdigest()


class ModelContract:
    """Tests every model must pass. Subclasses set ``key`` and may tune the class attributes."""

    key: ClassVar[str] = ""
    fast_params: ClassVar[dict] = {}
    planted_params: ClassVar[dict] = {}
    iterative: ClassVar[bool] = False
    beats_popularity: ClassVar[bool] = True

    def make_model(self, **overrides) -> Recommender:
        return create(self.key, **{**self.fast_params, **overrides})

    @pytest.fixture(scope="class")
    def data(self) -> Dataset:
        return taste_data()

    @pytest.fixture(scope="class")
    def fitted(self, data) -> Recommender:
        return self.make_model().fit(data, options=FitOptions(device="cpu", seed=7))

    # ----- fitting ---------------------------------------------------------
    def test_fit_returns_self(self, data):
        model = self.make_model()
        assert model.fit(data, options=FitOptions(device="cpu")) is model
        assert model.is_fitted and model.n_items_ == data.n_items

    def test_unfitted_raises(self):
        model = self.make_model()
        with pytest.raises(NotFittedError):
            model.score([0])
        with pytest.raises(NotFittedError):
            model.recommend([0], 5)

    def test_constructor_stores_params_and_does_no_work(self):
        model = self.make_model()
        assert set(vars(model)) == set(model.get_params())
        assert not model.is_fitted

    # ----- recommending ----------------------------------------------------
    def test_recommend_shape_ranks_and_order(self, fitted):
        users = np.arange(12)
        frame = fitted.recommend(users, 5).to_frame()
        assert len(frame) == 5 * len(users)
        for _, group in frame.groupby("user_idx"):
            assert group["rank"].tolist() == [1, 2, 3, 4, 5]
            assert np.all(np.diff(group["score"].to_numpy()) <= 1e-6)

    def test_seen_items_excluded(self, data, fitted):
        recs = fitted.recommend(np.arange(data.n_users), 10)
        seen = data.matrix(binary=True)
        assert not np.asarray(seen[recs.user_idx, recs.item_idx]).any()
        kept = fitted.recommend([1], data.n_items, exclude_seen=False)
        assert len(kept) == data.n_items

    def test_candidates_respected(self, fitted):
        candidates = np.arange(0, 40, 3)
        recs = fitted.recommend(np.arange(10), 4, candidates=candidates)
        assert set(recs.item_idx) <= set(candidates)

    def test_exclude_respected(self, data, fitted):
        users = np.arange(10)
        first = fitted.recommend(users, 3).item_matrix(3)[:, 0]
        block = sp.csr_matrix((np.ones(len(users)), (users, first)), shape=(data.n_users, data.n_items))
        again = fitted.recommend(users, 3, exclude=block).item_matrix(3)
        assert not np.any(again == first[:, None])

    def test_scores_of_a_batch_do_not_depend_on_the_batch(self, fitted):
        scores = fitted.score(np.arange(10))
        assert scores.shape == (10, fitted.n_items_) and scores.dtype == np.float32
        assert np.isfinite(scores).all()
        np.testing.assert_allclose(fitted.score([4, 2]), scores[[4, 2]], rtol=1e-5, atol=1e-6)

    # ----- reproducibility and persistence ------------------------------------
    def test_same_seed_same_recommendations(self, data, fitted):
        again = self.make_model().fit(data, options=FitOptions(device="cpu", seed=7))
        np.testing.assert_allclose(again.score(np.arange(20)), fitted.score(np.arange(20)), rtol=1e-5, atol=1e-6)
        assert np.array_equal(again.recommend(np.arange(20), 5).item_idx, fitted.recommend(np.arange(20), 5).item_idx)

    def test_save_load_gives_identical_recommendations(self, fitted, tmp_path):
        fitted.save(tmp_path / "model")
        loaded = type(fitted).load(tmp_path / "model")
        assert loaded.get_params() == fitted.get_params()
        assert np.array_equal(loaded.score(np.arange(20)), fitted.score(np.arange(20)))
        a, b = fitted.recommend(np.arange(20), 5), loaded.recommend(np.arange(20), 5)
        assert np.array_equal(a.item_idx, b.item_idx) and np.array_equal(a.score, b.score)
        assert not list(tmp_path.rglob("*.pkl"))

    def test_inference_does_not_mutate(self, fitted):
        before = state_digest(fitted)
        fitted.recommend(np.arange(30), 10)
        fitted.score(np.arange(5), item_idx=[0, 3])
        if "similar_items" in fitted.capabilities:
            fitted.similar_items(0, 5)
        assert state_digest(fitted) == before

    # ----- progress and cancel -----------------------------------------------
    def test_callbacks_fire(self, data):
        events = []
        self.make_model().fit(data, options=FitOptions(device="cpu", callbacks=[events.append]))
        if not self.iterative:
            return
        epochs = [e for e in events if e.stage in ("epoch", "iteration")]
        assert epochs and all("loss" in e.metrics and e.eta is not None for e in epochs)
        assert [e.step for e in epochs] == list(range(1, len(epochs) + 1))

    def test_cancel_raises_and_leaves_model_unfitted(self, data):
        if not self.iterative:
            pytest.skip("fits in one step; nothing to cancel between epochs")
        model = self.make_model()
        with pytest.raises(TrainingCancelled):
            model.fit(data, options=FitOptions(device="cpu", should_stop=lambda: True))
        assert not model.is_fitted

    # ----- registry ---------------------------------------------------------------
    def test_get_params_round_trip_through_registry(self, fitted):
        rebuilt = create(self.key, **fitted.get_params())
        assert type(rebuilt) is type(fitted) and rebuilt.get_params() == fitted.get_params()

    def test_registry_defaults_are_the_constructor_defaults(self):
        spec = get_spec(self.key)
        cls = spec.load_class()
        assert cls.key == self.key
        signature = inspect.signature(cls.__init__)
        constructor = {name: p.default for name, p in signature.parameters.items() if name != "self"}
        assert spec.defaults() == constructor
        assert spec.create().get_params() == constructor
        assert spec.uses_torch == ("gpu" in cls.capabilities)

    # ----- capabilities and accuracy ------------------------------------------
    def test_similar_items(self, fitted):
        if "similar_items" not in fitted.capabilities:
            pytest.skip("no similar_items capability")
        result = fitted.similar_items(0, 5)
        assert 0 not in result.similar_idx and len(result.similar_idx) <= 5
        assert np.all(np.diff(result.score) <= 1e-6)

    def test_beats_popularity_on_planted_groups(self):
        if not self.beats_popularity:
            pytest.skip("non-personalised model")
        train, test = planted_groups()
        model = self.make_model(**self.planted_params).fit(train, options=FitOptions(device="cpu", seed=0))
        popularity = create("popularity").fit(train)
        ours, baseline = ndcg_at_k(model, test), ndcg_at_k(popularity, test)
        assert ours > baseline + 0.1, (ours, baseline)
