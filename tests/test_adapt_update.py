"""Incremental updates: recommendations follow new events without retraining."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recsys.adapt.update import update_run
from recsys.data.dataset import Dataset
from recsys.models.registry import create
from recsys.models.weighting import apply_weighting
from recsys.training.options import FitOptions

WORDS = ["running gym workout muscle", "stocks budget savings invest", "recipe oven baking dinner",
         "gaming console controller arcade"]
N_CAT, PER_CAT, N_USERS, PER_USER = 4, 30, 160, 10
T0 = 1_700_000_000


def make_tables(seed: int = 0):
    """Each customer sticks to one category; item text names the category."""
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({"item_id": [f"i{c}_{j}" for c in range(N_CAT) for j in range(PER_CAT)],
                          "title": [f"{WORDS[c]} part {j}" for c in range(N_CAT) for j in range(PER_CAT)],
                          "category": [f"cat{c}" for c in range(N_CAT) for _ in range(PER_CAT)]})
    rows = []
    for u in range(N_USERS):
        cat = u % N_CAT
        start = rng.integers(0, PER_CAT)
        for e in range(PER_USER):  # a walk through the category's series
            rows.append((f"u{u}", f"i{cat}_{(start + e) % PER_CAT}", T0 + u * 100 + e))
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return events, items


def switch_events(user: str = "u0", cat: int = 2, n: int = 5) -> pd.DataFrame:
    """``user`` (a cat-0 customer) suddenly engages with ``n`` items of category ``cat``."""
    return pd.DataFrame({"user_id": [user] * n, "item_id": [f"i{cat}_{j}" for j in range(n)],
                         "timestamp": T0 + 60 * 86_400 + np.arange(n)})


@pytest.fixture(scope="module")
def tables():
    torch.set_num_threads(1)
    return make_tables()


@pytest.fixture(scope="module")
def data(tables):
    events, items = tables
    return Dataset.from_tables(events, items)


PARAMS = {
    "als": dict(factors=16, iterations=8),
    "itemknn": dict(n_neighbors=20),
    "ease": dict(regularization=10.0),
    "multvae": dict(hidden_dim=32, latent_dim=8, epochs=60, batch_size=32, dropout=0.2),
    "sasrec": dict(max_len=20, hidden_size=32, n_blocks=1, epochs=40, batch_size=32, dropout=0.1, learning_rate=5e-3),
    "content_tfidf": dict(min_df=1),
    "bpr": dict(factors=16, epochs=40, learning_rate=0.02),
    "neumf": dict(factors=16, epochs=30, batch_size=256),
    "hybrid": dict(embedding_dim=16, hidden_size=32, text_dim=8, epochs=10, batch_size=256),
    "content_neural": dict(dim=32, embed_dim=32, n_filters=32, min_count=1, n_negatives=64, epochs=10,
                           batch_size=256),
}
DEEP = ("neumf", "hybrid", "content_neural")


@pytest.fixture(scope="module")
def fitted(data):
    return {key: create(key, **params).fit(data, options=FitOptions(device="cpu", seed=0))
            for key, params in PARAMS.items()}


def cat_share(model, data, user_idx: int, cat: str) -> float:
    recs = model.recommend([user_idx], 10)
    return float((data.item_features["category"].to_numpy()[recs.item_idx] == cat).mean())


@pytest.mark.parametrize("key", list(PARAMS))
def test_recommendations_move_towards_the_new_category(key, fitted, data):
    model = fitted[key]
    u = int(data.users.index_of(["u0"])[0])
    before = cat_share(model, data, u, "cat2")
    history_before = model.history_.copy()
    updated, report = update_run(model, data, switch_events())
    after = cat_share(updated, report.data, u, "cat2")
    print(f"{key}: cat2 share in u0's top-10 {before:.2f} -> {after:.2f} ({report.method})")
    if key == "sasrec":  # a next-item model: the continuation of the new series comes first
        top = report.data.items.to_raw(updated.recommend([u], 2).item_idx).tolist()
        assert top == ["i2_5", "i2_6"], top
    else:
        assert after >= before + 0.3, (key, before, after)
    assert report.users_updated.tolist() == [u] and report.n_events == 5
    # the shared model is untouched
    assert (model.history_ != history_before).nnz == 0
    assert cat_share(model, data, u, "cat2") == before


def test_als_fold_in_equals_the_exact_solve(fitted, data):
    model = fitted["als"]
    updated, report = update_run(model, data, switch_events())
    u = int(report.users_updated[0])
    expected = model.recalculate_user(updated.history_[u])
    np.testing.assert_allclose(updated.user_factors_[u], expected, rtol=1e-4, atol=1e-5)
    # every other customer keeps their factor, and the item factors are shared, not copied
    others = np.arange(model.n_users_) != u
    np.testing.assert_array_equal(updated.user_factors_[others], model.user_factors_[others])
    assert updated.item_factors_ is model.item_factors_
    # and it is eq. 4 of Hu et al. solved independently in float64
    y = model.item_factors_.astype(np.float64)
    w = apply_weighting(updated.history_[u], model.weighting).toarray().ravel().astype(np.float64)
    observed = w > 0
    a = y.T @ y + (y[observed].T * (model.alpha * w[observed])) @ y[observed] \
        + model.regularization * observed.sum() * np.eye(y.shape[1])
    b = y[observed].T @ (1 + model.alpha * w[observed])
    np.testing.assert_allclose(updated.user_factors_[u], np.linalg.solve(a, b), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("key", ["als", *DEEP])
def test_new_customer_gets_a_profile(key, fitted, data):
    new = switch_events(user="brand_new", cat=1, n=4)
    updated, report = update_run(fitted[key], data, new)
    assert report.new_users == ("brand_new",)
    u = report.data.users.index_of(["brand_new"])[0]
    assert updated.n_users_ == data.n_users + 1
    assert cat_share(updated, report.data, u, "cat1") >= 0.5, key


@pytest.mark.parametrize("key", DEEP)
def test_deep_fold_in_changes_only_the_customers_rows(key, fitted, data):
    model = fitted[key]
    before = {k: v.clone() for k, v in model.network_.state_dict().items()}
    updated, report = update_run(model, data, switch_events())
    u = int(report.users_updated[0])
    assert report.details["customers_refit"] == 1 and report.details["loss_after"] < report.details["loss_before"]
    tables = {"neumf": ["user_gmf.weight", "user_mlp.weight"], "content_neural": ["user_embedding.weight"],
              "hybrid": ["tables.0.weight"]}[key]
    row = u + 1 if key == "hybrid" else u  # Hybrid's id code 0 is "unknown customer"
    after = updated.network_.state_dict()
    for name, value in before.items():
        torch.testing.assert_close(model.network_.state_dict()[name], value, rtol=0, atol=0)  # shared model intact
        if name in tables:
            others = np.arange(len(value)) != row
            torch.testing.assert_close(after[name][others], value[others], rtol=0, atol=0)
            assert not torch.equal(after[name][row], value[row])
        else:
            assert after[name] is model.network_.state_dict()[name] or torch.equal(after[name], value)


def test_updated_deep_model_saves_and_loads(fitted, data, tmp_path):
    for key in DEEP:
        updated, report = update_run(fitted[key], data, switch_events(user="brand_new", cat=1, n=4))
        loaded = type(updated).load(updated.save(tmp_path / key))
        u = report.data.users.index_of(["brand_new"])[0]
        np.testing.assert_allclose(loaded.score([u]), updated.score([u]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key", ["neumf", "sasrec"])
def test_finetune_trains_all_weights_from_the_current_ones(key, fitted, data):
    model = fitted[key]
    before = {k: v.clone() for k, v in model.network_.state_dict().items()}
    updated, report = update_run(model, data, switch_events(), method="finetune", epochs=2,
                                 options=FitOptions(device="cpu", seed=0))
    assert report.details["fine_tune_epochs"] == 2 and len(report.details["fine_tune_loss"]) == 2
    assert report.details["fine_tune_events"] == data.n_events + 5 and "fine-tune" in report.method
    for name, value in before.items():  # the shared model is untouched
        torch.testing.assert_close(model.network_.state_dict()[name], value, rtol=0, atol=0)
    moved = [n for n, v in updated.network_.state_dict().items() if v.dtype.is_floating_point
             and not torch.equal(v, before[n])]
    assert any("item" in n for n in moved), moved  # the item side moves too, unlike a fold-in
    u = int(report.users_updated[0])
    if key == "sasrec":
        assert report.data.items.to_raw(updated.recommend([u], 1).item_idx).tolist() == ["i2_5"]
    else:
        assert cat_share(updated, report.data, u, "cat2") >= cat_share(model, data, u, "cat2") + 0.3


def test_finetune_is_for_deep_models_only(fitted, data):
    with pytest.raises(ValueError, match="deep"):
        update_run(fitted["als"], data, switch_events(), method="finetune")
    with pytest.raises(ValueError, match="unknown update method"):
        update_run(fitted["als"], data, switch_events(), method="retrain")


@pytest.mark.parametrize("key", ["content_tfidf", "content_neural"])
def test_content_model_places_a_new_item_from_text(key, fitted, data, tables):
    _, items = tables
    new_item = pd.DataFrame({"item_id": ["fresh"], "title": [WORDS[0] + " brand new"], "category": ["cat0"]})
    catalog = pd.concat([items, new_item], ignore_index=True)
    # an event by another customer on the new item brings it in; u0 (cat 0) should now see it
    event = pd.DataFrame({"user_id": ["u1"], "item_id": ["fresh"], "timestamp": [T0 + 200_000]})
    updated, report = update_run(fitted[key], data, event, items=catalog)
    assert report.new_items == ("fresh",)
    fresh = report.data.items.index_of(["fresh"])[0]
    assert fresh == data.n_items and updated.n_items_ == data.n_items + 1
    u0 = report.data.users.index_of(["u0"])[0]
    assert fresh in updated.recommend([u0], 10).item_idx
    u2 = report.data.users.index_of(["u2"])[0]  # a cat-2 customer: the item is not for them
    assert fresh not in updated.recommend([u2], 10).item_idx


def test_events_on_unknown_items_are_skipped_for_collaborative_models(fitted, data):
    event = pd.DataFrame({"user_id": ["u0"], "item_id": ["nowhere"], "timestamp": [T0 + 10**6]})
    updated, report = update_run(fitted["itemknn"], data, event)
    assert report.n_skipped == 1 and report.n_events == 0 and updated.n_items_ == data.n_items


def test_sequence_model_uses_the_new_sequence_immediately(fitted, data):
    model = fitted["sasrec"]
    updated, report = update_run(model, data, switch_events())
    u = int(report.users_updated[0])
    assert list(updated.user_sequence(u)[-5:]) == list(data.items.index_of([f"i2_{j}" for j in range(5)]))
    np.testing.assert_allclose(updated.score([u])[0], model.score_sequences([updated.user_sequence(u)])[0], atol=1e-5)
    assert isinstance(updated.history_, sp.csr_matrix)


def test_single_customer_als_update_touches_only_that_customer(fitted, data):
    # speed is measured by bench/update_speed.py (tests never time); here: the work is per customer
    updated, report = update_run(fitted["als"], data, switch_events())
    changed = np.flatnonzero((updated.user_factors_ != fitted["als"].user_factors_).any(axis=1))
    assert changed.tolist() == report.users_updated.tolist()


def test_hybrid_new_customer_brings_their_attributes(tables):
    events, items = tables
    customers = pd.DataFrame({"user_id": [f"u{u}" for u in range(N_USERS)],
                              "segment": [f"s{u % N_CAT}" for u in range(N_USERS)]})
    data = Dataset.from_tables(events, items, customers)
    model = create("hybrid", **PARAMS["hybrid"]).fit(data, options=FitOptions(device="cpu", seed=0))
    newcomer = pd.DataFrame({"user_id": ["newcomer"], "segment": ["s1"]})
    updated, report = update_run(model, data, switch_events(user="newcomer", cat=1, n=2), customers=newcomer)
    u = int(report.data.users.index_of(["newcomer"])[0])
    assert report.data.user_features.loc[u, "segment"] == "s1"
    peer = int(data.users.index_of(["u1"])[0])  # an s1 customer from the fit
    assert updated.features_.user_codes[u].tolist() == model.features_.user_codes[peer].tolist() != [0]
    assert updated.features_.user_ids[u] == u + 1 and updated.network_.tables[0].num_embeddings == u + 2
    assert cat_share(updated, report.data, u, "cat1") >= 0.5
    # without the customers table the newcomer's attributes are unknown (code 0)
    blind, _ = update_run(model, data, switch_events(user="newcomer", cat=1, n=2))
    assert blind.features_.user_codes[u].tolist() == [0]
