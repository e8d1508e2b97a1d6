"""The shared epoch loop, the validation NDCG used for early stopping, and event weighting."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.models.similarity import top_similar
from recsys.models.validation import RankingValidator
from recsys.models.weighting import apply_weighting
from recsys.training.loop import BUDGET, COMPLETED, EARLY_STOPPED, run_epochs
from recsys.training.options import FitOptions
from recsys.training.progress import TrainingCancelled


def test_events_per_epoch_with_loss_elapsed_and_eta():
    events = []
    result = run_epochs(lambda e: 1.0 / (e + 1), 4, FitOptions(callbacks=[events.append]))
    epochs = [e for e in events if e.stage == "epoch"]
    assert [e.step for e in epochs] == [1, 2, 3, 4] and all(e.total == 4 for e in epochs)
    assert [e.metrics["loss"] for e in epochs] == [1.0, 0.5, 1 / 3, 0.25]
    assert epochs[-1].eta == 0.0 and all(e.eta >= 0 and e.elapsed >= 0 for e in epochs)
    assert result.stopped_by == COMPLETED and result.epochs_run == 4 and result.best_epoch == 4
    assert events[-1].stage == "fit" and "completed" in events[-1].message


def test_early_stopping_restores_the_best_state():
    metrics = iter([0.1, 0.3, 0.2, 0.25, 0.2, 0.9])
    state = {"epoch": 0}

    def step(epoch):
        state["epoch"] = epoch + 1
        return 0.0

    result = run_epochs(step, 6, FitOptions(), validate=lambda: next(metrics), patience=3,
                        snapshot=lambda: dict(state), restore=lambda s: state.update(s))
    assert result.stopped_by == EARLY_STOPPED and result.epochs_run == 5
    assert result.best_epoch == 2 and result.best_metric == pytest.approx(0.3)
    assert state["epoch"] == 2
    assert [h["ndcg@10"] for h in result.history] == [0.1, 0.3, 0.2, 0.25, 0.2]


def test_without_restore_the_final_event_names_the_last_epoch():
    # BPR stops a stalled run but keeps its last state: the summary must not claim the best epoch
    metrics, events = iter([0.1, 0.3, 0.2, 0.25, 0.2]), []
    result = run_epochs(lambda e: 0.0, 6, FitOptions(callbacks=[events.append]), validate=lambda: next(metrics),
                        patience=3)
    assert result.best_epoch == 2 and result.epochs_run == 5
    assert events[-1].message == f"{EARLY_STOPPED}; kept epoch 5"
    assert events[-1].metrics["ndcg@10"] == 0.2


def test_time_budget_stops_and_keeps_the_best_validated_state():
    values = iter([0.5, 0.4])
    state = {}
    result = run_epochs(lambda e: state.update(epoch=e + 1) or 0.0, 10, FitOptions(time_budget_s=0.0),
                        validate=lambda: next(values), snapshot=lambda: dict(state), restore=state.update)
    assert result.stopped_by == BUDGET and result.epochs_run == 1 and state["epoch"] == 1


def test_cancel_is_checked_before_each_epoch():
    calls = []
    flags = iter([False, False, True])
    with pytest.raises(TrainingCancelled):
        run_epochs(lambda e: calls.append(e) or 0.0, 10, FitOptions(should_stop=lambda: next(flags)))
    assert calls == [0, 1]


def test_eval_every_skips_validation_between():
    seen = []
    run_epochs(lambda e: 0.0, 5, FitOptions(), validate=lambda: seen.append(1) or 0.5, eval_every=2)
    assert len(seen) == 3  # epochs 2, 4 and the last


def test_validator_ndcg_matches_hand_computation():
    train = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["0", "1", "2"]})
    items = pd.DataFrame({"item_id": [str(i) for i in range(5)]})
    data = Dataset.from_tables(train, items=items)
    valid = data.with_frame(pd.DataFrame({"user_idx": [0, 0, 1], "item_idx": [3, 1, 4],
                                          "weight": np.ones(3, np.float32)}))
    validator = RankingValidator(data.matrix(), valid, k=2)
    # user a: item 1 is history (not a target); ranks 3 second -> 1/log2(3); ideal 1.
    # user b: item 2 is history, so item 4 is first -> 1.
    scores = np.array([[9.0, 8.0, 7.0, 1.0, 0.0], [0.0, 0.0, 5.0, 0.0, 3.0]])
    assert validator.ndcg(lambda users: scores[users]) == pytest.approx((1 / math.log2(3) + 1.0) / 2)
    assert len(validator) == 2


def test_weighting_schemes():
    m = sp.csr_matrix(np.array([[1.0, 8.0, 0.0], [0.5, 0.0, 40.0]], np.float32))
    np.testing.assert_array_equal(apply_weighting(m, "binary").toarray(), (m.toarray() > 0).astype(np.float32))
    np.testing.assert_allclose(apply_weighting(m, "log").toarray(), np.log2(1 + m.toarray()), rtol=1e-6)
    np.testing.assert_array_equal(apply_weighting(m, "raw").toarray(), m.toarray())
    assert m[0, 1] == 8.0, "the input is not modified"
    with pytest.raises(ValueError):
        apply_weighting(m, "sqrt")


def test_top_similar_excludes_the_item_and_non_finite():
    result = top_similar(1, np.array([0.2, 5.0, -np.inf, 0.9, np.nan]), 10)
    assert result.similar_idx.tolist() == [3, 0] and result.score.tolist() == pytest.approx([0.9, 0.2])
