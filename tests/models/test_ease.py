"""EASE: the contract, the closed form against numpy, and the catalog-size guard."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from contract import ModelContract
from recsys.data.dataset import Dataset
from recsys.models import ease as ease_module
from recsys.models.ease import EASE
from recsys.training.options import FitOptions


class TestEASE(ModelContract):
    key = "ease"


def toy_data() -> Dataset:
    pairs = [(0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2), (2, 3), (3, 3), (3, 4), (4, 0), (4, 4), (5, 1), (5, 3)]
    return Dataset.from_tables(pd.DataFrame(pairs, columns=["user_id", "item_id"]).astype(str))


def numpy_ease(x: np.ndarray, lam: float) -> np.ndarray:
    """Steck 2019, eq. 8, written out directly."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("lam", [0.5, 3.0, 50.0])
def test_weights_equal_the_closed_form(lam):
    data = toy_data()
    x = data.matrix(binary=True).toarray().astype(np.float64)
    model = EASE(regularization=lam, dtype="float64").fit(data, options=FitOptions(device="cpu"))
    expected = numpy_ease(x, lam)
    np.testing.assert_allclose(model.weights_, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.score(np.arange(data.n_users)), x @ expected, rtol=1e-5, atol=1e-6)
    assert np.all(np.diag(model.weights_) == 0)


def test_float32_solve_ranks_like_float64():
    data = toy_data()
    exact = EASE(regularization=2.0, dtype="float64").fit(data, options=FitOptions(device="cpu"))
    fast = EASE(regularization=2.0).fit(data, options=FitOptions(device="cpu"))
    np.testing.assert_allclose(fast.weights_, exact.weights_, rtol=1e-4, atol=1e-5)


def test_weighting_changes_x():
    events = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"], "item_id": ["x", "x", "y", "x", "y"],
                           "event_type": ["view", "view", "purchase", "view", "view"]})
    data = Dataset.from_tables(events)
    binary = EASE(regularization=1.0, dtype="float64").fit(data)
    raw = EASE(regularization=1.0, weighting="raw", dtype="float64").fit(data)
    np.testing.assert_allclose(raw.weights_, numpy_ease(data.matrix().toarray().astype(float), 1.0), rtol=1e-5)
    assert not np.allclose(binary.weights_, raw.weights_)


def test_similar_items_is_the_row_of_b():
    data = toy_data()
    model = EASE(regularization=1.0).fit(data)
    result = model.similar_items(0, 2)
    row = model.weights_[0].copy()
    row[0] = -np.inf
    assert result.similar_idx.tolist() == np.argsort(-row, kind="stable")[:2].tolist()


def test_large_catalog_is_refused_with_a_pointer_to_itemknn(monkeypatch):
    monkeypatch.setattr(ease_module, "MAX_ITEMS", 3)
    model = EASE()
    with pytest.raises(ValueError, match="ItemKNN"):
        model.fit(toy_data(), options=FitOptions(device="cpu"))
    assert not model.is_fitted


def test_bad_regularization_is_refused():
    with pytest.raises(ValueError, match="regularization"):
        EASE(regularization=0.0).fit(toy_data())
