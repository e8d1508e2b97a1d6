"""ItemKNN: the contract, and similarities equal to hand-computed shrunk cosines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from contract import ModelContract
from recsys.data.dataset import Dataset
from recsys.models.itemknn import ItemKNN, _dense_topk, _sparse_topk, item_cosine_topk


class TestItemKNN(ModelContract):
    key = "itemknn"


def toy_data() -> Dataset:
    # users x items:   a  b  c
    pairs = [("u1", "a"), ("u1", "b"),          # 1  1  0
             ("u2", "a"), ("u2", "b"), ("u2", "c"),  # 1  1  1
             ("u3", "b"), ("u3", "c"),          # 0  1  1
             ("u4", "a")]                        # 1  0  0
    return Dataset.from_tables(pd.DataFrame(pairs, columns=["user_id", "item_id"]))


def test_similarity_is_hand_computed_shrunk_cosine():
    data = toy_data()
    a, b, c = data.items.index_of(["a", "b", "c"])
    shrink = 1.0
    model = ItemKNN(n_neighbors=10, shrink=shrink, locality=1.0).fit(data)
    s = model.similarity_.toarray()
    # |a| = sqrt(3), |b| = sqrt(3), |c| = sqrt(2); a.b = 2, a.c = 1, b.c = 2
    assert s[a, b] == pytest.approx(2 / (3 + shrink))
    assert s[a, c] == pytest.approx(1 / (np.sqrt(6) + shrink))
    assert s[b, c] == pytest.approx(2 / (np.sqrt(6) + shrink))
    np.testing.assert_allclose(s, s.T, rtol=1e-6)
    assert np.all(np.diag(s) == 0)


def test_locality_raises_similarities_to_a_power_and_scores_use_them():
    data = toy_data()
    plain = ItemKNN(n_neighbors=10, shrink=0.0, locality=1.0).fit(data)
    squared = ItemKNN(n_neighbors=10, shrink=0.0, locality=2.0).fit(data)
    np.testing.assert_allclose(squared.similarity_.toarray(), plain.similarity_.toarray() ** 2, rtol=1e-6)
    x = data.matrix(binary=True).toarray()
    np.testing.assert_allclose(squared.score(np.arange(data.n_users)), x @ squared.similarity_.toarray(), rtol=1e-6)


def test_each_item_keeps_its_top_neighbours():
    data = toy_data()
    a, b, c = data.items.index_of(["a", "b", "c"])
    model = ItemKNN(n_neighbors=1, shrink=0.0, locality=1.0).fit(data)
    s = model.similarity_.toarray()
    assert (s > 0).sum(axis=0).tolist() == [1, 1, 1]
    # cos(a,b) = 2/3, cos(b,c) = 2/sqrt(6), cos(a,c) = 1/sqrt(6): a's nearest is b, b's is c, c's is b.
    assert s[b, a] > 0 and s[c, b] > 0 and s[b, c] > 0
    assert s[a, b] == 0 and s[c, a] == 0 and s[a, c] == 0


def test_dense_and_sparse_pruning_agree():
    x = sp.random(300, 120, density=0.05, random_state=4, format="csr", dtype=np.float64)
    x.data[:] = 1.0
    xt, xc = sp.csr_matrix(x.T), sp.csc_matrix(x)
    norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel())
    gram = sp.csc_matrix(xt @ xc[:, 10:50])
    gram.sort_indices()
    for k in (1, 5, 200):
        d_row, d_col, d_val = _dense_topk(gram, norms, 10, k, 2.0)
        s_row, s_col, s_val = _sparse_topk(gram, norms, 10, k, 2.0)
        dense = sp.csr_matrix((d_val, (d_row, d_col)), shape=(120, 120)).toarray()
        sparse = sp.csr_matrix((s_val, (s_row, s_col)), shape=(120, 120)).toarray()
        # Same kept values per column (ties may pick different items with equal similarity).
        for j in range(10, 50):
            np.testing.assert_allclose(np.sort(dense[:, j]), np.sort(sparse[:, j]), rtol=1e-5)


def test_blocks_give_the_same_matrix(monkeypatch):
    import recsys.models.itemknn as knn
    x = sp.random(200, 90, density=0.08, random_state=1, format="csr", dtype=np.float32)
    whole = item_cosine_topk(x, 7, 3.0).toarray()
    monkeypatch.setattr(knn, "_BLOCK_ENTRIES", 90 * 4)
    blocked = item_cosine_topk(x, 7, 3.0).toarray()
    for j in range(90):
        np.testing.assert_allclose(np.sort(whole[:, j]), np.sort(blocked[:, j]), rtol=1e-5)


def test_similar_items_are_the_neighbours_of_the_item():
    data = toy_data()
    a, b, c = data.items.index_of(["a", "b", "c"])
    result = ItemKNN(n_neighbors=10, shrink=0.0).fit(data).similar_items(a, 2)
    assert result.similar_idx.tolist() == [b, c]


def test_a_run_saved_with_plain_cosines_loads_with_the_locality_applied(tmp_path):
    """Runs saved before ``similarity_`` held the powered values store the plain cosine."""
    data = toy_data()
    model = ItemKNN(n_neighbors=10, shrink=0.0, locality=2.0).fit(data)
    plain = ItemKNN(n_neighbors=10, shrink=0.0, locality=1.0).fit(data)
    model.save(tmp_path / "new")
    model.similarity_ = plain.similarity_  # what the older format wrote
    model._get_state = lambda: ({"similarity_": plain.similarity_}, None)
    model.save(tmp_path / "old")
    users = np.arange(data.n_users)
    expected = ItemKNN(n_neighbors=10, shrink=0.0, locality=2.0).fit(data).score(users)
    for folder in ("new", "old"):
        loaded = ItemKNN.load(tmp_path / folder)
        np.testing.assert_allclose(loaded.score(users), expected, rtol=1e-6)
        np.testing.assert_allclose(loaded.similarity_.toarray(), plain.similarity_.toarray() ** 2, rtol=1e-6)
