"""Per-user evaluation of ranked lists and of a fitted model, against hand arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation import evaluate_model, evaluate_recommendations, metric_curve
from recsys.evaluation.splits import leave_last_out, random_holdout, temporal_split
from recsys.models.base import Recommender

L2 = math.log2
T0 = 1_700_000_000


class FixedScores(Recommender):
    """Scores every user x item from a fixed table (a test double with known rankings)."""

    key = "fixed_scores"

    def __init__(self, scores=None):
        self.scores = scores

    def _fit(self, train, options):
        self.scores_ = np.asarray(self.scores, dtype=np.float32)

    def _score(self, users, *, context=None):
        return self.scores_[users]


def small_split():
    """u0: train i0,i1 / test i2,i3. u1: train i0 / test i0 (a repeat), i4. u2: only a repeat.
    u3 appears after the cut-off only (cold). The cut-off is T0 + 10."""
    rows = [("u0", "i0", 1), ("u0", "i1", 2), ("u1", "i0", 3), ("u2", "i1", 4),
            ("u0", "i2", 11), ("u0", "i3", 12), ("u1", "i0", 13), ("u1", "i4", 14), ("u2", "i1", 15),
            ("u3", "i5", 16)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    frame["timestamp"] += T0
    data = Dataset.from_tables(frame)
    assert list(data.users.ids) == ["u0", "u1", "u2", "u3"] and list(data.items.ids) == [f"i{j}" for j in range(6)]
    return data, temporal_split(data, cutoff=T0 + 10)


# After excluding train items: u0 ranks i5, i2, i4, i3 (hits at 2 and 4 of 2 relevant);
# u1 ranks i1, i2, i4, i3, i5 (hit at 3 of 1 relevant).
SCORES = np.array([
    [9, 8, 6, 4, 5, 7],
    [9, 8, 7, 5, 6, 4],
    [1, 2, 3, 4, 5, 6],
    [1, 2, 3, 4, 5, 6],
], dtype=np.float32)


def expected_small():
    return {
        "precision@2": [1 / 2, 0.0], "recall@2": [1 / 2, 0.0], "hit@2": [1.0, 0.0],
        "ndcg@2": [(1 / L2(3)) / (1 + 1 / L2(3)), 0.0], "map@2": [(1 / 2) / 2, 0.0], "mrr@2": [1 / 2, 0.0],
        "precision@10": [2 / 10, 1 / 10], "recall@10": [1.0, 1.0], "hit@10": [1.0, 1.0],
        "ndcg@10": [(1 / L2(3) + 1 / L2(5)) / (1 + 1 / L2(3)), 1 / L2(4)],
        "map@10": [(1 / 2 + 2 / 4) / 2, (1 / 3) / 1], "mrr@10": [1 / 2, 1 / 3],
    }


def test_evaluate_model_matches_hand_computed_metrics():
    data, split = small_split()
    model = FixedScores(SCORES).fit(split.fit_data())
    result = evaluate_model(model, split, ks=(2, 10))
    per_user = result.per_user
    assert per_user["user_idx"].tolist() == [0, 1]  # u2 has no new item, u3 is cold
    assert per_user["n_relevant"].tolist() == [2, 1]
    for name, values in expected_small().items():
        np.testing.assert_allclose(per_user[name].to_numpy(), values, err_msg=name)
        assert result.summary[name] == pytest.approx(np.mean(values))
    assert result.summary["n_users"] == 2 and result.ks == (2, 10)
    # Top 2: u0 -> i5, i2; u1 -> i1, i2: three of six items.
    assert result.summary["coverage@2"] == pytest.approx(3 / 6)
    # Train events per item: i0 2, i1 2, others 0.
    assert per_user["avgpop@2"].tolist() == [0.0, 1.0]
    assert result.summary["avgpop@2"] == pytest.approx(2 / 4)
    # Distinct train users per item: i0 2, i1 2, of 3 train users; unseen items count as 1.
    assert per_user["novelty@2"].tolist() == pytest.approx([L2(3), (-L2(2 / 3) + L2(3)) / 2])
    assert result.summary["seen_frac@10"] == 0.0


def test_batching_does_not_change_results():
    _, split = small_split()
    model = FixedScores(SCORES).fit(split.fit_data())
    a = evaluate_model(model, split, ks=(2, 10), batch_size=1).per_user
    b = evaluate_model(model, split, ks=(2, 10), batch_size=1024).per_user
    pd.testing.assert_frame_equal(a, b)


def test_model_fit_on_test_data_is_refused():
    data, split = small_split()
    model = FixedScores(SCORES).fit(data)
    with pytest.raises(ValueError, match="held-out test items"):
        evaluate_model(model, split)


def test_valid_excludes_train_only_and_test_excludes_valid():
    # Per user a, b, c, d by time: leave-last-out holds d out for test, c for valid.
    rows = [(u, item, t) for u in ("x", "y") for t, item in enumerate("abcd")]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    frame["timestamp"] += T0
    data = Dataset.from_tables(frame)
    split = leave_last_out(data, with_valid=True)
    c, d = data.items.index_of(["c", "d"])
    scores = np.zeros((2, 4), np.float32)
    scores[:, c], scores[:, d] = 2.0, 1.0  # valid item first, test item second
    model = FixedScores(scores).fit(split.train)
    on_valid = evaluate_model(model, split, ks=(1,), on="valid")
    assert on_valid.per_user["mrr@1"].tolist() == [1.0, 1.0]
    on_test = evaluate_model(model, split, ks=(1, 2), on="test")
    assert on_test.per_user["mrr@1"].tolist() == [1.0, 1.0]  # c is excluded, so d comes first
    refit = FixedScores(scores).fit(split.fit_data())
    with pytest.raises(ValueError, match="held-out valid items"):
        evaluate_model(refit, split, on="valid")


def test_lists_from_a_test_dataset_or_matrix_and_missing_users():
    data, split = small_split()
    ranked = np.array([[5, 2, 4, 3], [1, 2, 4, -1]])
    users = np.array([0, 1])
    rel = split.relevant()
    by_matrix = evaluate_recommendations(ranked, users, rel, ks=(2, 10))
    for name, values in expected_small().items():
        np.testing.assert_allclose(by_matrix.per_user[name].to_numpy(), values, err_msg=name)
    # With only u1's list, u0 is still evaluated and scores 0.
    partial = evaluate_recommendations(ranked[1:], users[1:], split, ks=(10,))
    assert partial.per_user["ndcg@10"].tolist() == pytest.approx([0.0, 1 / L2(4)])
    assert partial.summary["n_users_without_list"] == 1
    # A test Dataset: every test pair counts, repeats included (u1's i0, u2's i1).
    by_dataset = evaluate_recommendations(ranked, users, split.test, ks=(10,))
    assert by_dataset.per_user["user_idx"].tolist() == [0, 1, 2]
    assert by_dataset.per_user["n_relevant"].tolist() == [2, 2, 1]
    with pytest.raises(ValueError, match="repeat"):
        evaluate_recommendations(ranked, np.array([0, 0]), rel)


def test_seen_items_in_lists_are_reported_or_filtered():
    _, split = small_split()
    # u0's list starts with its train items i0, i1.
    ranked = np.array([[0, 1, 5, 2], [2, 4, 0, -1]])
    users = np.array([0, 1])
    kept = evaluate_recommendations(ranked, users, split, ks=(2,))
    assert kept.summary["seen_frac@2"] == pytest.approx(2 / 4)
    assert kept.per_user["hit@2"].tolist() == [0.0, 1.0]
    filtered = evaluate_recommendations(ranked, users, split, ks=(2,), filter_seen=True)
    assert filtered.per_user["precision@2"].tolist() == [1 / 2, 1 / 2]  # u0: i5, i2; u1: i2, i4
    assert filtered.per_user["mrr@2"].tolist() == [1 / 2, 1 / 2]


def test_diversity_uses_the_item_table_category():
    rows = [("u", "a", 1), ("u", "b", 2), ("v", "a", 3), ("u", "c", 20), ("v", "d", 21)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "category": ["x", "x", "y", "y"]})
    data = Dataset.from_tables(frame, items=items)
    split = temporal_split(data, cutoff=10)
    ranked = np.array([[2, 3], [1, 2]])  # u: c, d (same category); v: b, c (differ)
    result = evaluate_recommendations(ranked, np.array([0, 1]), split, ks=(2,))
    assert result.per_user["diversity@2"].tolist() == [0.0, 1.0]


def _reference_summary(lists, truth, n_items, train_counts, ks):
    """The benchmark scorer's averaging, written independently: absent lists score 0,
    coverage over the evaluated users' lists, AvgPop over all their slots."""
    kmax = max(ks)
    disc = 1.0 / np.log2(np.arange(2, kmax + 2))
    users = sorted(truth)
    res = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "precision", "hit", "ndcg", "map", "mrr")}
    rec = {k: [] for k in ks}
    for u in users:
        if u not in lists:
            continue
        lst, t = lists[u][:kmax], truth[u]
        hits = np.array([i in t for i in lst], dtype=bool)
        for k in ks:
            rec[k].extend(lst[:k])
            h = hits[:k]
            if not h.any():
                continue
            ranks = np.flatnonzero(h) + 1
            res[f"recall@{k}"] += h.sum() / len(t)
            res[f"precision@{k}"] += h.sum() / k
            res[f"hit@{k}"] += 1
            res[f"ndcg@{k}"] += disc[ranks - 1].sum() / disc[: min(len(t), k)].sum()
            res[f"map@{k}"] += (np.arange(1, h.sum() + 1) / ranks).sum() / min(len(t), k)
            res[f"mrr@{k}"] += 1 / ranks[0]
    res = {m: v / len(users) for m, v in res.items()}
    for k in ks:
        res[f"coverage@{k}"] = len(set(rec[k])) / n_items
        res[f"avgpop@{k}"] = float(np.mean([train_counts.get(i, 0) for i in rec[k]]))
    return res


def test_summary_equals_the_benchmark_averaging_on_a_random_split():
    rng = np.random.default_rng(11)
    n = 3000
    frame = pd.DataFrame({"user_id": rng.integers(0, 150, n).astype(str),
                          "item_id": rng.zipf(1.6, n).clip(max=120).astype(str)})
    data = Dataset.from_tables(frame)
    split = random_holdout(data, test_fraction=0.2, valid_fraction=0.1, seed=5)
    test = split.test.frame
    truth = test.groupby("user_idx")["item_idx"].agg(set).to_dict()
    # Lists for a random 80% of users (some not in test), random lengths, seen items left in.
    users = rng.permutation(data.n_users)[: int(0.8 * data.n_users)]
    ranked = np.full((len(users), 25), -1, np.int64)
    lists = {}
    for row, u in enumerate(users):
        length = int(rng.integers(0, 26))
        lst = rng.permutation(data.n_items)[:length]
        ranked[row, :length] = lst
        lists[int(u)] = lst.tolist()
    train_counts = split.train.frame.groupby("item_idx").size().to_dict()
    ours = evaluate_recommendations(ranked, users, split, ks=(10, 20)).summary
    ref = _reference_summary(lists, truth, data.n_items, train_counts, (10, 20))
    assert ours["n_users"] == len(truth)
    for name, value in ref.items():
        assert ours[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_metric_curve_is_monotone_for_recall():
    ranked = np.array([[0, 1, 2], [3, 4, 5]])
    relevant = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 0]]))
    curve = metric_curve(ranked, relevant, metric="recall")
    assert curve["k"].tolist() == [1, 2, 3]
    assert curve["recall"].tolist() == pytest.approx([(0 + 1 / 2) / 2, (0 + 1) / 2, (1 + 1) / 2])
