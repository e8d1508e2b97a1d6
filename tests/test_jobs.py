"""Background training jobs: real worker processes, observed through the workspace only."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from recsys.models.registry import REGISTRY
from recsys.runs import list_runs
from recsys.training import jobs
from recsys.training.jobs import (DIED_MESSAGE, cancel_job, job_events, job_log, job_status, list_jobs,
                                  start_training_job, wait_for_job)
from recsys.training.worker import PLUGINS_ENV
from recsys.workspace import Workspace, WorkspaceError

PLUGIN = textwrap.dedent('''
    """A slow, cancellable test model that can also fail on request (a worker plugin)."""
    import time

    import numpy as np

    from recsys.models.base import Recommender
    from recsys.models.registry import REGISTRY, ModelSpec, ParamSpec, register
    from recsys.training.progress import ProgressEvent


    class SlowModel(Recommender):
        key = "test_slow"

        def __init__(self, epochs: int = 10, sleep: float = 0.1, fail: bool = False):
            self.epochs, self.sleep, self.fail = epochs, sleep, fail

        def _fit(self, train, options):
            for epoch in range(self.epochs):
                options.check_cancel()
                if self.fail and epoch == 1:
                    raise ValueError("boom: the test model failed\\n on purpose")
                time.sleep(self.sleep)
                options.emit(ProgressEvent("epoch", epoch + 1, self.epochs, {"loss": 1.0 / (epoch + 1)},
                                           elapsed=options.elapsed()))
            self.scores_ = np.asarray(train.matrix().sum(axis=0), dtype=np.float32).ravel()

        def _score(self, users, *, context=None):
            return np.tile(self.scores_, (len(users), 1))

        def _get_state(self):
            return {"scores_": self.scores_}, None

        def _set_state(self, arrays, state_dict):
            self.scores_ = arrays["scores_"]


    if "test_slow" not in REGISTRY:
        register(ModelSpec(
            key="test_slow", display_name="Slow test model", family="test", module=__name__,
            class_name="SlowModel", description="sleeps between epochs",
            params=(ParamSpec("epochs", "int", 10, low=1, high=100000),
                    ParamSpec("sleep", "float", 0.1, low=0.0, high=3600.0),
                    ParamSpec("fail", "bool", False)),
        ))
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """Register the test model here and in every worker (via the plugin hook)."""
    path = tmp_path / "jobplugin.py"
    path.write_text(PLUGIN)
    monkeypatch.setenv(PLUGINS_ENV, str(path))
    name = "recsys_plugin_jobplugin"  # the name the worker gives it, so the spec's module matches
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield
    REGISTRY.pop("test_slow", None)
    sys.modules.pop(name, None)


@pytest.fixture
def ws(tmp_path, plugin):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}") for u in range(20) for i in rng.choice(15, 6, replace=False)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["timestamp"] = pd.to_datetime(1_700_000_000 + np.arange(len(frame)) * 60, unit="s")
    workspace = Workspace(tmp_path / "ws")
    workspace.save_dataset("toy", {"interactions": frame})
    return workspace


def _wait(predicate, timeout: float = 60.0, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not reached in time")


def _run_dirs(workspace: Workspace) -> list[str]:
    return sorted(p.name for p in (workspace.root / "runs").iterdir())


def test_a_job_runs_in_the_background_and_reports_progress(ws):
    job_id = start_training_job(ws, dataset="toy", model_key="test_slow", params={"epochs": 12, "sleep": 0.25})
    assert job_status(ws, job_id).status in ("queued", "running")
    seen_counts, statuses, fractions = [], set(), []
    while True:
        status = job_status(ws, job_id)
        statuses.add(status.status)
        if status.status == "running":
            seen_counts.append(len(job_events(ws, job_id)))
            fractions.append(status.progress or 0.0)
        if status.finished:
            break
        time.sleep(0.1)
    assert status.status == "succeeded", status.error
    assert "running" in statuses
    assert len(set(seen_counts)) >= 3 and seen_counts == sorted(seen_counts)  # events grew while it ran
    # Progress may already read 1.0 while the run is being saved, so ask for one value in between.
    assert fractions == sorted(fractions) and any(0.0 < f < 1.0 for f in fractions) and status.progress == 1.0
    events = job_events(ws, job_id)
    epochs = [e for e in events if e["stage"] == "epoch"]
    assert [e["step"] for e in epochs] == list(range(1, 13)) and epochs[-1]["metrics"]["loss"] == pytest.approx(1 / 12)
    assert events[-1]["stage"] == "done"
    assert job_events(ws, job_id, since=len(events) - 1) == events[-1:]
    runs = list_runs(ws)
    assert runs["run_id"].tolist() == [status.run_id] and runs.loc[0, "job_id"] == job_id
    assert status.metrics["ndcg@10"] == pytest.approx(runs.loc[0, "ndcg@10"])
    assert status.elapsed > 12 * 0.25 * 0.9 and status.eta is None
    assert list_jobs(ws)[0]["id"] == job_id and list_jobs(ws, active_only=True) == []


def test_a_cancelled_job_stores_no_run(ws):
    job_id = start_training_job(ws, dataset="toy", model_key="test_slow", params={"epochs": 10_000, "sleep": 0.05})
    _wait(lambda: any(e["stage"] == "epoch" for e in job_events(ws, job_id)))
    assert [j["id"] for j in list_jobs(ws, active_only=True)] == [job_id]
    cancel_job(ws, job_id)
    status = wait_for_job(ws, job_id, timeout=30)
    assert status.status == "cancelled" and status.run_id is None and status.error is None
    assert list_runs(ws).empty and _run_dirs(ws) == []
    assert cancel_job(ws, job_id).status == "cancelled"  # cancelling a finished job is a no-op


def test_a_crash_is_a_readable_error_and_the_workspace_stays_intact(ws):
    job_id = start_training_job(ws, dataset="toy", model_key="test_slow", params={"fail": True, "sleep": 0.0})
    status = wait_for_job(ws, job_id, timeout=60)
    assert status.status == "failed"
    assert status.error == "ValueError: boom: the test model failed on purpose"
    assert "Traceback" in job_log(ws, job_id) and "Traceback" not in status.error
    assert list_runs(ws).empty and _run_dirs(ws) == []
    assert len(Workspace(ws.root).load_table("toy", "interactions")) == 120


def test_two_jobs_run_at_once(ws):
    first = start_training_job(ws, dataset="toy", model_key="test_slow", params={"epochs": 20, "sleep": 0.25})
    second = start_training_job(ws, dataset="toy", model_key="test_slow", params={"epochs": 20, "sleep": 0.25},
                                split="random", seed=1)
    done = [wait_for_job(ws, job, timeout=120) for job in (first, second)]
    assert [s.status for s in done] == ["succeeded", "succeeded"], [s.error for s in done]
    assert sorted(list_runs(ws)["run_id"]) == sorted(s.run_id for s in done)
    a, b = (ws.get_record("jobs", j) for j in (first, second))
    assert a["pid"] != b["pid"]
    assert a["started_at"] < b["finished_at"] and b["started_at"] < a["finished_at"]  # they overlapped


def test_a_killed_worker_is_reported_as_failed(ws):
    job_id = start_training_job(ws, dataset="toy", model_key="test_slow", params={"epochs": 10_000, "sleep": 0.05})
    _wait(lambda: any(e["stage"] == "epoch" for e in job_events(ws, job_id)))
    pid = job_status(ws, job_id).pid
    os.kill(pid, signal.SIGKILL)
    status = _wait(lambda: (s := job_status(ws, job_id)).finished and s, timeout=20)
    assert status.status == "failed" and status.error == DIED_MESSAGE
    assert list_runs(ws).empty and list_jobs(ws, active_only=True) == []


def test_a_forced_cancel_stops_the_worker(ws):
    job_id = start_training_job(ws, dataset="toy", model_key="test_slow", params={"epochs": 2, "sleep": 600.0})
    _wait(lambda: job_status(ws, job_id).stage == "fit")
    status = cancel_job(ws, job_id, force=True)
    status = wait_for_job(ws, job_id, timeout=20)
    assert status.status == "cancelled" and list_runs(ws).empty
    _wait(lambda: not jobs.process_alive(status.pid), timeout=10)


def test_bad_requests_fail_at_once_without_a_job(ws):
    with pytest.raises(KeyError, match="unknown model"):
        start_training_job(ws, dataset="toy", model_key="nope")
    with pytest.raises(ValueError, match="epochs"):
        start_training_job(ws, dataset="toy", model_key="test_slow", params={"epochs": 0})
    with pytest.raises(WorkspaceError, match="not found"):
        start_training_job(ws, dataset="missing", model_key="popularity")
    with pytest.raises(ValueError, match="unknown split"):
        start_training_job(ws, dataset="toy", model_key="popularity", split="weekly")
    assert list_jobs(ws) == []


def test_status_reconciles_records_whose_process_is_gone(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    long_ago = "2020-01-01T00:00:00.000+00:00"
    workspace.put_record("jobs", "never-started", {"status": "queued", "pid": None, "created_at": long_ago})
    workspace.put_record("jobs", "vanished", {"status": "running", "pid": dead_pid, "created_at": long_ago,
                                              "started_at": long_ago})
    workspace.put_record("jobs", "cancelled-then-died", {"status": "running", "pid": dead_pid, "cancel_requested": True,
                                                         "created_at": long_ago})
    workspace.put_record("jobs", "just-queued", {"status": "queued", "pid": None, "created_at": jobs.now_iso()})
    assert job_status(workspace, "never-started").status == "failed"
    vanished = job_status(workspace, "vanished")
    assert vanished.status == "failed" and vanished.error == DIED_MESSAGE and vanished.elapsed > 0
    assert workspace.get_record("jobs", "vanished")["status"] == "failed"  # persisted, not just reported
    assert job_status(workspace, "cancelled-then-died").status == "cancelled"
    assert job_status(workspace, "just-queued").status == "queued"
    assert [j["id"] for j in list_jobs(workspace, active_only=True)] == ["just-queued"]
    assert not jobs.process_alive(dead_pid) and jobs.process_alive(os.getpid())
    # A live pid with another start time is a different (reused) process.
    assert not jobs.process_alive(os.getpid(), token="-1")
