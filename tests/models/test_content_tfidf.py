"""ContentTFIDF: hand-computed vectors and profiles, cold-start items, planted topics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import SECONDS_PER_DAY, Dataset
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import make_split
from recsys.models.content_tfidf import ContentTFIDF
from recsys.models.popularity import Popularity
from recsys.training.options import FitOptions

DAY = int(SECONDS_PER_DAY)

# Topic words for the planted data: titles and descriptions are drawn from their topic only.
TOPIC_WORDS = {
    "Outdoor": ["trail", "running", "hiking", "summit", "camping", "backpack", "tent", "mountain", "ridge"],
    "Cooking": ["sourdough", "baking", "recipe", "oven", "flour", "knead", "pasta", "sauce", "skillet"],
    "Finance": ["mortgage", "savings", "interest", "budget", "loan", "pension", "taxes", "credit", "index"],
    "Tech": ["laptop", "keyboard", "processor", "battery", "monitor", "wireless", "charger", "software", "cable"],
}
FILLER = ["guide", "best", "weekly", "review", "picks", "essentials"]


def planted_topics(n_users: int = 80, items_per_topic: int = 15, new_per_topic: int = 2,
                   events_per_user: int = 12, stickiness: float = 0.85, seed: int = 0):
    """Users who each keep to one topic; item text drawn from the topic's words.

    Returns the dataset, every item's topic (aligned to item_idx) and the indices
    of the ``new_per_topic`` items per topic that have no events.
    """
    rng = np.random.default_rng(seed)
    topics = list(TOPIC_WORDS)
    rows, topic_items = [], {t: [] for t in topics}
    for t in topics:
        words = TOPIC_WORDS[t]
        for j in range(items_per_topic + new_per_topic):
            item_id = f"{t[:3].lower()}{j:02d}"
            rows.append({"item_id": item_id,
                         "title": " ".join(rng.choice(words, 3, replace=False)) + " " + rng.choice(FILLER),
                         "description": " ".join(rng.choice(words + FILLER, 8)),
                         "category": t, "tags": "|".join(rng.choice(words, 2, replace=False))})
            if j < items_per_topic:
                topic_items[t].append(item_id)
    # Zipf-like popularity within a topic, so Popularity has something to find.
    pop = 1.0 / np.arange(1, items_per_topic + 1) ** 0.8
    pop /= pop.sum()
    events = []
    for u in range(n_users):
        favourite = topics[u % len(topics)]
        for e in range(events_per_user):
            t = favourite if rng.random() < stickiness else topics[rng.integers(len(topics))]
            item = topic_items[t][rng.choice(items_per_topic, p=pop)]
            events.append({"user_id": f"u{u:03d}", "item_id": item, "timestamp": 1_700_000_000 + e * DAY + u,
                           "event_type": "view"})
    items = pd.DataFrame(rows)
    data = Dataset.from_tables(pd.DataFrame(events), items)
    aligned = data.item_features
    topic = aligned["category"].to_numpy(dtype=object)
    new = np.flatnonzero(np.bincount(data.frame["item_idx"], minlength=data.n_items) == 0)
    return data, topic, new


def cold_start_catalog() -> tuple[Dataset, dict[str, int]]:
    """A reader of three trail-running articles, other readers, and three brand-new items."""
    items = pd.DataFrame({
        "item_id": ["tr1", "tr2", "tr3", "bk1", "bk2", "fn1", "fn2", "new_shoes", "new_bread", "new_loan"],
        "title": ["Trail running for beginners", "Trail running on rocky ground", "Uphill trail running drills",
                  "Sourdough baking at home", "Baking bread with rye flour", "Mortgage rates explained",
                  "Saving for a pension", "Trail running shoes compared", "Sourdough starter baking guide",
                  "Mortgage refinancing explained"],
        "description": ["Start trail running safely.", None, "Hill repeats for trail runners.",
                        "Flour, water and patience.", "Rye flour and a hot oven.", "Fixed or variable rates.",
                        "Pension savings basics.", "Grip and cushioning for trail running.",
                        "Feed your sourdough starter.", "When refinancing a mortgage pays."],
        "category": ["Outdoor", "Outdoor", "Outdoor", "Cooking", "Cooking", "Finance", "Finance",
                     "Outdoor", "Cooking", "Finance"],
        "tags": ["running|trails", "running", None, "baking", "baking|bread", "mortgage", "pension",
                 "running|gear", "baking", "mortgage"],
    })
    reads = [("runner", "tr1"), ("runner", "tr2"), ("runner", "tr3"),
             ("baker", "bk1"), ("baker", "bk2"), ("baker", "tr1"),
             ("saver", "fn1"), ("saver", "fn2"), ("saver", "bk1"),
             ("mixed", "bk2"), ("mixed", "fn1"), ("mixed", "tr2")]
    events = pd.DataFrame([{"user_id": u, "item_id": i, "timestamp": 1_700_000_000 + n * 3600, "event_type": "view"}
                           for n, (u, i) in enumerate(reads)])
    data = Dataset.from_tables(events, items)
    index = dict(zip(data.items.ids, range(data.n_items)))
    index.update({u: int(data.users.index_of([u])[0]) for u in ("runner", "baker", "saver", "mixed")})
    return data, index


def assert_new_item_leads(model, data: Dataset, index: dict[str, int], user: str, expected: str, k: int = 5):
    recs = model.recommend([index[user]], k=k).item_idx.tolist()
    new = [index[n] for n in ("new_shoes", "new_bread", "new_loan")]
    assert index[expected] in recs, f"{expected} not in {data.items.to_raw(recs)}"
    first_new = next(i for i in recs if i in new)
    assert first_new == index[expected], f"new items ranked {data.items.to_raw([i for i in recs if i in new])}"


# ----- hand-computed cases ---------------------------------------------------------
def test_item_vector_equals_hand_computed_tfidf():
    # d0 = "apple apple banana", d1 = "banana cherry", d2 = "cherry"; idf = ln((1+n)/(1+df)) + 1.
    items = pd.DataFrame({"item_id": ["d0", "d1", "d2"], "title": ["apple apple banana", "banana cherry", "cherry"]})
    events = pd.DataFrame({"user_id": ["u"], "item_id": ["d0"]})
    model = ContentTFIDF(ngram_max=1, min_df=1, label_weight=0.0).fit(Dataset.from_tables(events, items))
    idf_apple, idf_banana = math.log(4 / 2) + 1, math.log(4 / 3) + 1
    expected = np.array([(1 + math.log(2)) * idf_apple, 1.0 * idf_banana])
    expected /= np.linalg.norm(expected)
    terms = model.text_space_.terms.tolist()
    row = model.item_vectors.toarray()[0]
    assert terms == ["apple", "banana", "cherry"]
    np.testing.assert_allclose(row, [expected[0], expected[1], 0.0], rtol=1e-6)


def test_profile_is_the_decayed_event_weighted_sum_of_item_vectors():
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["red apple pie", "green apple tart", "blue cheese"],
                          "category": ["Food", "Food", "Dairy"]})
    t = 1_700_000_000
    events = pd.DataFrame({
        "user_id": ["u", "u", "u", "v"],
        "item_id": ["a", "b", "a", "c"],
        "timestamp": [t - 2 * DAY, t, t, t],
        "event_type": ["view", "purchase", "click", "view"],
    })
    data = Dataset.from_tables(events, items)
    model = ContentTFIDF(min_df=1, half_life_days=1.0).fit(data)
    v = model.item_vectors.toarray()
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-6)
    a, b, c = (int(data.items.index_of([x])[0]) for x in "abc")
    u = int(data.users.index_of(["u"])[0])
    # view two days (two half-lives) ago: 1 * 0.25; click now: 2; purchase now: 8.
    expected = (1 * 0.25 + 2.0) * v[a] + 8.0 * v[b]
    np.testing.assert_allclose(model.profiles([u]).toarray()[0], expected, rtol=1e-5)
    cosine = v @ expected / np.linalg.norm(expected)
    np.testing.assert_allclose(model.score([u])[0], cosine, rtol=1e-5, atol=1e-7)
    assert model.score([u])[0, c] == pytest.approx(0.0, abs=1e-7)  # shares no word nor label


def test_no_decay_and_score_history_match_the_users_scores():
    data, index = cold_start_catalog()
    model = ContentTFIDF(half_life_days=0.0).fit(data)
    history = [index["tr1"], index["tr2"], index["tr3"]]
    np.testing.assert_allclose(model.score_history(history), model.score([index["runner"]])[0], rtol=1e-6)
    weighted = model.score_history([index["tr1"], index["bk1"]], weights=[3.0, 1.0])
    double = model.score_history([index["tr1"], index["tr1"], index["tr1"], index["bk1"]])
    np.testing.assert_allclose(weighted, double, rtol=1e-6)
    assert np.all(model.score_history([]) == 0)
    with pytest.raises(IndexError):
        model.score_history([data.n_items])
    with pytest.raises(ValueError, match="one value per item"):
        model.score_history([0, 1], weights=[1.0])


# ----- cold start and similarity -----------------------------------------------------
def test_recommends_brand_new_items_that_share_text_with_the_history():
    data, index = cold_start_catalog()
    model = ContentTFIDF(min_df=1).fit(data)
    assert_new_item_leads(model, data, index, "runner", "new_shoes")
    assert_new_item_leads(model, data, index, "saver", "new_loan")


def test_similar_items_and_placing_items_added_after_fit():
    data, index = cold_start_catalog()
    model = ContentTFIDF(min_df=1).fit(data)
    similar = model.similar_items(index["new_shoes"], k=3)
    assert set(similar.similar_idx.tolist()) <= {index[i] for i in ("tr1", "tr2", "tr3")}
    assert np.all(np.diff(similar.score) <= 0)
    rows = data.item_features.iloc[[index["new_shoes"], index["bk1"]]]
    np.testing.assert_allclose(model.vectorize(rows).toarray(),
                               model.item_vectors[[index["new_shoes"], index["bk1"]]].toarray(), rtol=1e-6)
    unseen = pd.DataFrame({"title": ["Trail running poles"], "description": [None]})
    placed = model.vectorize(unseen).toarray()[0]
    assert np.argmax(model.item_vectors.toarray() @ placed) in {index[i] for i in ("tr1", "tr2", "tr3", "new_shoes")}


def test_items_without_text_score_zero_and_are_similar_to_nothing():
    items = pd.DataFrame({"item_id": ["a", "b"], "title": ["kayak paddle", None]})
    events = pd.DataFrame({"user_id": ["u", "u"], "item_id": ["a", "b"]})
    data = Dataset.from_tables(events, items)
    model = ContentTFIDF(min_df=1).fit(data)
    b = int(data.items.index_of(["b"])[0])
    assert model.item_vectors[b].nnz == 0
    assert len(model.similar_items(b, 5).similar_idx) == 0


def test_needs_some_item_text():
    events = pd.DataFrame({"user_id": ["u", "v"], "item_id": ["a", "b"]})
    with pytest.raises(ValueError, match="needs item text"):
        ContentTFIDF().fit(Dataset.from_tables(events))


def test_save_load_keeps_vocabulary_as_arrays(tmp_path):
    data, index = cold_start_catalog()
    model = ContentTFIDF(min_df=1).fit(data)
    model.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as npz:
        assert npz["text_terms_"].dtype.kind == "U" and "trail running" in npz["text_terms_"].tolist()
    again = ContentTFIDF.load(tmp_path / "m")
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(again.score(users), model.score(users))
    unseen = pd.DataFrame({"title": ["Trail running poles"], "category": ["Outdoor"], "tags": ["running"]})
    np.testing.assert_allclose(again.vectorize(unseen).toarray(), model.vectorize(unseen).toarray())


# ----- accuracy ---------------------------------------------------------------------
def test_beats_popularity_on_planted_topics():
    data, topic, new = planted_topics()
    split = make_split(data, "leave_last_out")
    options = FitOptions(device="cpu")
    content = evaluate_model(ContentTFIDF().fit(split.fit_data(), options=options), split, ks=(10,))
    popular = evaluate_model(Popularity().fit(split.fit_data(), options=options), split, ks=(10,))
    assert content.summary["ndcg@10"] > popular.summary["ndcg@10"] + 0.05


def test_planted_new_items_reach_their_topics_readers():
    data, topic, new = planted_topics()
    model = ContentTFIDF().fit(data)
    users = data.active_users()
    recs = model.recommend(users, k=10, candidates=new)
    favourite = pd.Series(topic[data.frame["item_idx"]]).groupby(data.frame["user_idx"].to_numpy()).agg(
        lambda s: s.mode().iloc[0])
    first = pd.Series(recs.item_idx[recs.rank == 1], index=recs.user_idx[recs.rank == 1])
    agree = (topic[first.to_numpy()] == favourite.loc[first.index].to_numpy()).mean()
    assert agree > 0.9


# ----- the model contract (until the shared ModelContract mixin lands) ----------------------
def _state_copy(model) -> dict:
    arrays, _ = model._get_state()
    return {k: (v.toarray() if hasattr(v, "toarray") else np.array(v, copy=True)) for k, v in arrays.items()}


def test_contract_fit_recommend_seen_exclusion_and_no_mutation():
    from recsys.models.base import NotFittedError
    from recsys.models.registry import get_spec

    data, index = cold_start_catalog()
    model = ContentTFIDF(min_df=1)
    with pytest.raises(NotFittedError):
        model.score([0])
    events = []
    assert model.fit(data, options=FitOptions(callbacks=(events.append,))) is model
    assert events and events[-1].stage == "fit"
    before = _state_copy(model)
    recs = model.recommend(np.arange(data.n_users), k=4)
    model.similar_items(0, 3), model.score_history([0, 1]), model.item_vectors, model.profiles([0])
    after = _state_copy(model)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert (np.bincount(recs.user_idx) == 4).all()
    seen = data.matrix().tocsr()
    assert not any(seen[u, i] for u, i in zip(recs.user_idx, recs.item_idx))
    assert get_spec("content_tfidf").defaults() == ContentTFIDF().get_params()
    assert {"cold_start_items", "similar_items"} <= ContentTFIDF.capabilities
