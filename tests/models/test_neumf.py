"""NeuMF: negatives are never positives, chunked scoring equals pairwise, planted groups, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import make_split
from recsys.models import neumf as neumf_module
from recsys.models.neumf import NeuMF
from recsys.models.popularity import Popularity
from recsys.models.registry import get_spec
from recsys.training.options import FitOptions
# The planted data is shared with the MultVAE tests (pytest puts this folder on sys.path).
from test_multvae import two_groups

SMALL = dict(factors=8, mlp_layers=2, epochs=25, batch_size=128, learning_rate=0.01, n_negatives=4)
CPU = FitOptions(device="cpu")


@pytest.fixture(scope="module")
def planted():
    return two_groups()


@pytest.fixture(scope="module")
def fitted(planted):
    return NeuMF(**{**SMALL, "epochs": 3}).fit(planted[0], options=CPU)


def test_never_trains_on_a_negative_that_is_a_positive(planted, monkeypatch):
    data, _ = planted
    rows, cols = data.matrix().nonzero()
    positive_keys = np.sort(rows.astype(np.int64) * data.n_items + cols)
    seen = {"negatives": 0, "positives": 0}
    original = NeuMF._examples

    def checked(self, batch):
        users, items, labels = original(self, batch)
        keys = users.numpy() * data.n_items + items.numpy()
        is_positive = np.isin(keys, positive_keys)
        np.testing.assert_array_equal(is_positive, labels.numpy() == 1.0)
        seen["negatives"] += int((labels == 0).sum())
        seen["positives"] += int((labels == 1).sum())
        return users, items, labels

    monkeypatch.setattr(NeuMF, "_examples", checked)
    # Dense users (many positives each) make collisions likely if the sampler let them through.
    NeuMF(**{**SMALL, "epochs": 2, "n_negatives": 6}).fit(data, options=CPU)
    assert seen["positives"] == 2 * data.matrix().nnz
    assert seen["negatives"] == 6 * seen["positives"]


def test_chunked_scoring_equals_pairwise_forward(planted, fitted):
    data, _ = planted
    net = fitted.network_
    users = torch.arange(7)
    with torch.no_grad():
        pairwise = net(users.repeat_interleave(data.n_items), torch.arange(data.n_items).repeat(7))
        chunked = net.score_all(users, chunk_elements=7 * 16 * 5)  # five items per chunk
        whole = net.score_all(users, chunk_elements=1 << 30)
    np.testing.assert_allclose(chunked.numpy(), pairwise.reshape(7, -1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole.numpy(), chunked.numpy(), rtol=1e-5, atol=1e-6)


def test_scores_do_not_depend_on_the_scoring_batch(planted, fitted):
    data, _ = planted
    users = np.arange(data.n_users)
    small = NeuMF.__new__(NeuMF)
    small.__dict__.update(fitted.__dict__, score_batch=3)
    np.testing.assert_allclose(small.score(users), fitted.score(users), rtol=1e-5, atol=1e-6)


def test_beats_popularity_on_planted_groups(planted):
    split = make_split(planted[0], "leave_last_out")
    model = NeuMF(**SMALL).fit(split.fit_data(), options=CPU)
    popular = Popularity().fit(split.fit_data(), options=CPU)
    ndcg = evaluate_model(model, split, ks=(10,)).summary["ndcg@10"]
    assert ndcg > evaluate_model(popular, split, ks=(10,)).summary["ndcg@10"] + 0.05
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_determinism_by_seed(planted):
    data, _ = planted
    params = {**SMALL, "epochs": 2}
    a = NeuMF(**params).fit(data, options=FitOptions(device="cpu", seed=5)).score(np.arange(10))
    b = NeuMF(**params).fit(data, options=FitOptions(device="cpu", seed=5)).score(np.arange(10))
    c = NeuMF(**params).fit(data, options=FitOptions(device="cpu", seed=6)).score(np.arange(10))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_training_tensors_are_released_and_embeddings_exposed(planted, fitted):
    data, _ = planted
    assert not any(hasattr(fitted, name) for name in ("pos_users_", "pos_items_", "sampler_", "generator_"))
    width = SMALL["factors"] * (1 + 2 ** (SMALL["mlp_layers"] - 1))
    assert fitted.user_embeddings().shape == (data.n_users, width)
    assert fitted.item_embeddings().shape == (data.n_items, width)


def test_bad_sizes_fail_clearly_and_registry_entry(planted):
    with pytest.raises(ValueError, match="at least 1"):
        NeuMF(mlp_layers=0).fit(planted[0], options=CPU)
    spec = get_spec("neumf")
    assert spec.family == "deep" and spec.uses_torch and spec.load_class() is neumf_module.NeuMF
    assert NeuMF().get_params() == spec.defaults()
    assert {"embeddings", "gpu"} <= NeuMF.capabilities
