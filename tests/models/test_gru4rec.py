"""GRU4Rec: learns a planted next item, causal states, arbitrary histories, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from contract import ModelContract, ndcg_at_k, shuffled_planted_groups
from recsys.data.dataset import Dataset
from recsys.models.gru4rec import GRU4Rec
from recsys.models.popularity import Popularity
from recsys.models.registry import get_spec
from recsys.training.options import FitOptions

N_ITEMS = 12
FAST = dict(max_len=8, embedding_dim=16, hidden_size=32, dropout=0.1, learning_rate=0.01, epochs=25,
            batch_size=32)


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


class TestGRU4RecContract(ModelContract):
    key = "gru4rec"
    fast_params = dict(embedding_dim=16, hidden_size=16, max_len=20, epochs=2, batch_size=32)
    iterative = True
    # The contract's planted histories put each user's popular items last, so "next item"
    # is rightly a popular one there; test_beats_popularity_on_shuffled_groups checks taste.
    beats_popularity = False


@pytest.fixture(scope="module")
def data() -> Dataset:
    return cycles()


@pytest.fixture(scope="module")
def fitted(data) -> GRU4Rec:
    return GRU4Rec(**FAST).fit(data, options=FitOptions(seed=0, device="cpu"))


def test_registry_defaults_match_the_constructor():
    spec = get_spec("gru4rec")
    assert spec.create().get_params() == GRU4Rec().get_params()
    assert spec.family == "sequential" and spec.needs_timestamps and spec.uses_torch
    assert {"sequential", "gpu"} <= GRU4Rec.capabilities


def test_learns_the_next_item_of_a_cycle(data, fitted):
    histories = [[item_idx(data, k - 2), item_idx(data, k - 1), item_idx(data, k)] for k in range(N_ITEMS)]
    top = fitted.score_sequences(histories).argmax(1)
    assert np.mean([top[k] == item_idx(data, k + 1) for k in range(N_ITEMS)]) >= 0.9
    scores = fitted.score(np.arange(data.n_users))
    nxt = {item_idx(data, k): item_idx(data, k + 1) for k in range(N_ITEMS)}
    last = [fitted.user_sequence(u)[-1] for u in range(data.n_users)]
    assert np.mean(scores.argmax(1) == [nxt[i] for i in last]) >= 0.9
    assert fitted.loss_history_[-1] < fitted.loss_history_[0]


def test_right_padding_reads_the_state_at_the_last_item(data, fitted):
    """A history shorter than max_len scores from its own last item, not from padding."""
    short = [item_idx(data, 4)]
    long = [item_idx(data, k) for k in range(20)]  # truncated to the last 8
    s = fitted.score_sequences([short, long, long[-8:]])
    assert s[0].argmax() == item_idx(data, 5)
    np.testing.assert_allclose(s[1], s[2], rtol=1e-6)
    with pytest.raises(ValueError):
        fitted.score_sequences([[-1]])


def test_states_are_causal(fitted):
    a = torch.tensor([[3, 4, 5, 6, 7, 0, 0, 0]])
    b = a.clone()
    b[0, 4] = 2
    with torch.no_grad():
        ha, hb = fitted.network_(a), fitted.network_(b)
    assert torch.allclose(ha[0, :4], hb[0, :4], atol=1e-6)
    assert not torch.allclose(ha[0, 4], hb[0, 4])


def test_save_load_gives_identical_scores(data, fitted, tmp_path):
    loaded = GRU4Rec.load(fitted.save(tmp_path / "m"))
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(loaded.score(users), fitted.score(users))
    history = [item_idx(data, k) for k in (4, 9, 2)]
    np.testing.assert_array_equal(loaded.score_sequences([history]), fitted.score_sequences([history]))
    np.testing.assert_array_equal(loaded.user_sequence(7), fitted.user_sequence(7))


def test_inputs_are_scaled_by_root_dim_and_old_configs_load_unscaled(fitted):
    """The small shared embedding enters the GRU at unit scale; a config saved before the
    scale existed rebuilds the network it was trained as (scale 1)."""
    config = fitted._network_config()
    assert config["input_scale"] == pytest.approx(np.sqrt(FAST["embedding_dim"]))
    seqs = torch.tensor([[3, 4, 5, 0]])
    old = {k: v for k, v in config.items() if k != "input_scale"}
    unscaled = fitted._network_from_config(old)
    unscaled.load_state_dict(fitted.network_.state_dict())
    unscaled.eval()
    assert unscaled.input_scale == 1.0
    with torch.no_grad():
        embedded = fitted.network_.item_embedding(seqs)
        expected, _ = fitted.network_.gru(embedded * config["input_scale"])
        np.testing.assert_allclose(fitted.network_(seqs), fitted.network_.project(expected), rtol=1e-5)
        assert not torch.allclose(unscaled(seqs), fitted.network_(seqs))


def test_same_seed_same_model(data):
    params = {**FAST, "epochs": 2}
    a = GRU4Rec(**params).fit(data, options=FitOptions(seed=3, device="cpu"))
    b = GRU4Rec(**params).fit(data, options=FitOptions(seed=3, device="cpu"))
    np.testing.assert_array_equal(a.score([0, 5]), b.score([0, 5]))


def test_beats_popularity_on_shuffled_groups():
    """Group taste in histories whose popular items come in random order: a personal ranking."""
    train, test = shuffled_planted_groups()
    params = {**FAST, "max_len": 10, "epochs": 15, "learning_rate": 0.03}
    model = GRU4Rec(**params).fit(train, options=FitOptions(seed=0, device="cpu"))
    ours, baseline = ndcg_at_k(model, test), ndcg_at_k(Popularity().fit(train), test)
    assert ours > baseline + 0.1, (ours, baseline)
