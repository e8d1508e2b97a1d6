"""ALS: the contract, fold-in equal to the full solve, and a decreasing objective."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from contract import ModelContract, planted_groups, taste_data
from recsys.models.als import ALS
from recsys.models.validation import RankingValidator
from recsys.models.weighting import apply_weighting
from recsys.training.options import FitOptions

FAST = {"factors": 8, "iterations": 4}


class TestALS(ModelContract):
    key = "als"
    fast_params = FAST
    iterative = True


def numpy_solve(model: ALS, row: sp.csr_matrix) -> np.ndarray:
    """Hu et al. 2008, eq. 4 with the weighted-lambda penalty, in float64 numpy."""
    row = apply_weighting(sp.csr_matrix(row), model.weighting)
    y = model.item_factors_.astype(np.float64)
    yu, w = y[row.indices], row.data.astype(np.float64)
    a = y.T @ y + max(model.regularization * len(w), 1e-6) * np.eye(y.shape[1])
    a += (yu * (model.alpha * w)[:, None]).T @ yu
    return np.linalg.solve(a, yu.T @ (1.0 + model.alpha * w))


@pytest.fixture(scope="module")
def fitted():
    data = taste_data()
    return data, ALS(**FAST).fit(data, options=FitOptions(device="cpu", seed=3))


def test_fold_in_equals_the_fitted_factor_and_the_exact_solve(fitted):
    data, model = fitted
    for u in (0, 7, 31):
        folded = model.recalculate_user(model.history_[u])
        np.testing.assert_allclose(folded, model.user_factors_[u], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(folded, numpy_solve(model, model.history_[u]), rtol=1e-3, atol=1e-5)


def test_fold_in_of_a_new_history_accepts_dense_rows_and_does_not_mutate(fitted):
    data, model = fitted
    before = (model.user_factors_.copy(), model.item_factors_.copy(), model.history_.copy())
    dense = np.zeros(data.n_items, np.float32)
    dense[[0, 2, 4]] = [1.0, 8.0, 2.0]
    folded = model.recalculate_user(dense)
    np.testing.assert_allclose(folded, numpy_solve(model, sp.csr_matrix(dense)), rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(model.user_factors_, before[0])
    np.testing.assert_array_equal(model.item_factors_, before[1])
    assert (model.history_ != before[2]).nnz == 0
    assert np.allclose(model.recalculate_user(np.zeros(data.n_items)), 0)
    with pytest.raises(ValueError, match="items"):
        model.recalculate_user(np.zeros(data.n_items + 1))


def test_loss_decreases_every_sweep():
    data = taste_data()
    model = ALS(factors=8, iterations=8, alpha=4.0).fit(data, options=FitOptions(device="cpu"))
    loss = model.loss_history_
    assert len(loss) == 8 and loss[-1] < loss[0]
    assert np.all(np.diff(loss) <= 1e-6 * loss[0])


def test_validation_keeps_the_best_sweep():
    train, test = planted_groups()
    rows, cols = test.nonzero()
    validation = train.with_frame(pd.DataFrame({"user_idx": rows, "item_idx": cols,
                                                "weight": np.ones(len(rows), np.float32)}))
    events = []
    model = ALS(factors=8, iterations=6).fit(train, options=FitOptions(device="cpu", validation=validation,
                                                                       callbacks=[events.append]))
    sweeps = [e for e in events if e.stage == "iteration"]
    assert all("ndcg@10" in e.metrics for e in sweeps) and max(e.metrics["ndcg@10"] for e in sweeps) > 0.3
    # The best sweep is restored; the final exact user pass moves the NDCG only slightly.
    best = max(e.metrics["ndcg@10"] for e in sweeps)
    kept = RankingValidator(model.history_, validation).ndcg(lambda u: model.score(u))
    assert kept == pytest.approx(best, abs=0.005) and kept > sweeps[-1].metrics["ndcg@10"]


def test_similar_items_follow_taste_groups(fitted):
    data, model = fitted
    similar = model.similar_items(0, 5).similar_idx
    parity = data.items.to_raw(similar)
    query = data.items.to_raw([0])[0]
    same = sum(int(p[1:]) % 2 == int(query[1:]) % 2 for p in parity)
    assert same >= 4


def test_embeddings_are_copies(fitted):
    _, model = fitted
    emb = model.item_embeddings()
    emb[:] = 0
    assert np.abs(model.item_factors_).sum() > 0
    assert model.user_embeddings().shape == model.user_factors_.shape
