"""BPR: the contract, a recovered two-cluster preference, negatives (uniform or by popularity) that are never
positives, the decaying step, row-wise Adam."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from contract import ModelContract
from recsys.data.dataset import Dataset
from recsys.models.bpr import BPR, NegativeSampler, decayed_learning_rate, negative_weights
from recsys.training.options import FitOptions

FAST = {"factors": 8, "epochs": 3, "batch_size": 128}


class TestBPR(ModelContract):
    key = "bpr"
    fast_params = FAST
    planted_params = {"epochs": 30, "batch_size": 256, "factors": 16}
    iterative = True


def two_clusters(seed: int = 0):
    """80 users, 40 items: even users like even items. Per user 10 train and 3 held-out likes."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for u in range(80):
        liked = rng.permutation(np.arange(u % 2, 40, 2))
        train += [(u, int(i)) for i in liked[:10]]
        held += [(u, int(i)) for i in liked[10:13]]
    frame = pd.DataFrame(train, columns=["user_id", "item_id"]).astype(str)
    catalog = pd.DataFrame({"item_id": np.arange(40).astype(str)})
    data = Dataset.from_tables(frame, items=catalog)
    return data, held


@pytest.mark.parametrize("negative_power", [0.0, 0.5, 1.0])
def test_recovers_a_planted_two_cluster_preference(negative_power):
    data, held = two_clusters()
    model = BPR(factors=16, epochs=40, batch_size=128, negative_power=negative_power)
    model.fit(data, options=FitOptions(device="cpu", seed=1))
    seen = data.matrix(binary=True).toarray() > 0
    aucs = []
    for u in range(data.n_users):
        uidx = data.users.index_of([str(u)])[0]
        positives = data.items.index_of([str(i) for uu, i in held if uu == u])
        negatives = data.items.index_of([str(i) for i in range(1 - u % 2, 40, 2)])
        negatives = negatives[~seen[uidx, negatives]]
        scores = model.score([uidx])[0]
        aucs.append((scores[positives][:, None] > scores[negatives][None, :]).mean())
    assert np.mean(aucs) > 0.8, np.mean(aucs)


def test_loss_decreases():
    data, _ = two_clusters()
    model = BPR(factors=8, epochs=15, batch_size=128).fit(data, options=FitOptions(device="cpu"))
    assert model.loss_history_[-1] < 0.7 * model.loss_history_[0]


def test_negatives_are_never_positives():
    users = torch.tensor([0, 0, 0, 1, 1, 2])
    items = torch.tensor([0, 1, 2, 3, 4, 0])
    sampler = NegativeSampler(users, items, n_items=5)
    gen = torch.Generator().manual_seed(0)
    batch = torch.tensor([0, 1, 2] * 500)
    negatives, ok = sampler.sample(batch, gen)
    assert ok.all()
    positives = {(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (2, 0)}
    assert not {(int(u), int(j)) for u, j in zip(batch, negatives)} & positives
    assert set(negatives[batch == 0].tolist()) == {3, 4}


def test_weighted_negatives_follow_the_weights_and_skip_positives():
    # User 0 has item 0; weights 5, 1, 3, 0: item 0 is redrawn, item 3 never drawn,
    # so items 1 and 2 come in the ratio 1 : 3.
    sampler = NegativeSampler(torch.tensor([0]), torch.tensor([0]), n_items=4,
                              weights=torch.tensor([5.0, 1.0, 3.0, 0.0]))
    negatives, ok = sampler.sample(torch.zeros(20000, dtype=torch.long), torch.Generator().manual_seed(0))
    assert ok.all()
    share = torch.bincount(negatives, minlength=4).double() / len(negatives)
    assert share[0] == 0 and share[3] == 0
    assert share[2].item() == pytest.approx(0.75, abs=0.015)


def test_negative_weights_are_counts_to_the_power():
    items = np.array([0, 0, 0, 0, 2, 1, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2])  # counts 5, 1, 10, 0
    assert negative_weights(items, 4, 0.0) is None
    np.testing.assert_allclose(negative_weights(items, 4, 0.5).numpy(), [5 ** 0.5, 1.0, 10 ** 0.5, 0.0])
    np.testing.assert_allclose(negative_weights(items, 4, 1.0).numpy(), [5.0, 1.0, 10.0, 0.0])


def test_step_size_decays_linearly_over_the_epochs():
    assert [decayed_learning_rate(0.1, e, 4) for e in range(4)] == pytest.approx([0.1, 0.075, 0.05, 0.025])


def test_a_user_with_every_item_gets_no_negative():
    sampler = NegativeSampler(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]), n_items=2)
    _, ok = sampler.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    assert ok.tolist() == [False, True]


def test_validation_stops_a_stalled_run_and_keeps_its_last_epoch():
    data, held = two_clusters()
    users = data.users.index_of([str(u) for u, _ in held])
    items = data.items.index_of([str(i) for _, i in held])
    validation = data.with_frame(pd.DataFrame({"user_idx": users, "item_idx": items,
                                               "weight": np.ones(len(users), np.float32)}))
    events = []
    model = BPR(factors=8, epochs=200, batch_size=128, learning_rate=0.05, patience=3)
    model.fit(data, options=FitOptions(device="cpu", validation=validation, callbacks=[events.append]))
    curve = [e.metrics["ndcg@10"] for e in events if e.stage == "epoch"]
    assert len(curve) < 200, "patience must stop a run that has stopped improving"
    assert max(curve[-3:]) <= max(curve[:-3]), "it stopped after 3 epochs without a better NDCG"
    from recsys.models.validation import RankingValidator
    kept = RankingValidator(model.history_, validation).ndcg(lambda u: model.score(u))
    assert kept == pytest.approx(curve[-1], abs=1e-6)


def test_time_budget_stops_early():
    data, _ = two_clusters()
    model = BPR(factors=8, epochs=500, batch_size=128)
    model.fit(data, options=FitOptions(device="cpu", time_budget_s=0.0))
    assert len(model.loss_history_) == 1 and model.is_fitted


def test_row_adam_matches_adam_on_touched_rows_and_leaves_the_rest():
    from recsys.models.bpr import RowAdam

    table = torch.tensor([[1.0, -2.0], [0.5, 0.0], [3.0, 3.0]])
    expected = table.clone()
    optimizer = RowAdam((table,), lr=0.1)
    m, v = torch.zeros(2, 2), torch.zeros(2, 2)
    for t in range(1, 4):
        # Row 0 appears twice: its gradients add up. Row 2 is never touched.
        grads = torch.tensor([[0.2, -0.1], [0.3, 0.4], [t * 0.1, -0.5]])
        optimizer.step([(torch.tensor([0, 1, 0]), [(0, grads)])])
        g = torch.stack([grads[0] + grads[2], grads[1]])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        expected[:2] -= 0.1 * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8)
    torch.testing.assert_close(table, expected)
    assert table[2].tolist() == [3.0, 3.0]


def test_cpu_fit_uses_one_torch_thread_and_restores_the_setting():
    data, _ = two_clusters()
    seen = []
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        BPR(factors=4, epochs=2, batch_size=128).fit(
            data, options=FitOptions(device="cpu", callbacks=[lambda e: seen.append(torch.get_num_threads())]))
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
