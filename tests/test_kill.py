"""SIGKILL during import, training and export never leaves a workspace that lies or breaks.

Each test starts the real thing in its own process (``python -m recsys import``, a background
training job's worker, ``python -m recsys segment``), kills it with SIGKILL at a chosen moment
(after a delay, or as soon as a given file appears) and then opens the workspace afresh:

* everything the catalog lists is complete: datasets load with their recorded fingerprint,
  runs load and recommend, exports match their manifest, segments load, and no job is left
  "running";
* the previous state is intact (an overwrite leaves the complete old or the complete new
  dataset, never a mix);
* leftovers of the killed writer never get listed, and the next start's clean-up removes
  every temporary while keeping what is listed.

The first kill point of each kind runs by default; the others are marked ``slow``.
"""

from __future__ import annotations

import os
import pathlib
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from recsys.data.importer import import_dataset
from recsys.data.validation import load_and_validate
from recsys.runs import load_run, train_run
from recsys.segments.store import EXPORTS, SEGMENTS, load_segment, read_export
from recsys.storage.atomic import TMP_PREFIX
from recsys.training.jobs import FINISHED, job_status, process_alive, start_training_job
from recsys.workspace import Workspace, dataset_fingerprint

REPO = pathlib.Path(__file__).resolve().parents[1]
N_USERS, N_ITEMS = 400, 150


def write_events(path: pathlib.Path, n_events: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, N_USERS, n_events)
    items = (rng.zipf(1.6, n_events) + users) % N_ITEMS
    stamps = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90 * 86400, n_events), unit="s")
    pd.DataFrame({"user_id": [f"u{u}" for u in users], "item_id": [f"i{i}" for i in items],
                  "timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S")}).to_csv(path, index=False)


def write_items(path: pathlib.Path) -> None:
    pd.DataFrame({"item_id": [f"i{i}" for i in range(N_ITEMS)],
                  "title": [f"Item {i}" for i in range(N_ITEMS)],
                  "category": [f"c{i % 3}" for i in range(N_ITEMS)]}).to_csv(path, index=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("kill-files")
    out = {"small": folder / "small.csv", "large": folder / "large.csv", "items": folder / "items.csv"}
    write_events(out["small"], 6_000, seed=1)
    write_events(out["large"], 400_000, seed=2)  # about 13 MB: an import takes seconds
    write_items(out["items"])
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory, files) -> dict:
    """A workspace holding a dataset, a run, a segment and an export: the state to keep."""
    tmp_path = tmp_path_factory.mktemp("kill-base")
    root = tmp_path / "ws"
    ws = Workspace(root)
    report = load_and_validate({"interactions": files["small"], "items": files["items"]})
    info = import_dataset(report, "shop", ws)
    run = train_run(ws, "shop", "popularity")
    env = _env(root)
    done = subprocess.run(_segment_cmd(root, run.id, tmp_path / "before.csv"), env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    export = ws.list_records(EXPORTS)[0]
    return {"root": root, "fingerprint": info.fingerprint, "run": run.id, "export": export["id"],
            "export_bytes": read_export(ws, export["id"]).data, "files": files}


@pytest.fixture
def previous(base, tmp_path) -> dict:
    """A private copy of the base workspace (no process has it open while it is copied)."""
    root = tmp_path / "ws"
    shutil.copytree(base["root"], root)
    return dict(base, root=root, tmp=tmp_path)


def _env(root: pathlib.Path) -> dict:
    env = dict(os.environ, RECSYS_WORKSPACE=str(root), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


# Loaded by the killed process through PYTHONPATH: holds each workspace temporary for half a
# second before it is renamed into place. A small export's temporaries otherwise live for
# microseconds, and on an idle machine the "temp" kill point was missed (the export had ended).
_SLOW_RENAME_HOOK = f"""
import os, time
def _held(rename):
    def wrapper(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(src)).startswith({TMP_PREFIX!r}):
            time.sleep(0.5)
        return rename(src, dst, *args, **kwargs)
    return wrapper
os.rename, os.replace = _held(os.rename), _held(os.replace)
"""


def _env_holding_temporaries(root: pathlib.Path, folder: pathlib.Path) -> dict:
    """:func:`_env` plus a ``sitecustomize`` that keeps temporaries on disk long enough to be seen."""
    hook = folder / "hold-temporaries"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(_SLOW_RENAME_HOOK)
    env = _env(root)
    env["PYTHONPATH"] = os.pathsep.join((str(hook), env["PYTHONPATH"]))
    return env


def _segment_cmd(root: pathlib.Path, run_id: str, out: pathlib.Path) -> list[str]:
    return [sys.executable, "-m", "recsys", "segment", "--run", run_id, "--target", "category=c1",
            "--size", "150", "--min-size", "10", "--format", "csv", "--out", str(out), "--workspace", str(root)]


def _tmp_entries(root: pathlib.Path) -> list[pathlib.Path]:
    return [p for p in root.rglob(f"{TMP_PREFIX}*")]


def kill_when(proc: subprocess.Popen, trigger: str, root: pathlib.Path, seed: int, timeout: float = 600) -> bool:
    """SIGKILL ``proc``'s process group at ``trigger``; True if it was still running then.

    Triggers: ``"delay"`` (a seeded random 0.3-3 s after start), ``"temp"`` (a temporary file of
    an atomic write appears in the workspace), ``"late"`` (a second after ``"temp"``).
    """
    start = time.monotonic()
    delay = random.Random(seed).uniform(0.3, 3.0)
    seen_tmp = None
    while proc.poll() is None and time.monotonic() - start < timeout:
        now = time.monotonic()
        if trigger == "delay" and now - start >= delay:
            break
        if trigger in ("temp", "late") and seen_tmp is None and _tmp_entries(root):
            seen_tmp = now
            if trigger == "temp":
                break
        if trigger == "late" and seen_tmp is not None and now - seen_tmp >= 1.0:
            break
        time.sleep(0.002)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    return alive


def check_consistent(state: dict, *, dataset_fingerprints: set[str] | None = None) -> Workspace:
    """Open the workspace afresh and check every listed thing, the previous state and clean-up."""
    root = state["root"]
    ws = Workspace(root)
    _check_listed(ws)
    fingerprints = dataset_fingerprints or {state["fingerprint"]}
    assert ws.dataset_info("shop").fingerprint in fingerprints
    assert load_run(ws, state["run"]).record.id == state["run"]
    assert read_export(ws, state["export"]).data == state["export_bytes"]

    listed = _listing(ws)
    ws.cleanup(older_than_s=0)  # the next start, once the killed writer's files are stale
    assert not _tmp_entries(root), _tmp_entries(root)
    assert _listing(ws) == listed
    _check_listed(ws)
    return ws


def _listing(ws: Workspace) -> dict:
    return {"datasets": sorted((d.name, d.fingerprint) for d in ws.list_datasets()),
            **{kind: sorted(r["id"] for r in ws.list_records(kind)) for kind in ("runs", SEGMENTS, EXPORTS)}}


def _check_listed(ws: Workspace) -> None:
    for info in ws.list_datasets():
        tables = ws.load_tables(info.name)
        assert dataset_fingerprint(tables) == info.fingerprint, info.name
        assert {t: len(df) for t, df in tables.items()} == info.row_counts
    for record in ws.list_records("runs"):
        loaded = load_run(ws, record["id"])
        recs = loaded.model.recommend(np.arange(min(5, loaded.data.n_users)), k=5)
        assert len(recs.item_idx) > 0
    for record in ws.list_records(SEGMENTS):
        rule, members = load_segment(ws, record["id"])
        assert len(members) > 0
    for record in ws.list_records(EXPORTS):
        saved = read_export(ws, record["id"])
        assert saved.manifest.matches(saved.data), record["id"]
    for job in ws.list_records("jobs"):
        assert job_status(ws, job["id"]).status in FINISHED, job["id"]


def _points(*triggers: str) -> list:
    return [t if i == 0 else pytest.param(t, marks=pytest.mark.slow) for i, t in enumerate(triggers)]


@pytest.mark.parametrize("trigger", _points("temp", "delay", "late"))
def test_killed_import_overwrite_leaves_the_old_or_the_new_dataset(previous, trigger):
    state, root = previous, previous["root"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "recsys", "import", "--interactions", str(state["files"]["large"]),
         "--items", str(state["files"]["items"]), "--name", "shop", "--overwrite", "--workspace", str(root)],
        env=_env(root), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed = kill_when(proc, trigger, root, seed=11)
    assert killed or trigger != "temp", "the import ended before its files were written"
    shop = Workspace(root).dataset_info("shop")
    if shop.fingerprint != state["fingerprint"]:  # the overwrite finished: all of the new data
        assert shop.row_counts["interactions"] == 400_000
    check_consistent(state, dataset_fingerprints={state["fingerprint"], shop.fingerprint})


@pytest.mark.parametrize("trigger", _points("temp", "delay", "late"))
def test_killed_training_job_lists_no_partial_run(previous, trigger, monkeypatch):
    state, root = previous, previous["root"]
    ws = Workspace(root)
    runs_before = {r["id"] for r in ws.list_records("runs")}
    if trigger == "temp":  # the worker inherits this environment
        monkeypatch.setenv("PYTHONPATH", _env_holding_temporaries(root, state["tmp"])["PYTHONPATH"])
    job_id = start_training_job(ws, dataset="shop", model_key="ease", device="cpu")
    pid = ws.get_record("jobs", job_id)["pid"]
    proc = _Pid(pid)
    killed = kill_when(proc, trigger, root / "runs", seed=23)
    assert killed or trigger != "temp", "the worker ended before its run's files were written"
    status = job_status(ws, job_id)
    # Killed before it recorded success: failed. Killed while exiting after success: succeeded.
    assert status.status in ("failed", "succeeded") if killed else status.status == "succeeded"
    if status.status == "failed":
        assert "stopped unexpectedly" in (status.error or "")
    new_runs = {r["id"] for r in ws.list_records("runs")} - runs_before
    assert len(new_runs) == (0 if status.status != "succeeded" else 1)
    check_consistent(state)


@pytest.mark.parametrize("trigger", _points("temp", "delay"))
def test_killed_export_lists_no_partial_export(previous, trigger):
    state, root = previous, previous["root"]
    env = _env_holding_temporaries(root, state["tmp"]) if trigger == "temp" else _env(root)
    proc = subprocess.Popen(_segment_cmd(root, state["run"], state["tmp"] / "after.csv"), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    killed = kill_when(proc, trigger, root, seed=37)
    assert killed or trigger != "temp", "the export ended before its files were written"
    ws = check_consistent(state)
    exports = ws.list_records(EXPORTS)
    assert 1 <= len(exports) <= 2


class _Pid:
    """The parts of ``Popen`` that :func:`kill_when` uses, for the job's worker (spawned by jobs.py)."""

    def __init__(self, pid: int):
        self.pid = pid

    def poll(self):
        return None if process_alive(self.pid) else 0

    def wait(self, timeout: float):
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
