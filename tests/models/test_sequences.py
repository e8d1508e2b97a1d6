"""Sequence helpers: padding, leak-free training windows, the chunked full-softmax gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys.models.sequences import (PAD, collapse_repeats, pad_histories, sampled_softmax_cross_entropy,
                                     softmax_cross_entropy_backward, training_windows)


def csr(lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Histories whose item index is the event's global time rank (so later = larger)."""
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return indptr, np.arange(indptr[-1], dtype=np.int64)


def test_collapse_repeats_keeps_one_event_per_run_of_the_same_item():
    indptr = np.array([0, 0, 3, 7, 7, 9, 11])
    items = np.array([1, 1, 2, 2, 2, 3, 2, 5, 6, 4, 4])
    new_indptr, new_items = collapse_repeats(indptr, items)
    assert new_indptr.tolist() == [0, 0, 2, 5, 5, 7, 8]
    assert new_items.tolist() == [1, 2, 2, 3, 2, 5, 6, 4]  # user 2 starts with 2 again: kept


def test_pad_left_keeps_the_most_recent_items_shifted_by_one():
    indptr, items = csr([1, 3, 7])
    out = pad_histories(indptr, items, np.array([0, 1, 2]), 4, "left")
    assert out.tolist() == [[0, 0, 0, 1], [0, 2, 3, 4], [8, 9, 10, 11]]


def test_pad_right_and_empty_histories():
    indptr, items = np.array([0, 0, 1, 7]), np.array([5, 1, 2, 3, 4, 5, 6])  # [], [5], [1..6]
    out = pad_histories(indptr, items, np.array([0, 1, 2]), 4, "right")
    assert out.tolist() == [[0, 0, 0, 0], [6, 0, 0, 0], [4, 5, 6, 7]]
    assert pad_histories(indptr, items, np.array([], np.int64), 3).shape == (0, 3)
    with pytest.raises(ValueError):
        pad_histories(indptr, items, np.array([1]), 3, "middle")


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("shift", [False, True])
def test_windows_cover_every_next_event_once_without_future_leakage(side, shift):
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, 50).tolist()
    indptr, items = csr(lengths)
    max_len = 7
    offsets = rng.integers(0, max_len, len(lengths)) if shift else None
    w = training_windows(indptr, items, max_len, side, offsets)
    assert w.inputs.shape == w.targets.shape == (len(w), max_len)
    # Every event but each user's first is a target exactly once.
    expected = np.concatenate([items[indptr[u] + 1:indptr[u + 1]] for u in range(len(lengths))])
    got = w.targets[w.targets != PAD] - 1
    assert sorted(got.tolist()) == expected.tolist()
    assert w.n_targets == len(expected)
    for x, y, u in zip(w.inputs, w.targets, w.user_idx):
        assert ((x == PAD) == (y == PAD)).all()
        real = np.flatnonzero(y != PAD)
        assert len(real) and (np.diff(real) == 1).all()  # one contiguous run
        xs, ys = x[real] - 1, y[real] - 1
        assert (ys == xs + 1).all()  # the target is the very next event...
        assert ((indptr[u] <= xs) & (ys < indptr[u + 1])).all()  # ...of the same user
        for j in range(len(real)):
            assert ys[j] > xs[:j + 1].max()  # causal inputs are all earlier than the target


def test_last_window_ends_at_the_last_event_with_the_longest_context():
    indptr, items = csr([10])
    w = training_windows(indptr, items, 4, "left")
    last = w.targets[np.argmax(w.targets.max(1))]
    assert last.tolist() == [7, 8, 9, 10]


def test_chunked_softmax_gradient_matches_autograd():
    torch.manual_seed(0)
    hidden = torch.randn(37, 8, dtype=torch.float64, requires_grad=True)
    items = torch.randn(11, 8, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 11, (37,))
    loss = softmax_cross_entropy_backward(hidden, targets, items, budget=11 * 8)  # chunks of 8 rows
    h2, w2 = hidden.detach().clone().requires_grad_(), items.detach().clone().requires_grad_()
    ref = torch.nn.functional.cross_entropy(h2 @ w2.T, targets)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(hidden.grad, h2.grad, atol=1e-7)
    assert torch.allclose(items.grad, w2.grad, atol=1e-7)


def test_sampled_softmax_ignores_a_negative_equal_to_the_target():
    hidden = torch.ones(1, 2)
    items = torch.tensor([[1.0, 1.0], [0.0, 0.0], [-1.0, 0.0]])
    with_hit = sampled_softmax_cross_entropy(hidden, torch.tensor([0]), items, torch.tensor([0, 1, 2]))
    without = sampled_softmax_cross_entropy(hidden, torch.tensor([0]), items, torch.tensor([1, 2]))
    assert float(with_hit) == pytest.approx(float(without))
