"""SASRec: learns a planted next item, causal attention, arbitrary histories, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from contract import ModelContract, ndcg_at_k, shuffled_planted_groups
from recsys.data.dataset import Dataset
from recsys.models.popularity import Popularity
from recsys.models.registry import get_spec
from recsys.models.sasrec import SASRec
from recsys.training.options import FitOptions

N_ITEMS = 12
FAST = dict(max_len=8, hidden_size=16, n_blocks=2, n_heads=2, dropout=0.1, learning_rate=0.01,
            epochs=25, batch_size=32)


def cycles(n_users: int = 60, seed: int = 0) -> Dataset:
    """Every user walks the cycle 0 -> 1 -> ... -> 11 -> 0 from a random start."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        start, length = rng.integers(N_ITEMS), rng.integers(6, 16)
        rows += [(f"u{u}", f"i{(start + t) % N_ITEMS}", 1_700_000_000 + 60 * t) for t in range(length)]
    return Dataset.from_tables(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


def item_idx(data: Dataset, k: int) -> int:
    return int(data.items.index_of([f"i{k % N_ITEMS}"])[0])


class TestSASRecContract(ModelContract):
    key = "sasrec"
    fast_params = dict(hidden_size=16, max_len=20, epochs=2, batch_size=32)
    iterative = True
    # The contract's planted histories put each user's popular items last, so "next item"
    # is rightly a popular one there; test_beats_popularity_on_shuffled_groups checks taste.
    beats_popularity = False


@pytest.fixture(scope="module")
def data() -> Dataset:
    return cycles()


@pytest.fixture(scope="module")
def fitted(data) -> SASRec:
    return SASRec(**FAST).fit(data, options=FitOptions(seed=0, device="cpu"))


def test_registry_defaults_match_the_constructor():
    spec = get_spec("sasrec")
    assert spec.create().get_params() == SASRec().get_params()
    assert spec.family == "sequential" and spec.needs_timestamps and spec.uses_torch
    assert {"sequential", "gpu", "attention"} <= SASRec.capabilities


def test_learns_the_next_item_of_a_cycle(data, fitted):
    histories = [[item_idx(data, k - 2), item_idx(data, k - 1), item_idx(data, k)] for k in range(N_ITEMS)]
    top = fitted.score_sequences(histories).argmax(1)
    assert np.mean([top[k] == item_idx(data, k + 1) for k in range(N_ITEMS)]) >= 0.9
    # The fitted users: the top item follows the last item of their own history.
    scores = fitted.score(np.arange(data.n_users))
    nxt = {item_idx(data, k): item_idx(data, k + 1) for k in range(N_ITEMS)}
    last = [fitted.user_sequence(u)[-1] for u in range(data.n_users)]
    assert np.mean(scores.argmax(1) == [nxt[i] for i in last]) >= 0.9
    assert fitted.loss_history_[-1] < fitted.loss_history_[0]


def test_scores_cover_the_catalog_only(data, fitted):
    assert fitted.score([0, 1]).shape == (2, data.n_items)
    assert fitted.score_sequences([[], [item_idx(data, 3)]]).shape == (2, data.n_items)
    assert np.isfinite(fitted.score_sequences([[]])).all()
    with pytest.raises(ValueError):
        fitted.score_sequences([[data.n_items]])


def test_states_are_causal(fitted):
    """Changing the last item never changes the states at earlier positions."""
    a = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]])
    b = a.clone()
    b[0, -1] = 2
    with torch.no_grad():
        ha, hb = fitted.network_(a), fitted.network_(b)
    assert torch.allclose(ha[0, :-1], hb[0, :-1], atol=1e-6)
    assert not torch.allclose(ha[0, -1], hb[0, -1])


def test_padding_never_changes_the_states_of_real_items(fitted):
    """Training trims padding columns, scoring pads to max_len: both must agree."""
    x = torch.tensor([[0, 0, 0, 3, 4, 5, 6, 7]])
    with torch.no_grad():
        full, trimmed = fitted.network_(x)[0, 3:], fitted.network_(x[:, 3:])[0]
    assert torch.allclose(full, trimmed, atol=1e-5)


def test_attention_rows_are_causal_distributions(data, fitted):
    history = [item_idx(data, k) for k in range(5)]
    weights = fitted.attention(history=history)
    assert weights.shape == (2, 2, 5, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(np.ones((5, 5)), 1)[None, None] * weights == 0)
    full = fitted.attention(history=history, trim=False)
    assert full.shape == (2, 2, 8, 8)
    assert np.all(full[:, :, :3, :] == 0) and np.all(full[:, :, :, :3] == 0)  # padding rows and columns
    np.testing.assert_allclose(full[:, :, 3:, 3:], weights, atol=1e-6)


def test_attention_of_a_fitted_user_and_a_long_history(data, fitted):
    n = min(len(fitted.user_sequence(0)), FAST["max_len"])
    assert fitted.attention(0).shape == (2, 2, n, n)
    long = [item_idx(data, k) for k in range(30)]
    assert fitted.attention(history=long).shape == (2, 2, 8, 8)
    with pytest.raises(ValueError):
        fitted.attention()


def test_save_load_gives_identical_scores_and_attention(data, fitted, tmp_path):
    loaded = SASRec.load(fitted.save(tmp_path / "m"))
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(loaded.score(users), fitted.score(users))
    history = [item_idx(data, k) for k in (4, 9, 2)]
    np.testing.assert_array_equal(loaded.score_sequences([history]), fitted.score_sequences([history]))
    np.testing.assert_array_equal(loaded.attention(3), fitted.attention(3))


def test_same_seed_same_model(data):
    params = {**FAST, "epochs": 2}
    a = SASRec(**params).fit(data, options=FitOptions(seed=3, device="cpu"))
    b = SASRec(**params).fit(data, options=FitOptions(seed=3, device="cpu"))
    np.testing.assert_array_equal(a.score([0, 5]), b.score([0, 5]))


def test_full_windows_without_shift_and_sampled_negatives_train(data):
    model = SASRec(**{**FAST, "epochs": 2, "window_shift": False, "n_negatives": 4})
    model.fit(data, options=FitOptions(seed=0, device="cpu"))
    assert np.isfinite(model.loss_history_).all() and np.isfinite(model.score([0])).all()


def test_beats_popularity_on_shuffled_groups():
    """Group taste in histories whose popular items come in random order: a personal ranking."""
    train, test = shuffled_planted_groups()
    params = {**FAST, "max_len": 10, "epochs": 15}
    model = SASRec(**params).fit(train, options=FitOptions(seed=0, device="cpu"))
    ours, baseline = ndcg_at_k(model, test), ndcg_at_k(Popularity().fit(train), test)
    assert ours > baseline + 0.1, (ours, baseline)
