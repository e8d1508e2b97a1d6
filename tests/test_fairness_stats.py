"""Fairness building blocks on hand-made data: groups, intervals, Gini, calibration, re-rankers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.fairness.breakdown import TOO_SMALL, group_breakdown, resampled_means
from recsys.fairness.calibration import (genre_matrix, history_distribution, kl_miscalibration, list_distribution,
                                         miscalibration)
from recsys.fairness.exposure import (ItemGroups, exposure_by_group, gini, item_exposure, lorenz_curve,
                                      popularity_bias, popularity_tiers)
from recsys.fairness.groups import MISSING, activity_groups, customer_groups, parse_spec
from recsys.fairness.rerank import CalibratedReranker, ExposureReranker, MMRReranker


def small_dataset() -> Dataset:
    events = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b", "c", "d", "d", "d", "d", "d", "e"],
                           "item_id": ["1", "2", "3", "1", "4", "2", "1", "2", "3", "4", "5", "5"],
                           "timestamp": np.arange(12) * 86_400 + 1_700_000_000})
    users = pd.DataFrame({"user_id": ["a", "b", "c", "d", "e"],
                          "country": ["JP", "JP", "FR", None, "FR"],
                          "age_group": ["18-24", "25-34", "18-24", "25-34", "25-34"],
                          "signup_date": pd.to_datetime(["2023-01-01", "2023-11-10", None, "2020-05-05",
                                                         "2023-11-14"])})
    return Dataset.from_tables(events, users=users)


# ----- groups -------------------------------------------------------------------------------------

def test_group_counts_add_up_to_the_customers_and_missing_is_a_group():
    data = small_dataset()
    users = np.arange(data.n_users)
    for spec in ("country", "activity", "tenure", "country+age_group"):
        groups = customer_groups(data, users, spec)
        assert len(groups.labels) == data.n_users
        assert groups.counts().sum() == data.n_users, spec
    country = customer_groups(data, users, "country").counts()
    assert country.to_dict() == {"JP": 2, "FR": 2, MISSING: 1}
    crossed = customer_groups(data, users, "country+age_group").counts()
    assert crossed["JP × 18-24"] == 1 and crossed[f"{MISSING} × 25-34"] == 1
    tenure = customer_groups(data, users, "tenure").counts()
    assert tenure[MISSING] == 1 and tenure.sum() == 5


def test_activity_terciles_and_thresholds():
    counts = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    labels = activity_groups(counts).labels
    assert list(labels) == ["new"] * 3 + ["light"] * 3 + ["heavy"] * 3
    fixed = activity_groups(counts, thresholds=(1, 8)).labels
    assert pd.Series(fixed).value_counts().to_dict() == {"new": 1, "light": 7, "heavy": 1}


def test_grouping_spec_parsing_and_unknown_names():
    assert parse_spec("country + age_group") == ["country", "age_group"]
    assert parse_spec("country × age_group") == ["country", "age_group"]
    with pytest.raises(ValueError):
        parse_spec("a+b+c")
    with pytest.raises(KeyError, match="groupings available"):
        customer_groups(small_dataset(), np.arange(5), "shoe_size")


# ----- breakdown ----------------------------------------------------------------------------------

def test_breakdown_sizes_flags_and_best_group():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.binomial(1, 0.5, 400), rng.binomial(1, 0.2, 400), [1.0] * 10, [np.nan] * 5])
    labels = np.array(["a"] * 400 + ["b"] * 400 + ["tiny"] * 10 + ["a"] * 5, dtype=object)
    table = group_breakdown(values, labels, min_size=30).set_index("group")
    assert table["n"].to_dict() == {"a": 400, "b": 400, "tiny": 10}  # NaN values are left out
    assert table.loc["a", "best"] and table.loc["a", "verdict"] == "best"  # "tiny" has mean 1 but is too small
    assert table.loc["tiny", "verdict"] == TOO_SMALL and table.loc["tiny", "too_small"]
    assert table.loc["b", "verdict"] == "significantly worse"
    assert table.loc["b", "gap_high"] < 0 < table.loc["b", "p_holm"] < 0.05
    assert table.loc["b", "ratio"] == pytest.approx(table.loc["b", "mean"] / table.loc["a", "mean"])
    assert table.loc["b", "low"] < table.loc["b", "mean"] < table.loc["b", "high"]


def test_no_gap_between_identical_groups_is_not_significant():
    rng = np.random.default_rng(1)
    values = rng.exponential(size=1000)
    labels = np.where(np.arange(1000) % 2 == 0, "x", "y").astype(object)
    table = group_breakdown(values, labels)
    assert (table["verdict"].isin(["best", "no significant gap"])).all()


@pytest.mark.parametrize("draw,truth", [
    (lambda rng, n: rng.exponential(2.0, n), 2.0),              # continuous, resampled directly
    (lambda rng, n: rng.binomial(1, 0.3, n).astype(float), 0.3),  # two levels, multinomial counts
])
def test_intervals_cover_the_true_mean_about_95_percent_of_the_time(draw, truth):
    rng = np.random.default_rng(42)
    hits = 0
    for i in range(200):
        values = draw(rng, 150)
        table = group_breakdown(values, np.full(150, "g", dtype=object), n_boot=500, seed=i)
        hits += bool(table.loc[0, "low"] <= truth <= table.loc[0, "high"])
    coverage = hits / 200
    print(f"coverage of 200 simulated 95% intervals: {coverage:.3f}")
    assert 0.88 <= coverage <= 0.99


def test_binned_resampling_of_large_groups_matches_the_direct_bootstrap():
    rng = np.random.default_rng(3)
    values = rng.lognormal(0.0, 1.0, 20_000)  # many levels, large group: binned path
    binned = resampled_means(values, n_boot=4000, seed=1)
    direct = np.array([values[rng.integers(0, len(values), len(values))].mean() for _ in range(400)])
    assert binned.mean() == pytest.approx(values.mean(), rel=2e-3)
    assert binned.std() == pytest.approx(direct.std(), rel=0.12)


# ----- exposure -----------------------------------------------------------------------------------

def test_gini_hand_values():
    assert gini(np.full(7, 3.0)) == 0.0
    for n in (2, 5, 10):
        one = np.zeros(n)
        one[n // 2] = 4.0
        assert gini(one) == pytest.approx((n - 1) / n)
    # x = (1, 2, 3): sum_i (2i - n - 1) x_i / (n sum x) = (-2 + 0 + 6) / (3 * 6) = 2/9
    assert gini(np.array([3.0, 1.0, 2.0])) == pytest.approx(2 / 9)


def test_position_weighted_exposure_and_group_shares():
    ranked = np.array([[0, 1], [0, 2], [3, -1]])
    exposure = item_exposure(ranked, 5)
    w2 = 1 / np.log2(3)
    assert exposure == pytest.approx([2.0, w2, w2, 1.0, 0.0])
    groups = ItemGroups("kind", np.array(["a", "a", "b", "b", "b"], dtype=object))
    table = exposure_by_group(ranked, groups, np.array([5, 3, 1, 1, 0])).set_index("group")
    assert table.loc["a", "catalog_share"] == pytest.approx(0.4)
    assert table.loc["a", "interactions_share"] == pytest.approx(0.8)
    assert table.loc["a", "exposure_share"] == pytest.approx((2 + w2) / (3 + 2 * w2))
    assert table.loc["b", "slots_share"] == pytest.approx(2 / 5)
    curve = lorenz_curve(exposure)
    assert curve["exposure_share"].iloc[0] == 0 and curve["exposure_share"].iloc[-1] == pytest.approx(1.0)


def test_popularity_tiers_and_bias():
    pop = np.array([50, 30, 10, 5, 3, 2, 0])  # 100 events; the last 20 are on items 2..6
    tiers = popularity_tiers(pop)
    assert list(tiers) == ["head", "mid", "tail", "tail", "tail", "tail", "tail"]
    arp, aplt = popularity_bias(np.array([[0, 1], [5, -1], [-1, -1]]), pop, tiers == "tail")
    assert arp[:2] == pytest.approx([40.0, 2.0]) and np.isnan(arp[2])
    assert aplt[:2] == pytest.approx([0.0, 1.0])


# ----- calibration --------------------------------------------------------------------------------

def test_calibration_kl_hand_computed():
    genres, names = genre_matrix(np.array(["A", "A", "A", "B", "A"], dtype=object))
    history = sp.csr_matrix(np.array([[1, 1, 1, 1, 0]]))  # p = (3/4, 1/4)
    p = history_distribution(history, genres)
    assert list(names) == ["A", "B"] and p[0] == pytest.approx([0.75, 0.25])
    ranked = np.array([[0, 4]])  # both A: q = (1, 0) whatever the rank weights
    q = list_distribution(ranked, genres)
    assert q[0] == pytest.approx([1.0, 0.0])
    # q~ = 0.99 q + 0.01 p = (0.9975, 0.0025); KL = .75 ln(.75/.9975) + .25 ln(.25/.0025)
    expected = 0.75 * np.log(0.75 / 0.9975) + 0.25 * np.log(0.25 / 0.0025)
    assert expected == pytest.approx(0.937408, abs=1e-6)
    assert kl_miscalibration(p, q)[0] == pytest.approx(expected)
    assert miscalibration(history, ranked, genres)[0] == pytest.approx(expected)
    assert miscalibration(history, np.array([[0, 3]]), genres)[0] < expected  # a B item helps
    perfect = np.array([[0.75, 0.25]])
    assert kl_miscalibration(perfect, perfect)[0] == pytest.approx(0.0)


# ----- re-rankers ---------------------------------------------------------------------------------

def random_lists(n_users=300, n_items=200, width=50, seed=0):
    rng = np.random.default_rng(seed)
    candidates = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :width]
    scores = rng.random((n_users, width))
    categories = np.array(list("ABCDE"), dtype=object)[rng.integers(0, 5, n_items)]
    return rng, candidates, scores, categories


def test_strength_zero_keeps_the_model_order_and_describe_is_json():
    rng, candidates, scores, cats = random_lists()
    top = np.take_along_axis(candidates, np.argsort(-scores, axis=1, kind="stable"), 1)[:, :10]
    history = sp.random(300, 200, density=0.05, random_state=1, format="csr")
    rerankers = [CalibratedReranker.from_history(history, cats, 0.0), ExposureReranker(cats == "A", 0.5, 0.0),
                 MMRReranker(cats, lam=0.0), MMRReranker(item_vectors=rng.normal(size=(200, 4)), lam=0.0)]
    for reranker in rerankers:
        assert np.array_equal(reranker.rerank(candidates, scores, 10), top), reranker
        described = json.loads(json.dumps(reranker.describe()))
        assert described["method"] == reranker.method and described["lambda"] == 0.0


def test_rerankers_move_their_target_and_keep_lists_valid():
    rng, candidates, scores, cats = random_lists()
    history = sp.random(300, 200, density=0.05, random_state=1, format="csr")
    genres, _ = genre_matrix(cats)
    base = CalibratedReranker.from_history(history, cats, 0.0).rerank(candidates, scores, 10)
    calibrated = CalibratedReranker.from_history(history, cats, 0.7).rerank(candidates, scores, 10)
    before, after = np.nanmean(miscalibration(history, base, genres)), np.nanmean(miscalibration(history, calibrated, genres))
    assert after < 0.5 * before
    protected = cats == "A"
    fair = ExposureReranker(protected, 0.6, 1.0).rerank(candidates, scores, 10)
    assert protected[fair].mean() >= 0.58 > protected[base].mean()
    diverse = MMRReranker(cats, lam=0.5).rerank(candidates, scores, 10)
    distinct = lambda lists: np.mean([len(set(cats[row])) for row in lists])  # noqa: E731
    assert distinct(diverse) == 5 > distinct(base)
    for lists in (calibrated, fair, diverse):
        assert all(set(row) <= set(cand) and len(set(row)) == 10 for row, cand in zip(lists, candidates))


def test_exposure_minimum_counts_hold_in_every_prefix():
    _, candidates, scores, cats = random_lists(seed=2)
    protected = cats == "B"
    reranker = ExposureReranker(protected, 0.35, 0.8)
    lists = reranker.rerank(candidates, scores, 10)
    required = reranker.minimum_counts(np.arange(len(lists)), 10)
    # Lists run short only when their candidates hold too few protected items.
    reachable = np.minimum(required, protected[candidates].sum(axis=1, keepdims=True))
    assert (np.cumsum(protected[lists], axis=1) >= reachable).all()
    # Across lists the guaranteed share is reached on average (lam * target = 0.28).
    assert required[:, -1].mean() == pytest.approx(2.8, abs=0.05)


def test_reranker_rejects_bad_input():
    _, candidates, scores, cats = random_lists()
    with pytest.raises(ValueError):
        MMRReranker(cats, lam=1.5)
    with pytest.raises(ValueError):
        MMRReranker(cats).rerank(candidates, scores[:, :3], 10)
    with pytest.raises(ValueError, match="rows"):
        CalibratedReranker(cats, np.full((5, 5), 0.2)).rerank(candidates, scores, 10)
