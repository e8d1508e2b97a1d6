"""Runs: train_run stores a complete run, load_run serves the same model, cancels leave nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import Dataset
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import make_split
from recsys.models.registry import create
from recsys.runs import (ITEM_IDS_FILE, KIND, MODEL_DIR, PER_USER_FILE, USER_IDS_FILE, get_run, list_runs,
                         load_run, per_user_metrics, train_run)
from recsys.training.options import FitOptions
from recsys.training.progress import TrainingCancelled
from recsys.workspace import Workspace


def interactions(n_users: int = 30, n_items: int = 25, per_user: int = 8, seed: int = 0) -> pd.DataFrame:
    """Each user touches ``per_user`` items drawn with a popularity skew, at increasing times."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1)
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False, p=weights / weights.sum())
        rows += [(f"u{u:03d}", f"i{i:03d}") for i in items]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["timestamp"] = pd.to_datetime(1_700_000_000 + rng.permutation(len(frame)) * 60, unit="s")
    return frame


@pytest.fixture
def ws(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    workspace.save_dataset("toy", {"interactions": interactions()})
    return workspace


def _leftover_dirs(workspace: Workspace) -> list[str]:
    return sorted(p.name for p in (workspace.root / KIND).iterdir())


def test_train_run_stores_a_complete_run(ws):
    events = []
    record = train_run(ws, "toy", "itemknn", {"n_neighbors": 10}, split="leave_last_out", seed=3,
                       callbacks=(events.append,))
    stored = ws.get_record(KIND, record.id)
    json.dumps(stored, allow_nan=False)  # strictly JSON-safe
    assert stored["model_key"] == "itemknn" and stored["display_name"] == "ItemKNN"
    assert stored["dataset"] == "toy"
    assert stored["dataset_fingerprint"] == ws.dataset_info("toy").fingerprint
    assert stored["params"]["n_neighbors"] == 10
    assert stored["split"]["protocol"] == "leave_last_out"
    assert stored["split"]["params"]["n_test_users"] == 30
    assert stored["device"] == "cpu" and stored["device_description"].startswith("cpu")
    assert stored["seed"] == 3 and stored["status"] == "complete"
    for key in ("ndcg@10", "recall@10", "precision@10", "map@10", "mrr@10", "hit@10", "ndcg@20", "coverage@10"):
        assert 0.0 <= stored["metrics"][key] <= 1.0
    assert stored["metrics"]["n_users"] == 30
    assert stored["fit_seconds"] >= 0 and stored["eval_seconds"] >= 0 and stored["created_at"]
    assert stored["software"]["recsys"]
    run_dir = ws.artifact_dir(KIND, record.id)
    assert (run_dir / MODEL_DIR / "config.json").is_file()
    data = Dataset.from_tables(ws.load_table("toy", "interactions"))
    assert pd.read_parquet(run_dir / USER_IDS_FILE)["user_id"].tolist() == list(data.users.ids)
    assert pd.read_parquet(run_dir / ITEM_IDS_FILE)["item_id"].tolist() == list(data.items.ids)
    per_user = per_user_metrics(ws, record.id)
    assert len(per_user) == 30 and per_user["ndcg@10"].mean() == pytest.approx(stored["metrics"]["ndcg@10"])
    assert per_user["user_id"].str.startswith("u").all()
    assert [e.stage for e in events][0] == "load" and events[-1].stage == "done"
    assert {"split", "fit", "evaluate", "save"} <= {e.stage for e in events}
    frame = list_runs(ws)
    assert frame["run_id"].tolist() == [record.id]
    assert frame.loc[0, "ndcg@10"] == pytest.approx(stored["metrics"]["ndcg@10"])
    assert frame.loc[0, "engine"] == "local"
    assert list_runs(ws, dataset="other").empty


def test_load_run_serves_identical_recommendations(ws):
    record = train_run(ws, "toy", "ease", {"regularization": 5.0})
    loaded = load_run(ws, record.id, with_split=True)
    assert loaded.notes == () and loaded.record == get_run(ws, record.id)
    users = loaded.data.active_users()
    # The same model fit again on the same split's data must agree with the stored one.
    split = make_split(Dataset.from_tables(ws.load_table("toy", "interactions")), "leave_last_out")
    fresh = create("ease", regularization=5.0).fit(split.fit_data(), options=FitOptions(seed=0))
    got, want = loaded.model.recommend(users, 10), fresh.recommend(users, 10)
    np.testing.assert_array_equal(got.item_idx, want.item_idx)
    np.testing.assert_allclose(got.score, want.score, rtol=1e-5)
    again = evaluate_model(loaded.model, loaded.split, ks=(10, 20)).summary
    assert again["ndcg@10"] == pytest.approx(record.metrics["ndcg@10"])
    assert again["recall@20"] == pytest.approx(record.metrics["recall@20"])


def test_load_run_remaps_when_the_dataset_was_rebuilt(ws):
    record = train_run(ws, "toy", "itemknn")
    before = load_run(ws, record.id)
    users = before.data.active_users()
    expected = before.model.recommend(users, 5).to_frame(before.data)[["user_id", "item_id", "rank"]]
    # Reversed rows and an extra user: the rebuilt Dataset gets other id maps.
    table = ws.load_table("toy", "interactions").iloc[::-1].reset_index(drop=True)
    extra = pd.DataFrame({"user_id": ["new-user"], "item_id": ["i000"],
                          "timestamp": pd.to_datetime([1_800_000_000], unit="s")})
    ws.save_dataset("toy", {"interactions": pd.concat([extra, table], ignore_index=True)}, overwrite=True)
    after = load_run(ws, record.id)
    assert any("changed" in n for n in after.notes) and any("re-indexed" in n for n in after.notes)
    assert after.data.users == before.data.users and after.data.items == before.data.items
    assert after.data.n_events == before.data.n_events  # the unknown user's event is dropped
    got = after.model.recommend(users, 5).to_frame(after.data)[["user_id", "item_id", "rank"]]
    pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(ValueError, match="cannot rebuild the split"):
        load_run(ws, record.id, with_split=True)


def test_load_run_survives_a_deleted_dataset(ws):
    record = train_run(ws, "toy", "popularity", split="none")
    ws.delete_dataset("toy")
    loaded = load_run(ws, record.id)
    assert "no longer exists" in loaded.notes[0]
    recs = loaded.model.recommend([0, 1], 3).to_frame(loaded.data)
    assert recs["item_id"].str.startswith("i").all() and len(recs) == 6


def test_split_none_trains_on_everything_without_metrics(ws):
    record = train_run(ws, "toy", "popularity", split="none")
    assert record.metrics == {} and record.split["protocol"] == "none"
    assert record.n_fit_events == len(ws.load_table("toy", "interactions"))
    assert per_user_metrics(ws, record.id) is None
    assert load_run(ws, record.id, with_split=True).split is None


def test_random_split_is_seeded_and_rebuilt_identically(ws):
    record = train_run(ws, "toy", "itemknn", split="random", seed=7)
    assert record.split["args"] == {"seed": 7}
    loaded = load_run(ws, record.id, with_split=True)
    assert evaluate_model(loaded.model, loaded.split).summary["ndcg@10"] == pytest.approx(record.metrics["ndcg@10"])


def test_a_cancel_after_fit_stores_nothing(ws):
    calls = []

    def stop_on_second_check() -> bool:
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(TrainingCancelled):
        train_run(ws, "toy", "popularity", should_stop=stop_on_second_check)
    assert list_runs(ws).empty and _leftover_dirs(ws) == []


def test_a_failure_while_saving_leaves_no_run(ws, monkeypatch):
    import recsys.runs as runs

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runs, "_write_ids", broken)
    with pytest.raises(OSError, match="disk full"):
        train_run(ws, "toy", "popularity")
    assert list_runs(ws).empty and _leftover_dirs(ws) == []


def test_bad_requests_fail_before_training(ws, tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        train_run(ws, "toy", "popularity", split="weekly")
    with pytest.raises(KeyError, match="unknown model"):
        train_run(ws, "toy", "nope")
    with pytest.raises(ValueError, match="unknown parameter"):
        train_run(ws, "toy", "popularity", {"colour": 1})
    untimed = interactions().drop(columns="timestamp")
    ws.save_dataset("untimed", {"interactions": untimed})
    with pytest.raises(ValueError, match="timestamps"):
        train_run(ws, "untimed", "popularity", split="temporal")
    with pytest.raises(ValueError, match="timestamps"):
        train_run(ws, "untimed", "trending", split="random")
    assert list_runs(ws).empty and _leftover_dirs(ws) == []
