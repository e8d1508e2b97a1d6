"""Background training jobs: one process per job, state in the workspace.

A job is a record of kind ``"jobs"`` (status, spec, pid, progress summary, run id or
error) plus ``events.jsonl`` (every progress event) and ``worker.log`` (the worker's
output, with tracebacks) in its artifact folder. ``start_training_job`` writes the
record and spawns ``python -m recsys.training.worker --job ID`` in its own session, so
the job outlives the page, the browser tab and even the dashboard process.

Statuses: queued -> running -> succeeded | failed | cancelled. Readers reconcile a dead
worker: a job whose process is gone while queued or running is reported failed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.models.registry import get_spec
from recsys.training.runner import check_request

if TYPE_CHECKING:
    from recsys.workspace import Workspace

KIND = "jobs"
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
LOG_FILE = "worker.log"
DIED_MESSAGE = "the training process stopped unexpectedly"
# A queued job whose worker never reported a pid within this time did not start.
START_TIMEOUT_S = 120.0
WORKSPACE_ENV = "RECSYS_WORKSPACE"

_children: dict[int, subprocess.Popen] = {}
_children_lock = threading.Lock()


@dataclass(frozen=True)
class JobStatus:
    """What a page or the CLI shows about a job (reconciled with its process)."""

    job_id: str
    status: str
    progress: float | None = None
    stage: str = ""
    metrics: dict = field(default_factory=dict)
    elapsed: float = 0.0
    eta: float | None = None
    message: str = ""
    run_id: str | None = None
    error: str | None = None
    spec: dict = field(default_factory=dict)
    created_at: str = ""
    pid: int | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def start_training_job(
    workspace: "Workspace",
    *,
    dataset: str,
    model_key: str,
    params: dict | None = None,
    split: str = "leave_last_out",
    split_params: dict | None = None,
    device: str = "auto",
    seed: int = 0,
    k: int = 10,
    time_budget_s: float | None = None,
) -> str:
    """Queue a training job and start its worker process; return the job id.

    The request is checked here (model key, parameters, split, device, dataset) so a bad
    one fails at once with a ValueError/KeyError/WorkspaceError instead of in the worker.
    """
    protocol = check_request(model_key, params, split, device or "auto")
    spec = get_spec(model_key)
    job_spec = {"dataset": workspace.dataset_info(dataset).name, "model_key": spec.key,
                "display_name": spec.display_name, "params": dict(params or {}),
                "split": protocol, "split_params": dict(split_params or {}),
                "device": str(device or "auto"), "seed": int(seed), "k": int(k),
                "time_budget_s": float(time_budget_s) if time_budget_s else None}
    job_id = workspace.new_id(KIND)
    workspace.put_record(KIND, job_id, {
        "status": QUEUED, "spec": job_spec, "created_at": now_iso(), "dataset": job_spec["dataset"],
        "model_key": spec.key, "cancel_requested": False, "pid": None, "progress": None,
        "run_id": None, "error": None, "started_at": None, "finished_at": None,
    })
    try:
        proc = _spawn_worker(workspace, job_id)
    except OSError as exc:
        workspace.update_record(KIND, job_id, status=FAILED, finished_at=now_iso(),
                                error=f"could not start the training process: {exc}")
        raise
    workspace.update_record(KIND, job_id, pid=proc.pid, pid_token=_start_token(proc.pid))
    return job_id


def _spawn_worker(workspace: "Workspace", job_id: str) -> subprocess.Popen:
    repo = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env[WORKSPACE_ENV] = str(workspace.root)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH", "")) if p)
    log_path = workspace.artifact_dir(KIND, job_id) / LOG_FILE
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recsys.training.worker", "--job", job_id],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=repo, start_new_session=True,
        )
    with _children_lock:
        _children[proc.pid] = proc
    return proc


def job_status(workspace: "Workspace", job_id: str) -> JobStatus:
    """The job's status, progress and outcome; a vanished worker is recorded as failed."""
    record = workspace.get_record(KIND, job_id)
    if record.get("status") in ACTIVE and not _worker_alive(record):
        # The process is gone, so all of its writes are done: a fresh read is final.
        record = workspace.get_record(KIND, job_id)
        if record.get("status") in ACTIVE:
            if record.get("cancel_requested"):
                record = workspace.update_record(KIND, job_id, status=CANCELLED, finished_at=now_iso(),
                                                 message="cancelled")
            else:
                record = workspace.update_record(KIND, job_id, status=FAILED, finished_at=now_iso(),
                                                 error=DIED_MESSAGE, message="failed")
    return _to_status(record)


def list_jobs(workspace: "Workspace", active_only: bool = False) -> list[dict]:
    """Job records, newest first (reconciled, so a dead worker's job is not active)."""
    jobs = workspace.list_records(KIND)
    if not active_only:
        return jobs
    out = []
    for job in jobs:
        if job.get("status") in ACTIVE and job_status(workspace, job["id"]).active:
            out.append(workspace.get_record(KIND, job["id"]))
    return out


def cancel_job(workspace: "Workspace", job_id: str, *, force: bool = False) -> JobStatus:
    """Ask the job to stop; the worker notices within about half a second between steps.

    ``force`` also sends SIGTERM to the worker's process group (for a model stuck in a long
    step); the worker then exits as cancelled. Cancelling a finished job changes nothing.
    """
    record = workspace.get_record(KIND, job_id)
    if record.get("status") in FINISHED:
        return _to_status(record)
    workspace.update_record(KIND, job_id, cancel_requested=True, cancel_requested_at=now_iso())
    if force and record.get("pid") and _worker_alive(record):
        try:
            os.killpg(int(record["pid"]), signal.SIGTERM)
        except (ProcessLookupError, PermissionError, OSError):
            pass
    return job_status(workspace, job_id)


def wait_for_job(workspace: "Workspace", job_id: str, timeout: float | None = None,
                 poll_s: float = 0.2) -> JobStatus:
    """Block until the job finishes (or ``timeout`` seconds pass); return its last status."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        status = job_status(workspace, job_id)
        if status.finished or (deadline is not None and time.monotonic() >= deadline):
            return status
        time.sleep(poll_s)


def job_events(workspace: "Workspace", job_id: str, since: int = 0) -> list[dict]:
    """Progress events of the job from index ``since`` (pass the count already seen)."""
    return workspace.read_events(KIND, job_id, since=since)


def job_log(workspace: "Workspace", job_id: str, tail_chars: int = 20_000) -> str:
    """The end of the worker's log (tracebacks live here, not in the record)."""
    path = workspace.artifact_dir(KIND, job_id) / LOG_FILE
    try:
        return path.read_text(errors="replace")[-tail_chars:]
    except FileNotFoundError:
        return ""


# ----- status assembly -------------------------------------------------------------------------

def _to_status(record: dict) -> JobStatus:
    progress = record.get("progress") or {}
    status = record.get("status", QUEUED)
    started, finished = _parse(record.get("started_at")), _parse(record.get("finished_at"))
    end = finished or dt.datetime.now(dt.timezone.utc)
    elapsed = max((end - started).total_seconds(), 0.0) if started else 0.0
    fraction = 1.0 if status == SUCCEEDED else progress.get("fraction")
    eta = None
    if status in ACTIVE:
        eta = progress.get("eta")
        if eta is None and fraction and fraction > 0.05:
            eta = elapsed * (1.0 - fraction) / fraction
    if status in ACTIVE:
        message = progress.get("message") or record.get("message") or ""
    else:
        message = record.get("message") or ""
    if status == QUEUED and not message:
        message = "waiting for the training process to start"
    return JobStatus(
        job_id=record["id"], status=status, progress=fraction, stage=progress.get("stage", ""),
        metrics=dict(record.get("metrics") or progress.get("metrics") or {}), elapsed=elapsed,
        eta=eta, message=message, run_id=record.get("run_id"), error=record.get("error"),
        spec=dict(record.get("spec") or {}), created_at=record.get("created_at", ""),
        pid=record.get("pid"),
    )


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


# ----- process liveness ------------------------------------------------------------------------

def _worker_alive(record: dict) -> bool:
    pid = record.get("pid")
    if not pid:
        # Not spawned yet (or the spawn failed before the pid was stored).
        created = _parse(record.get("created_at"))
        age = (dt.datetime.now(dt.timezone.utc) - created).total_seconds() if created else 0.0
        return age < START_TIMEOUT_S
    return process_alive(int(pid), record.get("pid_token"))


def process_alive(pid: int, token: str | None = None) -> bool:
    """Whether ``pid`` runs and is still the same process (``token``: its start time).

    Zombies count as dead; our own exited children are reaped here, so a dashboard that
    started a job does not keep a zombie that looks alive.
    """
    with _children_lock:
        child = _children.get(pid)
        if child is not None and child.poll() is not None:
            _children.pop(pid, None)
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc here: trust the signal check
    state, start = stat
    if state in ("Z", "X"):
        return False
    return token is None or start == token


def _start_token(pid: int) -> str | None:
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) from ``/proc/<pid>/stat``; None without /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    rest = raw[raw.rfind(")") + 2:].split()
    return (rest[0], rest[19]) if len(rest) > 19 else None
