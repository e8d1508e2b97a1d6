"""Replay over the sample data's planted trend shift (December 2025)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.adapt.replay import fit_before, replay
from recsys.data.dataset import Dataset
from recsys.models.registry import create
from recsys.training.options import FitOptions
from recsys.training.progress import TrainingCancelled

SHIFT = int(pd.Timestamp("2025-12-01").timestamp())
END = int(pd.Timestamp("2025-12-29").timestamp())


def load_sample(repo_root, max_customer: str = "C002500") -> Dataset:
    folder = repo_root / "sample_data" / "content_platform"
    events = pd.read_csv(folder / "events.csv.gz").rename(columns={"customer_id": "user_id",
                                                                   "event_time": "timestamp"})
    events["timestamp"] = pd.to_datetime(events["timestamp"])
    events = events[events["user_id"] <= max_customer]  # half the customers keeps this quick
    return Dataset.from_tables(events, pd.read_csv(folder / "items.csv"))


@pytest.fixture(scope="module")
def sample(repo_root):
    torch.set_num_threads(1)
    data = load_sample(repo_root)
    model = fit_before(create("als", factors=32, iterations=8), data, SHIFT,
                       options=FitOptions(device="cpu", seed=0))
    return data, model


def test_incremental_beats_frozen_after_the_trend_shift(sample):
    data, model = sample
    events = []
    result = replay(model, data, SHIFT, END, step_days=7, k=10, callbacks=[events.append])
    frame = result.to_frame()
    print("\n" + frame.to_string())
    later = frame.iloc[1:]  # the first week is scored before any December event is known
    gain = float(later["ndcg_incremental"].mean() - later["ndcg_frozen"].mean())
    print(f"incremental - frozen NDCG@10 over weeks 2-4: {gain:+.4f}")
    assert gain > 0.005, gain
    assert (later["ndcg_incremental"] > later["ndcg_frozen"]).all()
    # week one: nothing new known yet, the two models are the same
    assert frame["ndcg_incremental"].iloc[0] == pytest.approx(frame["ndcg_frozen"].iloc[0])
    assert [e.step for e in events] == [1, 2, 3, 4] and events[-1].total == 4
    mix = result.mix_frame()
    fitness = mix[(mix["category"] == "Fitness")].pivot_table(index="period_start", columns="source",
                                                              values="share")
    print(fitness.to_string())
    # the planted shift: Fitness is a bigger share of December's events than of the frozen lists
    assert (fitness["actual"] > fitness["frozen"]).all()
    assert fitness["incremental"].iloc[-1] > fitness["frozen"].iloc[-1]


def test_replay_can_be_cancelled(sample):
    data, model = sample
    calls = iter([False, True])
    result = replay(model, data, SHIFT, END, step_days=7, max_users=200, should_stop=lambda: next(calls))
    assert result.cancelled and len(result.steps) == 1

    def stop(_event):
        raise TrainingCancelled("stop")
    result = replay(model, data, SHIFT, END, step_days=7, max_users=200, callbacks=[stop])
    assert result.cancelled and len(result.steps) == 1


def test_replay_never_changes_the_frozen_model(sample):
    data, model = sample
    before = model.user_factors_.copy()
    replay(model, data, SHIFT, SHIFT + 3 * 86_400, step_days=1, max_users=300)
    np.testing.assert_array_equal(model.user_factors_, before)
    assert model.history_.shape[0] == data.n_users
