"""Accuracy and beyond-accuracy metrics against hand arithmetic and an independent reference."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys.evaluation import beyond
from recsys.evaluation.metrics import (hit_rate_at_k, hits_matrix, map_at_k, mrr_at_k, n_relevant,
                                       ndcg_at_k, precision_at_k, ranking_metrics, recall_at_k)

L2 = math.log2


def test_hits_at_ranks_one_and_three_of_two_relevant():
    # Items 7 and 9 are relevant; the list holds them at ranks 1 and 3.
    ranked = np.array([[7, 1, 9, 2]])
    hits = hits_matrix(ranked, [np.array([9, 7])])
    assert hits.tolist() == [[True, False, True, False]]
    n_rel = np.array([2])
    assert precision_at_k(hits, 4)[0] == pytest.approx(2 / 4)
    assert recall_at_k(hits, n_rel, 4)[0] == pytest.approx(2 / 2)
    assert ndcg_at_k(hits, n_rel, 4)[0] == pytest.approx((1 + 1 / L2(4)) / (1 + 1 / L2(3)))
    assert map_at_k(hits, n_rel, 4)[0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert mrr_at_k(hits, 4)[0] == pytest.approx(1.0)
    assert hit_rate_at_k(hits, 4)[0] == 1.0
    # At K = 2 only the first hit counts; IDCG still over min(2, 2) = 2 ideal hits.
    assert ndcg_at_k(hits, n_rel, 2)[0] == pytest.approx(1 / (1 + 1 / L2(3)))
    assert map_at_k(hits, n_rel, 2)[0] == pytest.approx(1 / 2)
    assert recall_at_k(hits, n_rel, 2)[0] == pytest.approx(1 / 2)
    assert precision_at_k(hits, 2)[0] == pytest.approx(1 / 2)


def test_k_larger_than_the_list():
    # A 2-item list with its only hit at rank 2; 3 relevant items; K = 5.
    ranked = np.array([[4, 0]])
    hits = hits_matrix(ranked, [np.array([0, 5, 6])])
    n_rel = np.array([3])
    assert precision_at_k(hits, 5)[0] == pytest.approx(1 / 5)  # divides by K, not the list length
    assert recall_at_k(hits, n_rel, 5)[0] == pytest.approx(1 / 3)
    assert ndcg_at_k(hits, n_rel, 5)[0] == pytest.approx((1 / L2(3)) / (1 + 1 / L2(3) + 1 / L2(4)))
    assert map_at_k(hits, n_rel, 5)[0] == pytest.approx((1 / 2) / 3)
    assert mrr_at_k(hits, 5)[0] == pytest.approx(1 / 2)


def test_more_relevant_items_than_k_caps_the_ideal():
    hits = hits_matrix(np.array([[1, 2, 3]]), [np.arange(1, 6)])
    n_rel = np.array([5])
    assert ndcg_at_k(hits, n_rel, 2)[0] == pytest.approx(1.0)
    assert map_at_k(hits, n_rel, 2)[0] == pytest.approx((1 + 1) / 2)
    assert recall_at_k(hits, n_rel, 2)[0] == pytest.approx(2 / 5)


def test_padding_never_hits_and_empty_relevance_scores_zero_without_warnings():
    ranked = np.array([[3, -1, -1], [-1, -1, -1], [0, 1, 2]])
    relevant = [np.array([3]), np.array([0]), np.array([], dtype=np.int64)]
    hits = hits_matrix(ranked, relevant)
    assert hits.tolist() == [[True, False, False], [False, False, False], [False, False, False]]
    n_rel = n_relevant(relevant)
    assert n_rel.tolist() == [1, 1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = ranking_metrics(hits, n_rel, ks=(1, 10))
    assert values["ndcg@10"].tolist() == [1.0, 0.0, 0.0]
    assert values["recall@1"].tolist() == [1.0, 0.0, 0.0]
    assert values["map@10"].tolist() == [1.0, 0.0, 0.0]
    assert values["precision@10"].tolist() == [0.1, 0.0, 0.0]
    assert values["mrr@10"].tolist() == [1.0, 0.0, 0.0]
    assert values["hit@1"].tolist() == [1.0, 0.0, 0.0]


def test_sparse_and_list_relevance_agree_and_duplicates_count_once():
    ranked = np.array([[0, 2, 4], [5, 1, 3]])
    as_list = [np.array([2, 4, 2]), np.array([3])]
    as_csr = sp.csr_matrix((np.ones(3), ([0, 0, 1], [2, 4, 3])), shape=(2, 6))
    assert np.array_equal(hits_matrix(ranked, as_list), hits_matrix(ranked, as_csr))
    assert n_relevant(as_list).tolist() == [2, 1]
    assert n_relevant(as_csr).tolist() == [2, 1]


def test_mismatched_rows_are_refused():
    with pytest.raises(ValueError, match="rows"):
        hits_matrix(np.array([[0, 1]]), [np.array([0]), np.array([1])])


def _reference(lists, truth, ks):
    """Independent per-user computation, as in the benchmark's (RecBole's) scorer."""
    kmax = max(ks)
    disc = 1.0 / np.log2(np.arange(2, kmax + 2))
    res = {f"{m}@{k}": [] for k in ks for m in ("recall", "precision", "hit", "ndcg", "map", "mrr")}
    for lst, t in zip(lists, truth):
        lst = lst[:kmax]
        hits = np.fromiter((i in t for i in lst), dtype=bool, count=len(lst))
        for k in ks:
            h = hits[:k]
            nh = h.sum()
            if nh == 0:
                for m in ("recall", "precision", "hit", "ndcg", "map", "mrr"):
                    res[f"{m}@{k}"].append(0.0)
                continue
            ranks = np.flatnonzero(h) + 1
            res[f"recall@{k}"].append(nh / len(t))
            res[f"precision@{k}"].append(nh / k)
            res[f"hit@{k}"].append(1.0)
            res[f"ndcg@{k}"].append(disc[ranks - 1].sum() / disc[: min(len(t), k)].sum())
            res[f"map@{k}"].append((np.arange(1, nh + 1) / ranks).sum() / min(len(t), k))
            res[f"mrr@{k}"].append(1.0 / ranks[0])
    return {m: np.array(v) for m, v in res.items()}


def _compare_with_reference(seed, n_users, n_items, max_len, ks):
    rng = np.random.default_rng(seed)
    ranked = np.full((n_users, max_len), -1, np.int64)
    lists, truth = [], []
    for u in range(n_users):
        length = int(rng.integers(0, max_len + 1))
        lst = rng.permutation(n_items)[:length]
        ranked[u, :length] = lst
        lists.append(lst)
        truth.append(set(rng.choice(n_items, size=int(rng.integers(1, min(9, n_items + 1))), replace=False).tolist()))
    relevant = [np.array(sorted(t)) for t in truth]
    hits = hits_matrix(ranked, relevant)
    ours = ranking_metrics(hits, n_relevant(relevant), ks)
    ref = _reference(lists, truth, ks)
    for name, values in ref.items():
        np.testing.assert_allclose(ours[name], values, rtol=1e-12, atol=1e-15, err_msg=name)


def test_equals_reference_on_a_random_case():
    _compare_with_reference(seed=3, n_users=300, n_items=40, max_len=20, ks=(1, 5, 10, 20, 25))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_items=st.integers(2, 30), max_len=st.integers(1, 12),
       ks=st.lists(st.integers(1, 15), min_size=1, max_size=3, unique=True))
def test_equals_reference_property(seed, n_items, max_len, ks):
    _compare_with_reference(seed, n_users=20, n_items=n_items, max_len=min(max_len, n_items), ks=tuple(ks))


# ----- beyond accuracy ----------------------------------------------------------

def test_catalog_coverage_counts_distinct_items_over_catalog():
    ranked = np.array([[0, 1, -1], [1, 2, -1]])
    assert beyond.catalog_coverage(ranked, 10) == pytest.approx(3 / 10)


def test_novelty_is_mean_self_information():
    pop = np.array([10.0, 5.0, 1.0, 0.0])
    ranked = np.array([[0, 1, -1], [2, 3, -1], [-1, -1, -1]])
    nov = beyond.novelty(ranked, pop, n_users=10)
    assert nov[0] == pytest.approx((-L2(10 / 10) - L2(5 / 10)) / 2)
    # An item nobody saw counts as one user: log2(10), like item 2.
    assert nov[1] == pytest.approx(L2(10))
    assert np.isnan(nov[2])


def test_average_popularity_and_long_tail_share():
    pop = np.array([10.0, 5.0, 1.0, 0.0, 0.0])
    ranked = np.array([[0, 1, 2], [3, -1, -1]])
    assert beyond.average_popularity(ranked, pop).tolist() == pytest.approx([16 / 3, 0.0])
    # The head is the top 20% of 5 items: item 0 only.
    assert beyond.long_tail_share(ranked, pop, head_fraction=0.2).tolist() == pytest.approx([2 / 3, 1.0])


def test_intra_list_diversity_by_category_and_embedding():
    cats = np.array(["a", "a", "b", None], dtype=object)
    ranked = np.array([[0, 1, 2], [0, 3, 2], [0, -1, -1]])
    div = beyond.intra_list_diversity(ranked, item_categories=cats)
    assert div[0] == pytest.approx(2 / 3)  # pairs (0,1) same, (0,2) and (1,2) differ
    assert div[1] == pytest.approx(1.0)  # item 3 has no category: only the pair (0,2) counts
    assert np.isnan(div[2])
    emb = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0]])
    div = beyond.intra_list_diversity(np.array([[0, 1, 2], [0, 3, -1]]), item_embeddings=emb)
    assert div[0] == pytest.approx((1 + 2 * (1 - 1 / math.sqrt(2))) / 3)
    assert div[1] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="exactly one"):
        beyond.intra_list_diversity(ranked)


def test_gini_index_of_exposure():
    assert beyond.gini_index(np.array([[0, 1], [2, 3]]), 4) == pytest.approx(0.0)
    assert beyond.gini_index(np.array([[0], [0]]), 4) == pytest.approx(3 / 4)
