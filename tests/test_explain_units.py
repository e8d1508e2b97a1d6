"""Explanation methods on a small planted dataset: the properties that make them trustworthy.

Exact contributions add up to the score (and, for the linear models, equal the score's
drop when the item is removed); attention rows sum to one under the causal mask;
Integrated Gradients satisfy completeness within the stated tolerance; SHAP values
plus the base value equal the model output and match brute-force Shapley values;
what-if never mutates the model. Models are tiny and shared by the module.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recsys.data.dataset import Dataset
from recsys.explain import Explanation, available_methods, deletion_test, explain, resolve_method, sentence
from recsys.explain.attention import rollout
from recsys.explain.captum_ig import COMPLETENESS_TOLERANCE
from recsys.explain.profile import customer_profile, find_customers, mask, segment_columns
from recsys.explain.shap_groups import GroupSources, background_inputs
from recsys.explain.whatif import history_items, scores_without, what_if
from recsys.models.registry import create
from recsys.training.options import FitOptions

CATEGORIES = ("Outdoor", "Cooking", "Tech", "Travel")
PER_CATEGORY = 8
N_USERS = 80
DEVICES = ("mobile", "desktop")


def planted_dataset(seed: int = 0) -> Dataset:
    """Each customer follows one category's series (item k then k+1...), on a favourite device."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({
        "item_id": [f"I{c}{k}" for c in range(len(CATEGORIES)) for k in range(PER_CATEGORY)],
        "title": [f"{CATEGORIES[c]} guide part {k + 1}" for c in range(len(CATEGORIES)) for k in range(PER_CATEGORY)],
        "description": [f"{CATEGORIES[c].lower()} tips and {CATEGORIES[c].lower()} stories, episode {k}"
                        for c in range(len(CATEGORIES)) for k in range(PER_CATEGORY)],
        "category": [CATEGORIES[c] for c in range(len(CATEGORIES)) for _ in range(PER_CATEGORY)],
        "tags": [f"{CATEGORIES[c].lower()}|series" for c in range(len(CATEGORIES)) for _ in range(PER_CATEGORY)],
    })
    users = pd.DataFrame({"user_id": [f"U{u:03d}" for u in range(N_USERS)],
                          "age_group": [("18-24", "25-34", "35-44")[u % 3] for u in range(N_USERS)],
                          "email": [f"person{u}@example.com" for u in range(N_USERS)]})
    rows, t0 = [], 1_700_000_000
    for u in range(N_USERS):
        c = u % len(CATEGORIES)
        start = int(rng.integers(0, 3))
        length = int(rng.integers(4, PER_CATEGORY - start + 1))
        t = t0 + int(rng.integers(0, 86_400 * 20))
        for k in range(start, start + length):
            t += int(rng.integers(600, 86_400))
            device = DEVICES[u % 2] if rng.random() < 0.9 else DEVICES[1 - u % 2]
            kind = "purchase" if k == start + length - 1 and u % 4 == 0 else "view"
            rows.append((f"U{u:03d}", f"I{c}{k}", t, kind, device, ("app", "web")[k % 2]))
        if rng.random() < 0.5:  # a little noise outside the favourite category
            other = (c + 1) % len(CATEGORIES)
            rows.append((f"U{u:03d}", f"I{other}{int(rng.integers(PER_CATEGORY))}", t + 60, "view", "desktop", "web"))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event_type", "device", "channel"])
    return Dataset.from_tables(events, items, users)


MODELS = {
    "ease": {"regularization": 5.0},
    "itemknn": {"n_neighbors": 10, "shrink": 1.0},
    "als": {"factors": 8, "iterations": 6, "regularization": 0.05},
    "multvae": {"hidden_dim": 32, "latent_dim": 8, "epochs": 10, "batch_size": 16},
    "neumf": {"factors": 8, "epochs": 3, "batch_size": 256},
    "gru4rec": {"max_len": 10, "embedding_dim": 16, "hidden_size": 16, "epochs": 6, "batch_size": 16},
    "sasrec": {"max_len": 10, "hidden_size": 16, "n_blocks": 2, "n_heads": 2, "epochs": 6, "batch_size": 16},
    "hybrid": {"embedding_dim": 8, "hidden_size": 16, "text_dim": 4, "epochs": 3, "batch_size": 128},
    "popularity": {},
}


@pytest.fixture(scope="module")
def data() -> Dataset:
    return planted_dataset()


@pytest.fixture(scope="module")
def models(data):
    return {key: create(key, **params).fit(data, options=FitOptions(device="cpu", seed=0))
            for key, params in MODELS.items()}


def users_with_history(model, n: int = 6) -> list[int]:
    counts = np.diff(model.history_.indptr)
    return [int(u) for u in np.flatnonzero(counts >= 3)[:n]]


# ----- exact ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["ease", "itemknn", "als"])
def test_exact_contributions_sum_to_the_score(models, data, key):
    model = models[key]
    rtol = 1e-5 if key != "als" else 1e-4  # ALS: float64 decomposition vs the model's float32 solve
    for u in users_with_history(model):
        for i in [int(model.recommend([u], 1).item_idx[0]), 3, 17]:
            e = explain(model, data, u, i, "exact")
            score = float(model.score([u], [i])[0, 0])
            assert e.score == pytest.approx(score)
            assert e.contributions["value"].sum() == pytest.approx(score, rel=rtol, abs=1e-5)
            assert abs(e.meta["residual"]) <= rtol * max(1.0, abs(score)) + 1e-5
            assert set(e.contributions["item_idx"]) == set(model.history_[u].indices)


@pytest.mark.parametrize("key", ["ease", "itemknn"])
def test_linear_contribution_equals_the_drop_when_the_item_is_removed(models, data, key):
    model = models[key]
    u = users_with_history(model)[0]
    i = int(model.recommend([u], 1).item_idx[0])
    e = explain(model, data, u, i, "exact")
    history = e.contributions["item_idx"].tolist()
    scores = scores_without(model, u, [()] + [(j,) for j in history])[:, i]
    drops = scores[0] - scores[1:]
    np.testing.assert_allclose(drops, e.contributions["value"].to_numpy(), rtol=1e-4, atol=1e-6)


def test_als_decomposition_matches_an_independent_fold_in(models, data):
    model = models["als"]
    u = users_with_history(model)[1]
    i = 5
    e = explain(model, data, u, i, "exact")
    folded = model.recalculate_user(model.history_[u]) @ model.item_factors_[i]
    assert e.contributions["value"].sum() == pytest.approx(float(folded), rel=1e-4, abs=1e-5)
    assert (e.contributions["confidence"] >= 1).all()


# ----- attention -------------------------------------------------------------------------------

def test_attention_rows_sum_to_one_and_respect_the_causal_mask(models, data):
    model = models["sasrec"]
    for u in users_with_history(model, 4):
        e = explain(model, data, u, None, "attention")
        weights = np.asarray(e.meta["weights"])
        blocks, heads, length, _ = weights.shape
        assert (blocks, heads) == (2, 2) and length == e.meta["length"] == len(e.contributions)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
        assert np.all(np.triu(weights, 1) == 0), "no position may attend to a later one"
        assert e.contributions["value"].sum() == pytest.approx(1.0, abs=1e-6)
        assert math.isnan(e.base_value) and any("not attribution" in c for c in e.caveats)
        last = explain(model, data, u, None, "attention", aggregate="last_layer")
        np.testing.assert_allclose(last.contributions.sort_values("position")["value"],
                                   weights[-1].mean(0)[-1], atol=1e-6)


def test_rollout_is_row_stochastic_and_causal():
    rng = np.random.default_rng(0)
    raw = np.tril(rng.random((3, 2, 5, 5)))
    raw /= raw.sum(-1, keepdims=True)
    out = rollout(raw)
    np.testing.assert_allclose(out.sum(1), 1.0)
    assert np.all(np.triu(out, 1) == 0)


def test_attention_of_earlier_positions_ignores_later_items(models, data):
    """Causality end to end: changing the last item never changes the earlier positions' attention."""
    model = models["sasrec"]
    seq = model.user_sequence(users_with_history(model)[0])[-6:]
    other = seq.copy()
    other[-1] = next(j for j in range(model.n_items_) if j not in seq)
    full, changed = model.attention(history=seq), model.attention(history=other)
    np.testing.assert_allclose(full[:, :, :-1, :], changed[:, :, :-1, :], atol=1e-6)
    assert not np.allclose(full[:, :, -1], changed[:, :, -1])


# ----- Captum ----------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["gru4rec", "sasrec", "multvae", "neumf", "hybrid"])
def test_integrated_gradients_are_complete(models, data, key):
    model = models[key]
    for u in users_with_history(model, 3):
        i = int(model.recommend([u], 1).item_idx[0])
        e = explain(model, data, u, i, "captum")
        fx, fb = e.meta["f_input"], e.meta["f_baseline"]
        assert fx == pytest.approx(float(model.score([u], [i])[0, 0]), abs=1e-4)
        gap = e.contributions["value"].sum() - (fx - fb)
        print(f"{key} user {u}: F(x)-F(b) = {fx - fb:+.4f}, delta = {gap:+.2e}")
        assert abs(gap) <= COMPLETENESS_TOLERANCE * max(1.0, abs(fx - fb))
        assert e.meta["delta"] == pytest.approx(gap, abs=1e-9) and e.meta["converged"]
        assert e.base_value == fb and e.total == pytest.approx(fx, abs=COMPLETENESS_TOLERANCE * max(1, abs(fx - fb)))


def test_captum_baselines_are_what_they_say(models, data):
    u = users_with_history(models["multvae"])[0]
    vae = models["multvae"]
    e = explain(vae, data, u, 4, "captum")
    empty = vae.fold_in(sp.csr_matrix((1, vae.n_items_)))
    assert e.meta["f_baseline"] == pytest.approx(float(empty[0, 4]), abs=1e-5)
    hybrid = models["hybrid"]
    e = explain(hybrid, data, u, 4, "captum")
    inputs = hybrid.encode([u], [4])
    with torch.no_grad():
        unknown = hybrid.forward_groups(hybrid.mask_groups(inputs, hybrid.feature_groups()))
    assert e.meta["f_baseline"] == pytest.approx(float(unknown), abs=1e-5)
    assert set(e.contributions["group"]) <= set(hybrid.feature_groups())
    gru = models["gru4rec"]
    e = explain(gru, data, u, 4, "captum")
    with torch.no_grad():  # all positions padding: the zero embedding (GRU4Rec reads no mask)
        pads = torch.zeros(1, len(e.contributions), dtype=torch.long)
        base = gru.network_(pads)[:, -1] @ gru.network_.item_embedding.weight[5]
    assert e.meta["f_baseline"] == pytest.approx(float(base), abs=1e-5)


# ----- SHAP ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [{}, {"background": "unknown"}, {"max_evals": 12},
                                {"context": {"device": "mobile", "hour": 20}}])
def test_shap_values_plus_base_value_equal_the_model_output(models, data, kw):
    model = models["hybrid"]
    for u in users_with_history(model, 3):
        i = int(model.recommend([u], 1).item_idx[0])
        e = explain(model, data, u, i, "shap", background=kw.get("background", 20), **{k: v for k, v in kw.items()
                                                                                        if k != "background"})
        output = float(model.score([u], [i], context=kw.get("context"))[0, 0])
        assert e.base_value + e.contributions["value"].sum() == pytest.approx(output, abs=1e-4)
        assert sorted(e.contributions["feature"]) == sorted(model.feature_groups())


def test_shap_values_are_the_exact_shapley_values(models, data):
    """Brute force over all coalitions of groups (Shapley 1953) against SHAP's answer."""
    model = models["hybrid"]
    u = users_with_history(model)[0]
    i = int(model.recommend([u], 1).item_idx[0])
    e = explain(model, data, u, i, "shap", background=15, seed=3)
    assert e.meta["algorithm"].startswith("exact")
    sources = GroupSources.build(model, model.encode([u], [i]), background_inputs(model, data, 15, 3))
    groups = list(sources.groups)
    n = len(groups)
    value = {}
    for size in range(n + 1):
        for kept in itertools.combinations(groups, size):
            value[frozenset(kept)] = sources.removal_scores(0, [[g for g in groups if g not in kept]])[0]
    for g in groups:
        others = [h for h in groups if h != g]
        phi = sum(math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
                  * (value[frozenset(s) | {g}] - value[frozenset(s)])
                  for size in range(n) for s in itertools.combinations(others, size))
        got = float(e.contributions.set_index("feature").loc[g, "value"])
        assert got == pytest.approx(phi, abs=1e-4), g


# ----- dispatch, record, what-if ----------------------------------------------------------------

def test_methods_are_chosen_explicitly_and_refused_with_a_reason(models, data):
    assert available_methods(models["ease"]) == ["exact"]
    assert available_methods(models["sasrec"]) == ["attention", "captum"]
    assert available_methods(models["hybrid"]) == ["captum", "shap"]
    assert resolve_method(models["ease"], "auto") == "exact"
    assert resolve_method(models["sasrec"], "auto") == "captum"
    assert resolve_method(models["hybrid"], "auto") == "shap"
    with pytest.raises(ValueError, match="attention does not apply to EASE.*use exact"):
        explain(models["ease"], data, 0, 1, "attention")
    with pytest.raises(ValueError, match="shap does not apply to SASRec.*use attention or captum"):
        explain(models["sasrec"], data, 0, 1, "shap")
    with pytest.raises(ValueError, match="no explanation method applies to Popularity"):
        explain(models["popularity"], data, 0, 1, "auto")
    with pytest.raises(ValueError, match="unknown method"):
        explain(models["ease"], data, 0, 1, "lime")
    with pytest.raises(KeyError, match="unknown customer"):
        explain(models["ease"], data, "nobody", 1, "exact")


def test_explanation_round_trips_through_json(models, data):
    for key, method in [("ease", "exact"), ("sasrec", "attention"), ("hybrid", "shap"), ("neumf", "captum")]:
        e = explain(models[key], data, "U005", None, method)
        back = Explanation.from_json(e.to_json())
        assert (back.user, back.item, back.method, back.model) == ("U005", e.item, method, key)
        assert back.score == pytest.approx(e.score) and (back.base_value == pytest.approx(e.base_value)
                                                          or math.isnan(e.base_value))
        pd.testing.assert_frame_equal(back.contributions, e.contributions, check_dtype=False)
        assert back.meta == json.loads(json.dumps(back.meta)) and "seconds" in back.meta


@pytest.mark.parametrize("key", ["itemknn", "ease", "als", "multvae", "gru4rec", "sasrec"])
def test_scoring_an_unmodified_history_reproduces_the_model(models, data, key):
    model = models[key]
    users = users_with_history(model, 3)
    for u in users:
        np.testing.assert_allclose(scores_without(model, u, [()])[0], model.score([u])[0], rtol=1e-4, atol=1e-4)


def test_what_if_removing_the_only_supporting_item_drops_the_recommendation(models, data):
    model = models["itemknn"]
    for u in range(N_USERS):
        recs = model.recommend([u], 5)
        for i in recs.item_idx:
            e = explain(model, data, u, int(i), "exact")
            support = e.contributions[e.contributions["value"] > 0]
            if len(support) == 1 and len(e.contributions) >= 2:
                before = model.history_.copy()
                result = what_if(model, data, u, remove=[int(support["item_idx"].iloc[0])], k=5)
                assert int(i) in result.left and int(i) not in result.after["item_idx"].tolist()
                assert scores_without(model, u, [support["item_idx"].tolist()])[0, int(i)] == 0.0
                assert (model.history_ != before).nnz == 0, "what-if must not mutate the model"
                return
    pytest.fail("no recommendation resting on a single history item in the planted data")


def test_what_if_context_changes_the_hybrid_list_without_mutating_it(models, data):
    model = models["hybrid"]
    state = {k: v.clone() for k, v in model.network_.state_dict().items()}
    result = what_if(model, data, 0, context={"device": "desktop", "hour": 3}, k=5)
    assert list(result.moves.columns[:2]) == ["item_idx", "item_id"] and len(result.after) == 5
    assert all(torch.equal(state[k], v) for k, v in model.network_.state_dict().items())
    with pytest.raises(ValueError, match="does not score a customer from their history"):
        what_if(model, data, 0, remove=[1])
    with pytest.raises(ValueError, match="ignores the context"):
        what_if(models["ease"], data, 0, context={"device": "tv"})


def test_history_items_are_the_fitted_history(models):
    for key in ("ease", "sasrec"):
        model = models[key]
        u = users_with_history(model)[0]
        assert set(history_items(model, u)) == set(model.history_[u].indices)


def test_deletion_test_on_a_linear_model_always_wins(models, data):
    result = deletion_test(models["ease"], data, "exact", users=25, seed=1)
    print(f"\nplanted EASE exact: win rate {result.win_rate:.2f} over {result.users} customers")
    assert result.users >= 20 and result.win_rate >= 0.9
    assert result.mean_drop_top > result.mean_drop_random
    with pytest.raises(ValueError, match="nothing to remove"):
        deletion_test(models["neumf"], data, "captum", users=5)


# ----- sentences and profile ------------------------------------------------------------------------

def test_sentence_names_the_driving_items_with_their_events(models, data):
    model = models["itemknn"]
    u = 0  # customer 0 buys the last item of their series
    e = explain(model, data, u, None, "exact")
    text = sentence(e, data)
    top = e.top(2, positive_only=True)
    assert text.startswith("Recommended because they ")
    assert all(title in text for title in top["title"])
    assert ("bought" in text) == bool(
        data.frame[(data.frame["user_idx"] == u) & data.frame["item_idx"].isin(top["item_idx"])
                   & (data.frame["event_type"] == "purchase")].shape[0])
    e = explain(models["sasrec"], data, u, None, "attention")
    assert "not why" in sentence(e, data)
    hybrid_text = sentence(explain(models["hybrid"], data, u, None, "shap"), data)
    assert hybrid_text.startswith("Recommended") and hybrid_text.endswith(".")


def test_profile_masks_personal_data(data):
    assert mask("email", "olivia.devries487@example.com") == "o***@example.com"
    assert mask("phone", "+44 20 7946 0958") == "*** 58"
    profile = customer_profile(data, 3)
    assert profile.attributes["email"] == "p***@example.com"
    assert "person3@example.com" not in str(profile)
    assert profile.activity["events"] == int((data.frame["user_idx"] == 3).sum())
    assert "email" not in segment_columns(data) and "age_group" in segment_columns(data)
    found = find_customers(data, query="U00", filters={"age_group": ["25-34"]})
    assert len(found) and set(found["age_group"]) == {"25-34"} and found["user_id"].str.contains("U00").all()
