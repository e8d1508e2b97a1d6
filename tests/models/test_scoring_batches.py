"""Scoring never holds a dense users x items matrix: the evaluation and benchmark paths
score users in bounded batches, and each classic model's ``_score`` answers only for
the users it is asked about.

Memory is checked with ``tracemalloc`` (numpy and scipy report their allocations to
it; every classic model scores in numpy): the peak while ranking 24,000 users must
stay far below the dense matrix.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from recsys.benchmark import BenchmarkData, rank_items
from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import leave_last_out
from recsys.models.base import SCORE_BATCH_USERS
from recsys.models.registry import create
from recsys.training.options import FitOptions

N_USERS, N_ITEMS, PER_USER = 24_000, 600, 4
FAST = {"popularity": {}, "trending": {}, "itemknn": {}, "ease": {}, "als": {"iterations": 1, "factors": 8},
        "bpr": {"epochs": 1, "factors": 8, "batch_size": 16384}}
DENSE_BYTES = N_USERS * N_ITEMS * 4


@pytest.fixture(scope="module")
def split():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(N_USERS), PER_USER)
    frame = pd.DataFrame({"user_id": users.astype(str),
                          "item_id": rng.zipf(1.3, len(users)) % N_ITEMS,
                          "timestamp": pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(len(users)), "s")})
    frame["item_id"] = frame["item_id"].astype(str)
    return leave_last_out(Dataset.from_tables(frame), with_valid=False, min_events=2)


class ScoreSpy:
    """Calls the model's real ``_score`` and records each batch's size and answer shape."""

    def __init__(self, model):
        self.real, self.calls = model._score, []
        model._score = self

    def __call__(self, users, *, context=None):
        out = self.real(users, context=context)
        self.calls.append((len(users), np.shape(out)))
        return out


def traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("key", sorted(FAST))
def test_evaluation_and_benchmark_score_in_bounded_batches(key, split):
    model = create(key, **FAST[key]).fit(split.train, options=FitOptions(device="cpu", seed=0))
    users = np.unique(split.test.frame["user_idx"].to_numpy())
    assert len(users) > 20 * SCORE_BATCH_USERS
    spy = ScoreSpy(model)
    peaks = {
        "evaluate_model": traced_peak(lambda: evaluate_model(model, split, ks=(10,), on="test")),
        "benchmark rank_items": traced_peak(
            lambda: rank_items(model, BenchmarkData(split.train, None, split.test), users, 20)),
    }
    sizes = [n for n, _ in spy.calls]
    assert max(sizes) <= SCORE_BATCH_USERS
    assert sum(sizes) == 2 * len(users)
    assert all(shape == (n, split.train.n_items) for n, shape in spy.calls)
    for path, peak in peaks.items():
        # A batch of scores with its masks and sort, plus the users x k lists: far below dense.
        assert peak < DENSE_BYTES / 2, (path, peak / 2**20, DENSE_BYTES / 2**20)
