"""MultVAE and MultDAE: fold-in of unseen users, planted groups, annealing, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import make_split
from recsys.models.multvae import MultDAE, MultVAE
from recsys.models.popularity import Popularity
from recsys.models.registry import get_spec
from recsys.training.options import FitOptions

SMALL = dict(hidden_dim=32, latent_dim=8, epochs=40, batch_size=16, learning_rate=0.01)
CPU = FitOptions(device="cpu")
MODELS = [MultVAE, MultDAE]


def two_groups(n_users: int = 80, items_per_group: int = 25, per_user: int = 10, seed: int = 0,
               share_a: float = 0.65) -> tuple[Dataset, np.ndarray]:
    """Users who keep to one of two item groups (group A holds more users, so it is more popular).

    Popularity within a group is Zipf-like; returns the dataset and each item's group (0 = A, 1 = B)
    aligned to ``item_idx``.
    """
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, items_per_group + 1) ** 0.7
    pop /= pop.sum()
    rows = []
    for u in range(n_users):
        group = 0 if u < share_a * n_users else 1
        picks = rng.choice(items_per_group, per_user, replace=False, p=pop)
        rows += [{"user_id": f"u{u:03d}", "item_id": f"{'ab'[group]}{i:02d}", "timestamp": 1_700_000_000 + 60 * e}
                 for e, i in enumerate(rng.permutation(picks))]
    data = Dataset.from_tables(pd.DataFrame(rows))
    group = np.array([0 if str(i).startswith("a") else 1 for i in data.items.ids])
    return data, group


@pytest.fixture(scope="module")
def planted():
    return two_groups()


@pytest.fixture(scope="module", params=MODELS, ids=lambda cls: cls.__name__)
def fitted(request, planted):
    return request.param(**SMALL).fit(planted[0], options=CPU)


# ----- fold-in ---------------------------------------------------------------------------
def test_fold_in_ranks_an_unseen_users_taste_group_first(planted, fitted):
    data, group = planted
    n_users = fitted.n_users_
    b_items = np.flatnonzero(group == 1)
    # A history no training user has: three group-B items (plus an all-A row for contrast).
    rows = sp.csr_matrix((np.ones(6, np.float32), (np.repeat([0, 1], 3), np.r_[b_items[[1, 4, 7]], 0, 2, 5])),
                         shape=(2, data.n_items))
    scores = fitted.fold_in(rows)
    assert scores.shape == (2, data.n_items) and scores.dtype == np.float32
    for r, wanted in ((0, 1), (1, 0)):
        s = scores[r].copy()
        s[rows[r].indices] = -np.inf
        top = np.argsort(-s)[:10]
        assert (group[top] == wanted).all(), f"row {r}: top-10 groups {group[top]}"
    assert fitted.n_users_ == n_users == data.n_users  # folding in stores nothing


def test_fold_in_of_training_rows_equals_score(planted, fitted):
    data, _ = planted
    users = np.arange(data.n_users)
    np.testing.assert_allclose(fitted.fold_in(data.matrix()[users]), fitted.score(users), rtol=1e-5, atol=1e-5)


def test_fold_in_checks_width_and_scores_an_empty_row(planted, fitted):
    data, _ = planted
    with pytest.raises(ValueError, match="columns"):
        fitted.fold_in(sp.csr_matrix((1, data.n_items + 1), dtype=np.float32))
    empty = fitted.fold_in(sp.csr_matrix((2, data.n_items), dtype=np.float32))
    assert np.isfinite(empty).all() and np.allclose(empty[0], empty[1])
    assert fitted.fold_in(sp.csr_matrix((0, data.n_items), dtype=np.float32)).shape == (0, data.n_items)


# ----- accuracy ---------------------------------------------------------------------------
@pytest.mark.parametrize("cls", MODELS)
def test_beats_popularity_on_planted_groups(cls, planted):
    split = make_split(planted[0], "leave_last_out")
    model = cls(**SMALL).fit(split.fit_data(), options=CPU)
    popular = Popularity().fit(split.fit_data(), options=CPU)
    ndcg = evaluate_model(model, split, ks=(10,)).summary["ndcg@10"]
    assert ndcg > evaluate_model(popular, split, ks=(10,)).summary["ndcg@10"] + 0.05
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_early_stopping_keeps_the_best_epoch(planted):
    split = make_split(planted[0], "leave_last_out", refit_with_valid=False)
    model = MultDAE(**{**SMALL, "epochs": 8, "patience": 2}).fit(
        split.fit_data(), options=FitOptions(device="cpu", validation=split.valid))
    assert 1 <= model.best_epoch_ <= len(model.loss_history_) <= 8


# ----- training details ----------------------------------------------------------------------
def test_kl_weight_ramps_linearly_to_the_cap(planted):
    data, _ = planted
    model = MultVAE(anneal_cap=0.2, total_anneal_steps=100)
    model.history_ = data.matrix()
    model._prepare(data, torch.device("cpu"), CPU)
    values = []
    for step in (0, 50, 100, 1000):
        model.step_ = step
        values.append(model._beta())
    assert values == pytest.approx([0.0, 0.1, 0.2, 0.2])
    auto = MultVAE(batch_size=16)  # 0: ten epochs of ceil(80 / 16) = 5 steps
    auto.history_ = data.matrix()
    auto._prepare(data, torch.device("cpu"), CPU)
    assert auto.anneal_steps_ == 50
    assert MultDAE()._beta() == 0.0


@pytest.mark.parametrize("cls", MODELS)
def test_determinism_by_seed(cls, planted):
    data, _ = planted
    params = {**SMALL, "epochs": 3}
    a = cls(**params).fit(data, options=FitOptions(device="cpu", seed=3)).score(np.arange(10))
    b = cls(**params).fit(data, options=FitOptions(device="cpu", seed=3)).score(np.arange(10))
    c = cls(**params).fit(data, options=FitOptions(device="cpu", seed=4)).score(np.arange(10))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_weighting_changes_the_input(planted):
    data, _ = planted
    strong = data.with_frame(data.frame.assign(event_type="purchase", weight=np.float32(8.0)))
    params = {**SMALL, "epochs": 2}
    binary = MultDAE(**params).fit(strong, options=CPU).score([0])
    raw = MultDAE(**params, weighting="raw").fit(strong, options=CPU).score([0])
    assert not np.allclose(binary, raw)
    with pytest.raises(ValueError, match="weighting"):
        MultVAE(weighting="squared").fit(data, options=CPU)


def test_embeddings_and_registry(planted, fitted):
    data, _ = planted
    assert fitted.user_embeddings().shape == (data.n_users, SMALL["latent_dim"])
    assert fitted.item_embeddings().shape == (data.n_items, SMALL["hidden_dim"])
    assert not any(hasattr(fitted, name) for name in ("rows_", "active_", "step_", "generator_"))
    for key, cls in (("multvae", MultVAE), ("multdae", MultDAE)):
        spec = get_spec(key)
        assert spec.family == "deep" and spec.uses_torch and spec.load_class() is cls
        assert cls().get_params() == spec.defaults()
        assert "cold_start_users" in cls.capabilities and "gpu" in cls.capabilities
    assert "anneal_cap" not in MultDAE().get_params()
