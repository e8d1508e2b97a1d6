"""``python -m recsys train / runs / evaluate / models``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from recsys.cli import main
from recsys.evaluation.evaluate import evaluate_model
from recsys.runs import list_runs, load_run
from recsys.workspace import Workspace


@pytest.fixture
def ws(isolated_workspace):
    """The conftest's $RECSYS_WORKSPACE with a small timed dataset."""
    rng = np.random.default_rng(1)
    rows = [(f"u{u}", f"i{i}") for u in range(25) for i in rng.choice(20, 7, replace=False)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["timestamp"] = pd.to_datetime(1_700_000_000 + rng.permutation(len(frame)) * 60, unit="s")
    workspace = Workspace()
    assert workspace.root == isolated_workspace.resolve()
    workspace.save_dataset("toy", {"interactions": frame})
    return workspace


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_the_run_id_last_and_runs_and_evaluate_find_it(ws, capsys):
    code, out, err = _run(capsys, "train", "--dataset", "toy", "--model", "itemknn",
                          "--params", '{"n_neighbors": 5}', "--seed", "2")
    assert code == 0, err
    run_id = out.strip().splitlines()[-1]
    runs = list_runs(ws)
    assert runs["run_id"].tolist() == [run_id] and runs.loc[0, "model"] == "itemknn"
    assert "fit" in err and "evaluate" in err  # progress goes to stderr
    record = ws.get_record("runs", run_id)
    assert record["params"]["n_neighbors"] == 5 and record["seed"] == 2

    code, out, _ = _run(capsys, "runs")
    assert code == 0 and run_id in out and "itemknn" in out
    code, out, _ = _run(capsys, "runs", "--dataset", "other")
    assert code == 0 and run_id not in out

    code, out, _ = _run(capsys, "evaluate", "--run", run_id)
    report = json.loads(out)
    assert report["recomputed"] is False and report["k"] == 10
    assert report["metrics"]["ndcg@10"] == pytest.approx(record["metrics"]["ndcg@10"])
    assert set(report["metrics"]) >= {"ndcg@10", "recall@10", "precision@10", "map@10", "mrr@10", "hit@10"}


def test_evaluate_recomputes_at_an_unstored_cutoff(ws, capsys):
    _, out, _ = _run(capsys, "train", "--dataset", "toy", "--model", "popularity")
    run_id = out.strip().splitlines()[-1]
    code, out, _ = _run(capsys, "evaluate", "--run", run_id, "--k", "5")
    assert code == 0
    report = json.loads(out)
    loaded = load_run(ws, run_id, with_split=True)
    direct = evaluate_model(loaded.model, loaded.split, ks=(5,)).summary
    assert report["recomputed"] is True
    assert report["metrics"]["ndcg@5"] == pytest.approx(direct["ndcg@5"])
    assert report["metrics"]["recall@5"] == pytest.approx(direct["recall@5"])
    assert "ndcg@10" not in report["metrics"]


def test_train_without_split_and_with_a_time_budget(ws, capsys):
    code, out, _ = _run(capsys, "train", "--dataset", "toy", "--model", "bpr", "--split", "none",
                        "--params", '{"epochs": 3, "factors": 8}', "--time-budget", "30")
    assert code == 0
    record = ws.get_record("runs", out.strip().splitlines()[-1])
    assert record["metrics"] == {} and record["time_budget_s"] == 30.0
    code, _, err = _run(capsys, "evaluate", "--run", record["id"])
    assert code == 2 and "without a split" in err


@pytest.mark.parametrize("argv, reason", [
    (["--model", "nope"], "unknown model 'nope'; available: popularity"),
    (["--model", "ease", "--params", "{bad"], "--params is not valid JSON"),
    (["--model", "ease", "--params", "[1]"], "--params must be a JSON object"),
    (["--model", "ease", "--params", '{"colour": 1}'], "unknown parameter(s) for ease: colour"),
    (["--model", "ease", "--split", "none", "--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_train_requests_exit_2_with_one_line(ws, capsys, argv, reason):
    code, out, err = _run(capsys, "train", "--dataset", "toy", *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and reason in err and len(err.strip().splitlines()) == 1
    assert list_runs(ws).empty


def test_missing_dataset_and_run_exit_2(ws, capsys):
    code, _, err = _run(capsys, "train", "--dataset", "absent", "--model", "ease")
    assert code == 2 and "no dataset 'absent'" in err and "toy" in err
    code, _, err = _run(capsys, "evaluate", "--run", "20200101-000000-abcdef")
    assert code == 2 and "no run" in err


def test_models_lists_the_registry(capsys):
    code, out, _ = _run(capsys, "models")
    assert code == 0
    for key in ("popularity", "itemknn", "ease", "als", "bpr"):
        assert any(line.startswith(key) for line in out.splitlines())
    assert "regularization = 200.0" in out
    code, out, _ = _run(capsys, "models", "--json")
    entries = {e["key"]: e for e in json.loads(out)}
    assert entries["ease"]["params"]["regularization"]["default"] == 200.0


def test_the_real_entry_point_prints_the_run_id_last(ws, repo_root):
    env = dict(os.environ, PYTHONPATH=str(repo_root))
    proc = subprocess.run([sys.executable, "-m", "recsys", "train", "--dataset", "toy", "--model", "popularity"],
                          capture_output=True, text=True, cwd=repo_root, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    assert list_runs(ws)["run_id"].tolist() == [run_id]
