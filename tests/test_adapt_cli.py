"""``python -m recsys append`` and ``update``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from recsys.cli import main
from recsys.runs import get_run, load_run, train_run
from recsys.workspace import Workspace


def write_events(path, users, items, start):
    pd.DataFrame({"user_id": users, "item_id": items,
                  "timestamp": pd.date_range(start, periods=len(users), freq="h").strftime("%Y-%m-%dT%H:%M:%S")}
                 ).to_csv(path, index=False)


def test_append_then_update_a_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    n = 400
    write_events(tmp_path / "events.csv", [f"u{u}" for u in rng.integers(0, 40, n)],
                 [f"i{i}" for i in rng.integers(0, 30, n)], "2025-01-01")
    assert main(["import", "--name", "tiny", "--interactions", str(tmp_path / "events.csv")]) == 0
    record = train_run(Workspace(), "tiny", "als", {"factors": 8, "iterations": 3}, split="none", device="cpu")

    write_events(tmp_path / "new.csv", ["u1"] * 5 + ["newbie"] * 3, [f"i{i}" for i in range(8)], "2025-03-01")
    assert main(["append", "--dataset", "tiny", "--interactions", str(tmp_path / "new.csv")]) == 0
    assert len(Workspace().load_table("tiny", "interactions")) == n + 8
    assert Workspace().dataset_info("tiny").metadata["version"] == 2

    capsys.readouterr()
    assert main(["update", "--run", record.id, "--events", str(tmp_path / "new.csv")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["parent_run"] == record.id and out["customers_updated"] == 2 and out["new_customers"] == 1
    stored = Workspace().get_record("runs", out["run"])
    assert stored["parent_run"] == record.id
    child = load_run(Workspace(), out["run"])
    assert child.model.n_users_ == load_run(Workspace(), record.id).model.n_users_ + 1
    assert get_run(Workspace(), out["run"]).model_key == "als"


def test_update_of_an_unknown_run_fails(tmp_path, capsys):
    write_events(tmp_path / "new.csv", ["u1"], ["i1"], "2025-03-01")
    assert main(["update", "--run", "nope", "--events", str(tmp_path / "new.csv")]) == 2


def test_update_with_a_fine_tune(tmp_path, capsys):
    rng = np.random.default_rng(1)
    write_events(tmp_path / "events.csv", [f"u{u}" for u in rng.integers(0, 30, 300)],
                 [f"i{i}" for i in rng.integers(0, 20, 300)], "2025-01-01")
    assert main(["import", "--name", "tiny", "--interactions", str(tmp_path / "events.csv")]) == 0
    record = train_run(Workspace(), "tiny", "neumf", {"factors": 4, "epochs": 2}, split="none", device="cpu")
    write_events(tmp_path / "new.csv", ["u1"] * 4, [f"i{i}" for i in range(4)], "2025-03-01")
    capsys.readouterr()
    assert main(["update", "--run", record.id, "--events", str(tmp_path / "new.csv"), "--method", "finetune",
                 "--epochs", "3", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["fine_tune_epochs"] == 3 and len(out["fine_tune_loss"]) == 3 and out["customers_updated"] == 1
    assert out["fine_tune_events"] == 304 and "fine-tune" in out["method"]
    child = load_run(Workspace(), out["run"]).model
    parent = load_run(Workspace(), record.id).model
    assert not np.allclose(child.item_embeddings(), parent.item_embeddings())  # every weight trained
    # a fine-tune of a closed-form model is refused with a clear message
    als = train_run(Workspace(), "tiny", "als", {"factors": 4, "iterations": 2}, split="none", device="cpu")
    assert main(["update", "--run", als.id, "--events", str(tmp_path / "new.csv"), "--method", "finetune"]) == 2
    assert "deep (torch) model" in capsys.readouterr().err
