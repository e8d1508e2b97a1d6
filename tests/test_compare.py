"""Bootstrap intervals and paired comparisons: coverage, power, null behaviour, alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.evaluation.compare import (Interval, bootstrap_ci, compare_runs, holm_adjust, leaderboard,
                                       paired_bootstrap)
from recsys.evaluation.evaluate import EvaluationResult


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(123)
    true_mean = 1.0
    covered = [true_mean in bootstrap_ci(rng.normal(true_mean, 2.0, 100), n_boot=1000, seed=i)
               for i in range(200)]
    assert 0.88 <= np.mean(covered) <= 0.99


def test_bootstrap_interval_basics():
    values = np.array([0.0, 1.0, 1.0, 0.0, 1.0, np.nan])
    ci = bootstrap_ci(values, n_boot=500, level=0.9, seed=1)
    assert ci.mean == pytest.approx(3 / 5)  # NaN left out
    assert ci.low < ci.mean < ci.high and ci.level == 0.9
    assert bootstrap_ci(values, n_boot=500, level=0.9, seed=1) == ci  # seeded
    wide = bootstrap_ci(np.random.default_rng(0).normal(size=50), seed=0)
    narrow = bootstrap_ci(np.random.default_rng(0).normal(size=5000), seed=0)
    assert (narrow.high - narrow.low) < (wide.high - wide.low) / 5
    constant = bootstrap_ci(np.full(10, 0.25))
    assert (constant.low, constant.mean, constant.high) == (0.25, 0.25, 0.25)
    assert np.isnan(bootstrap_ci(np.array([np.nan])).mean)


def _runs(rng, n, shift):
    """Per-user metric of two runs on the same users: large shared user effect, small noise."""
    user_effect = rng.uniform(0, 1, n)
    a = user_effect + rng.normal(0, 0.05, n)
    b = user_effect + rng.normal(0, 0.05, n) - shift
    return a, b


def test_paired_test_detects_a_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(7)
    planted = [paired_bootstrap(*_runs(rng, 200, 0.02), n_boot=1000, seed=i).p_value for i in range(40)]
    null = [paired_bootstrap(*_runs(rng, 200, 0.0), n_boot=1000, seed=i).p_value for i in range(40)]
    assert np.mean(np.array(planted) < 0.05) >= 0.9
    assert np.mean(np.array(null) < 0.05) <= 0.15


def test_paired_comparison_fields():
    rng = np.random.default_rng(3)
    a, b = _runs(rng, 300, 0.1)
    cmp = paired_bootstrap(a, b, metric="ndcg@10", n_boot=2000, seed=0)
    assert cmp.metric == "ndcg@10" and cmp.n_users == 300
    assert cmp.mean_a == pytest.approx(a.mean()) and cmp.mean_b == pytest.approx(b.mean())
    assert cmp.diff.mean == pytest.approx((a - b).mean())
    assert 0 < cmp.diff.low < 0.1 < cmp.diff.high
    assert cmp.p_value == pytest.approx(1 / 2001)  # never exactly 0
    same = paired_bootstrap(a, a.copy())
    assert same.p_value == 1.0 and same.diff == Interval(0.0, 0.0, 0.0, 0.95)
    with pytest.raises(ValueError, match="same users"):
        paired_bootstrap(a, b[:-1])


def test_compare_runs_aligns_users():
    a = pd.DataFrame({"user_idx": [3, 1, 2, 9], "ndcg@10": [0.3, 0.1, 0.2, 0.9]})
    b = pd.DataFrame({"user_idx": [1, 2, 3, 7], "ndcg@10": [0.0, 0.1, 0.1, 0.5]})
    cmp = compare_runs(a, b, "ndcg@10", n_boot=500, seed=2)
    expected = paired_bootstrap(np.array([0.3, 0.1, 0.2]), np.array([0.1, 0.0, 0.1]), metric="ndcg@10",
                                n_boot=500, seed=2)
    assert cmp.n_users == 3
    assert cmp.diff.mean == pytest.approx(expected.diff.mean) == pytest.approx(0.4 / 3)
    assert cmp.mean_a == pytest.approx(0.2) and cmp.mean_b == pytest.approx(0.2 / 3)
    with pytest.raises(KeyError, match="recall@10"):
        compare_runs(a, b, "recall@10")
    with pytest.raises(ValueError, match="no evaluated user in common"):
        compare_runs(a, b.assign(user_idx=[10, 11, 12, 13]), "ndcg@10")


def test_holm_adjustment():
    assert holm_adjust(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust(np.array([0.5, 0.9])).tolist() == pytest.approx([1.0, 1.0])


def _result(values: np.ndarray) -> EvaluationResult:
    frame = pd.DataFrame({"user_idx": np.arange(len(values)), "n_relevant": 1, "ndcg@10": values})
    return EvaluationResult(frame, {"ndcg@10": float(values.mean())}, (10,))


def test_leaderboard_ranks_runs_and_tests_them_against_the_best():
    rng = np.random.default_rng(5)
    base = rng.uniform(0, 1, 400)
    results = {"pop": _result(base - 0.2 + rng.normal(0, 0.02, 400)),
               "ease": _result(base + rng.normal(0, 0.02, 400)),
               "twin": _result(base + rng.normal(0, 0.02, 400))}
    board = leaderboard(results, "ndcg@10", n_boot=500)
    assert board.index[-1] == "pop"
    best = board.index[0]
    assert set(board["vs"]) == {best}
    assert np.isnan(board.loc[best, "p_value"])
    assert board.loc["pop", "p_value"] < 0.01 and board.loc["pop", "diff"] == pytest.approx(-0.2, abs=0.01)
    other = "twin" if best == "ease" else "ease"
    assert board.loc[other, "p_value"] > 0.01
    assert (board["low"] <= board["mean"]).all() and (board["mean"] <= board["high"]).all()
    assert (board.loc[board.index != best, "p_holm"] >= board.loc[board.index != best, "p_value"]).all()
    by_baseline = leaderboard(results, "ndcg@10", baseline="pop", n_boot=500)
    assert set(by_baseline["vs"]) == {"pop"} and (by_baseline.drop("pop")["diff"] > 0.15).all()
    with pytest.raises(KeyError, match="baseline"):
        leaderboard(results, baseline="nope")
