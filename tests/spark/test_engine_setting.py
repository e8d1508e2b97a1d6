"""The ``engine`` field of a workspace dataset (no Spark needed: runs in the default suite)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys.spark import SparkSettings, check_engine
from recsys.workspace import Workspace, WorkspaceError

TABLE = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["i1", "i2"]})


def test_engine_defaults_to_local_and_round_trips(tmp_path):
    ws = Workspace(tmp_path)
    assert ws.save_dataset("plain", {"interactions": TABLE}).engine == "local"
    ws.save_dataset("big", {"interactions": TABLE}, engine="spark")
    reopened = Workspace(tmp_path)
    assert reopened.dataset_info("plain").engine == "local"
    assert reopened.dataset_info("big").engine == "spark"
    assert {i.name: i.engine for i in reopened.list_datasets()} == {"plain": "local", "big": "spark"}
    ws.save_dataset("big", {"interactions": TABLE}, overwrite=True)  # an overwrite says again where it runs
    assert reopened.dataset_info("big").engine == "local"


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(WorkspaceError, match="unknown engine 'hadoop'"):
        Workspace(tmp_path).save_dataset("x", {"interactions": TABLE}, engine="hadoop")
    with pytest.raises(ValueError, match="choose one of local, spark"):
        check_engine("gpu")


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("RECSYS_SPARK_MASTER", "sc://spark.example.com:15002;token=secret")
    monkeypatch.setenv("RECSYS_SPARK_ALS_BLOCKS", "12")
    settings = SparkSettings.from_env()
    assert settings.is_connect and settings.blocks == 12 and settings.partitions is None
    assert "secret" not in str(settings.describe())  # a Connect token is never recorded
    assert SparkSettings(master="local[2]").partitions == 4 and SparkSettings(master="local[2]").blocks == 2
    with pytest.raises(ValueError, match="unknown Spark master"):
        SparkSettings(master="mesos://old:5050")
    monkeypatch.setenv("RECSYS_SPARK_PARTITIONS", "many")
    with pytest.raises(ValueError, match="RECSYS_SPARK_PARTITIONS must be a whole number"):
        SparkSettings.from_env()


def test_package_imports_without_touching_pyspark():
    import importlib
    import subprocess
    import sys

    before = "pyspark" in sys.modules
    importlib.import_module("recsys.spark")
    assert ("pyspark" in sys.modules) == before
    # in this process pyspark may already be loaded by an earlier test: check a fresh interpreter too
    fresh = subprocess.run([sys.executable, "-c", "import sys, recsys.spark; print('pyspark' in sys.modules)"],
                           capture_output=True, text=True, timeout=120, cwd=str(Path(__file__).resolve().parents[2]))
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() == "False"


def test_a_run_serves_when_its_spark_dataset_keeps_the_events_on_the_cluster(tmp_path):
    from recsys.runs import load_run, train_run

    ws = Workspace(tmp_path)
    events = pd.DataFrame({"user_id": [f"u{u}" for u in range(6) for _ in range(3)],
                           "item_id": [f"i{(u + j) % 5}" for u in range(6) for j in range(3)]})
    ws.save_dataset("big", {"interactions": events})
    record = train_run(ws, "big", "popularity", split="none")
    ws.save_dataset("big", {"profile_stats": pd.DataFrame({"stat": ["events"], "value": [18.0]})}, engine="spark",
                    overwrite=True)
    loaded = load_run(ws, record.id)
    assert "stay on the Spark cluster" in loaded.notes[0]
    assert len(loaded.model.recommend([0, 1], 2)) == 4
