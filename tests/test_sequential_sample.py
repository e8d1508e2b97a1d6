"""The sequential models find the sample data's planted series structure; the others cannot.

The content-platform sample plants series ("Part 1..6"): after part k a customer's next
item is part k+1 about three times in four (``sample_data/README.md``, ``series_continuation``).
On a leave-last-out split of a subset of the sample, the customers whose last training
item is a series part with a successor are where order matters: a next-item model should
rank the next part first, while EASE, ItemKNN and MultVAE see only the set of items (all
earlier parts included) and cannot tell which part came last. Measured NDCG@10 there is
printed (run with -s); the test asserts the margin.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
import torch

from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import leave_last_out
from recsys.models.registry import get_spec
from recsys.training.options import FitOptions
from sample_data import CONTENT_PLATFORM_DIR

N_CUSTOMERS = 1500
SEQUENTIAL = {
    "sasrec": dict(max_len=50, hidden_size=32, epochs=8, batch_size=64, learning_rate=5e-3, dropout=0.2),
    "gru4rec": dict(max_len=50, embedding_dim=32, hidden_size=64, epochs=8),
}
NON_SEQUENTIAL = {"ease": {}, "itemknn": {}, "multvae": dict(epochs=30)}
# Smallest NDCG@10 lead of each sequential model over the best non-sequential one on the
# series customers. Measured (365 of 1456 test customers): SASRec 0.748, GRU4Rec 0.709,
# ItemKNN 0.660, EASE 0.536, MultVAE 0.353; about 60 s of CPU in all.
MARGIN = 0.03

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def sample_split():
    """Leave-last-out on the first ``N_CUSTOMERS`` customers of the committed sample."""
    events = pd.read_csv(CONTENT_PLATFORM_DIR / "events.csv.gz")
    customers = np.sort(events["customer_id"].unique())[:N_CUSTOMERS]
    events = events[events["customer_id"].isin(customers)]
    frame = pd.DataFrame({"user_id": events["customer_id"], "item_id": events["item_id"],
                          "timestamp": pd.to_datetime(events["event_time"]), "event_type": events["event_type"]})
    return leave_last_out(Dataset.from_tables(frame), with_valid=False, min_events=3)


def customers_on_a_series(split) -> np.ndarray:
    """Test customers whose last training item is a series part that has a next part."""
    planted = json.loads((CONTENT_PLATFORM_DIR / "planted.json").read_text())
    has_next = np.zeros(split.train.n_items, bool)
    for series in planted["series"]:
        parts = split.train.items.index_of(series["item_ids"][:-1])
        has_next[parts[parts >= 0]] = True
    indptr, items = split.train.sequences()
    users = split.eval_users()
    last = items[indptr[users + 1] - 1]
    return users[has_next[last]]


def measure(split, series_users, models: dict[str, dict]) -> dict[str, tuple[float, float]]:
    """NDCG@10 of each model: (all test customers, series customers)."""
    out = {}
    print(f"\nNDCG@10 on {len(split.eval_users())} test customers / {len(series_users)} series customers:")
    for key, params in models.items():
        start = time.process_time()
        model = get_spec(key).create(**params)
        model.fit(split.train, options=FitOptions(device="cpu", seed=0))
        per_user = evaluate_model(model, split, ks=(10,)).per_user.set_index("user_idx")["ndcg@10"]
        out[key] = (float(per_user.mean()), float(per_user.loc[series_users].mean()))
        print(f"  {key:8s} {out[key][0]:.4f} / {out[key][1]:.4f}  ({time.process_time() - start:.0f} s CPU)", flush=True)
    return out


@pytest.fixture(scope="module")
def split():
    return sample_split()


@pytest.fixture(scope="module")
def series_users(split) -> np.ndarray:
    return customers_on_a_series(split)


@pytest.fixture(scope="module")
def ndcg(split, series_users) -> dict[str, tuple[float, float]]:
    return measure(split, series_users, {**SEQUENTIAL, **NON_SEQUENTIAL})


def test_series_customers_are_a_real_share(split, series_users):
    assert len(series_users) >= 100
    assert len(series_users) < 0.5 * len(split.eval_users())


@pytest.mark.parametrize("key", sorted(SEQUENTIAL))
def test_sequential_models_beat_set_based_ones_on_the_series(ndcg, key):
    best_other = max(ndcg[k][1] for k in NON_SEQUENTIAL)
    assert ndcg[key][1] > best_other + MARGIN, f"{key} must lead on the planted series"


@pytest.mark.parametrize("key", sorted(SEQUENTIAL))
def test_sequential_models_do_not_lose_overall(ndcg, key):
    assert ndcg[key][0] >= max(ndcg[k][0] for k in NON_SEQUENTIAL) - 0.01
