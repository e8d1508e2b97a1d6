"""The process behind a background training job: ``python -m recsys.training.worker --job ID``.

It reads the job's spec from the workspace (``$RECSYS_WORKSPACE``), marks the job
running, calls ``recsys.runs.train_run`` with a callback that appends every progress
event to the job and a ``should_stop`` that polls the job's ``cancel_requested`` flag,
and finally marks it succeeded (with the run id), cancelled, or failed (with a readable
one-paragraph error; the traceback goes to the job's ``worker.log`` only).

``$RECSYS_WORKER_PLUGINS`` (paths of Python files or module names, separated by
``os.pathsep``) is imported first, so models registered outside the package can train
in jobs too.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from recsys.training.jobs import (CANCELLED, FAILED, FINISHED, KIND, RUNNING, SUCCEEDED, _start_token,
                                  now_iso)
from recsys.training.progress import ProgressEvent, TrainingCancelled

PLUGINS_ENV = "RECSYS_WORKER_PLUGINS"
CANCEL_POLL_S = 0.5
PROGRESS_EVERY_S = 0.5
MAX_ERROR_CHARS = 800
# Where each runner stage puts the overall progress bar; model steps fill FIT_RANGE.
STAGE_FRACTION = {"load": 0.0, "split": 0.02, "fit": 0.05, "evaluate": 0.9, "save": 0.97, "done": 1.0}
FIT_RANGE = (0.05, 0.9)


class _Terminated(Exception):
    """SIGTERM arrived (a forced cancel)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recsys.training.worker")
    parser.add_argument("--job", required=True, help="job id in the workspace")
    args = parser.parse_args(argv)

    from recsys.workspace import Workspace

    workspace = Workspace()
    return run_job(workspace, args.job)


def run_job(workspace, job_id: str) -> int:
    """Run job ``job_id`` to completion; the exit code is 0 unless the job failed."""
    record = workspace.get_record(KIND, job_id)
    if record.get("status") in FINISHED:
        return 0
    if record.get("cancel_requested"):
        workspace.update_record(KIND, job_id, status=CANCELLED, finished_at=now_iso(), message="cancelled")
        return 0
    signal.signal(signal.SIGTERM, _on_sigterm)
    workspace.update_record(KIND, job_id, status=RUNNING, started_at=now_iso(), pid=os.getpid(),
                            pid_token=_start_token(os.getpid()), message="starting")
    spec = record["spec"]
    reporter = _Reporter(workspace, job_id)
    try:
        _load_plugins()
        from recsys.runs import train_run

        run = train_run(
            workspace, spec["dataset"], spec["model_key"], spec.get("params") or {},
            split=spec.get("split", "leave_last_out"), split_params=spec.get("split_params") or None,
            device=spec.get("device", "auto"), seed=int(spec.get("seed", 0)), k=int(spec.get("k", 10)),
            callbacks=(reporter,), should_stop=reporter.should_stop,
            time_budget_s=spec.get("time_budget_s"), job_id=job_id,
        )
    except (TrainingCancelled, _Terminated):
        reporter.flush()
        workspace.update_record(KIND, job_id, status=CANCELLED, finished_at=now_iso(), message="cancelled")
        print(f"job {job_id} cancelled", file=sys.stderr)
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the job record
        traceback.print_exc()
        reporter.flush()
        workspace.update_record(KIND, job_id, status=FAILED, finished_at=now_iso(),
                                error=readable_error(exc), message="failed")
        return 1
    reporter.flush()
    headline = {k: v for k, v in run.metrics.items() if k in ("ndcg@10", "recall@10", "hit@10", "coverage@10")}
    workspace.update_record(KIND, job_id, status=SUCCEEDED, finished_at=now_iso(), run_id=run.id,
                            metrics=headline, message=f"run {run.id} saved",
                            progress=dict(reporter.summary, fraction=1.0, stage="done"))
    return 0


class _Reporter:
    """Progress callback + cancel poll for one job (both cheap: throttled workspace writes)."""

    def __init__(self, workspace, job_id: str):
        self.workspace, self.job_id = workspace, job_id
        self.summary: dict = {"fraction": 0.0, "stage": "load", "metrics": {}, "message": "", "eta": None}
        self._last_write = 0.0
        self._last_poll = 0.0
        self._dirty = False
        self._cancelled = False

    def __call__(self, event: ProgressEvent) -> None:
        self.workspace.append_event(KIND, self.job_id, {**event.to_dict(), "time": time.time()})
        fraction = _fraction(event, self.summary["fraction"])
        self.summary = {"fraction": fraction, "stage": event.stage, "step": event.step, "total": event.total,
                        "metrics": dict(event.metrics) or self.summary["metrics"],
                        "message": event.message or _describe(event), "eta": event.eta}
        self._dirty = True
        # Phase changes are written at once; step events at most every PROGRESS_EVERY_S.
        if event.stage in STAGE_FRACTION or time.monotonic() - self._last_write >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self._dirty:
            self.workspace.update_record(KIND, self.job_id, progress=dict(self.summary))
            self._dirty = False
            self._last_write = time.monotonic()

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            self._cancelled = bool(self.workspace.get_record(KIND, self.job_id).get("cancel_requested"))
        return self._cancelled


def _fraction(event: ProgressEvent, previous: float) -> float:
    if event.stage in STAGE_FRACTION:
        value = STAGE_FRACTION[event.stage]
        if event.stage == "fit" and event.total:  # the epoch loop's closing "fit" event
            value = _fit_fraction(event.step, event.total)
    elif event.total:
        value = _fit_fraction(event.step, event.total)
    else:
        value = previous
    return max(previous, min(value, 1.0))


def _fit_fraction(step: int, total: int) -> float:
    low, high = FIT_RANGE
    return low + (high - low) * min(max(step / total, 0.0), 1.0)


def _describe(event: ProgressEvent) -> str:
    if event.total:
        return f"{event.stage} {event.step}/{event.total}"
    return event.stage


def readable_error(exc: BaseException) -> str:
    """``Type: message`` as one paragraph (tracebacks belong in the log, not the UI)."""
    text = " ".join(str(exc).split()) or "no details"
    if isinstance(exc, KeyError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    out = f"{type(exc).__name__}: {text}"
    return out if len(out) <= MAX_ERROR_CHARS else out[: MAX_ERROR_CHARS - 1] + "…"


def _on_sigterm(signum, frame) -> None:
    raise _Terminated("terminated")


def _load_plugins() -> None:
    for entry in filter(None, os.environ.get(PLUGINS_ENV, "").split(os.pathsep)):
        if entry.endswith(".py"):
            path = Path(entry)
            spec = importlib.util.spec_from_file_location(f"recsys_plugin_{path.stem}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load worker plugin {entry}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(entry)


if __name__ == "__main__":
    sys.exit(main())
