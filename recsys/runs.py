"""Training runs: fit + evaluate one model on a workspace dataset and store the result.

A run lives in the workspace as a record of kind ``"runs"`` plus an artifact folder::

    runs/<run_id>/model/            the fitted model (``Recommender.save``)
    runs/<run_id>/per_user.parquet  per-user test metrics (absent with split "none")
    runs/<run_id>/user_ids.parquet  raw user ids in index order (the model's id map)
    runs/<run_id>/item_ids.parquet  raw item ids in index order

Files are written first (the model into a temporary folder renamed into place) and the
record last, so a crash or a cancel never leaves a run that is listed but incomplete.
"""

from __future__ import annotations

import datetime as dt
import math
import platform
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import pandas as pd

from recsys import __version__
from recsys.data.dataset import Dataset, IdMap
from recsys.models.base import Recommender
from recsys.models.registry import get_spec
from recsys.storage.atomic import atomic_dir, atomic_file
from recsys.training.progress import ProgressCallback, ProgressEvent, TrainingCancelled
from recsys.training.runner import NO_SPLIT, check_request, fit_and_evaluate

if TYPE_CHECKING:
    from recsys.evaluation.splits import Split
    from recsys.workspace import Workspace

KIND = "runs"
MODEL_DIR = "model"
PER_USER_FILE = "per_user.parquet"
USER_IDS_FILE = "user_ids.parquet"
ITEM_IDS_FILE = "item_ids.parquet"
COMPLETE = "complete"
LIST_METRICS = ("ndcg@10", "recall@10", "precision@10", "map@10", "mrr@10", "hit@10",
                "ndcg@20", "recall@20", "coverage@10")


@dataclass(frozen=True)
class RunRecord:
    """What a stored run says about itself (JSON-safe; ``to_dict`` is the stored record)."""

    id: str
    dataset: str
    dataset_fingerprint: str
    model_key: str
    display_name: str
    family: str
    params: dict
    split: dict
    metrics: dict
    device: str
    device_description: str
    fit_seconds: float
    eval_seconds: float
    created_at: str
    seed: int = 0
    k: int = 10
    time_budget_s: float | None = None
    n_users: int = 0
    n_items: int = 0
    n_fit_events: int = 0
    job_id: str | None = None
    status: str = COMPLETE
    software: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return _json_safe(asdict(self))

    @classmethod
    def from_dict(cls, record: dict) -> "RunRecord":
        """Rebuild from a stored record, ignoring keys added by the workspace (``updated_at``)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in names})

    @property
    def split_protocol(self) -> str:
        return self.split.get("protocol", NO_SPLIT)


@dataclass(frozen=True)
class LoadedRun:
    """A stored run ready to serve: its record, fitted model and the dataset in the model's id maps.

    ``split`` is rebuilt only when asked for (``load_run(..., with_split=True)``); ``notes``
    says what did not match (the dataset changed or vanished since training).
    """

    record: RunRecord
    model: Recommender
    data: Dataset
    split: "Split | None" = None
    notes: tuple[str, ...] = ()


# ----- training ------------------------------------------------------------------------------

def train_run(
    workspace: "Workspace",
    dataset: str,
    model_key: str,
    params: dict | None = None,
    *,
    split: str = "leave_last_out",
    split_params: dict | None = None,
    device: str = "auto",
    seed: int = 0,
    k: int = 10,
    callbacks: Sequence[ProgressCallback] = (),
    should_stop: Callable[[], bool] | None = None,
    time_budget_s: float | None = None,
    job_id: str | None = None,
) -> RunRecord:
    """Train ``model_key`` on workspace dataset ``dataset``, evaluate it and store the run.

    Parameters
    ----------
    split : str
        "leave_last_out", "temporal", "random" or "none" (fit on everything, no metrics).
    split_params : dict, optional
        Arguments of the split maker (``recsys.evaluation.splits``); "random" gets ``seed``.
    k : int
        The headline cut-off; metrics are computed at 10, 20 and ``k``.
    callbacks, should_stop, time_budget_s
        Passed to ``fit`` (see ``FitOptions``); ``should_stop`` is also checked before the
        run is stored, so a cancelled run is never listed.

    Returns the stored ``RunRecord``. Raises ``TrainingCancelled`` on a cancel.
    """
    protocol = check_request(model_key, params, split, device)
    started = time.monotonic()
    spec = get_spec(model_key)
    _emit(callbacks, "load", f"loading dataset {dataset!r}", started)
    info = workspace.dataset_info(dataset)
    data = dataset_from_tables(workspace.load_tables(dataset), info.metadata)
    ks = tuple(sorted({10, 20, int(k)}))
    outcome = fit_and_evaluate(data, spec.key, params, split=protocol, split_params=split_params,
                               device=device, seed=seed, ks=ks, callbacks=callbacks,
                               should_stop=should_stop, time_budget_s=time_budget_s)
    _emit(callbacks, "save", "saving the run", started)
    run_id = workspace.new_id(KIND)
    run_dir = workspace.artifact_dir(KIND, run_id)
    try:
        with atomic_dir(run_dir / MODEL_DIR) as tmp:
            outcome.model.save(tmp)
        _write_ids(run_dir / USER_IDS_FILE, "user_id", data.users)
        _write_ids(run_dir / ITEM_IDS_FILE, "item_id", data.items)
        if outcome.evaluation is not None:
            _write_parquet(run_dir / PER_USER_FILE, _with_raw_users(outcome.evaluation.per_user, data))
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")
        record = RunRecord(
            id=run_id,
            dataset=info.name,
            dataset_fingerprint=info.fingerprint,
            model_key=spec.key,
            display_name=spec.display_name,
            family=spec.family,
            params=outcome.model.get_params(),
            split={"protocol": protocol, "args": outcome.split_args,
                   "params": dict(outcome.split.params) if outcome.split is not None else {}},
            metrics=dict(outcome.evaluation.summary) if outcome.evaluation is not None else {},
            device=outcome.device,
            device_description=outcome.device_description,
            fit_seconds=outcome.fit_seconds,
            eval_seconds=outcome.eval_seconds,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            seed=int(seed),
            k=int(k),
            time_budget_s=time_budget_s,
            n_users=data.n_users,
            n_items=data.n_items,
            n_fit_events=(outcome.split.fit_data() if outcome.split is not None else data).n_events,
            job_id=job_id,
            software=software_versions(),
        )
        record = RunRecord.from_dict(record.to_dict())  # what is returned is what is stored
        workspace.put_record(KIND, run_id, record.to_dict())
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    _emit(callbacks, "done", f"run {run_id} saved", started, metrics=_headline(record.metrics))
    return record


# ----- reading ---------------------------------------------------------------------------------

def get_run(workspace: "Workspace", run_id: str) -> RunRecord:
    """The stored record of ``run_id`` (the workspace's NotFoundError if absent)."""
    return RunRecord.from_dict(workspace.get_record(KIND, run_id))


def load_run(workspace: "Workspace", run_id: str, *, with_split: bool = False) -> LoadedRun:
    """Load a stored run: record, fitted model, and the dataset in the run's id maps.

    The dataset is rebuilt from the workspace; when its id maps differ from the run's
    (the dataset was overwritten) the events are re-indexed into the run's maps, and
    when the dataset is gone the run still serves from the model's stored history.
    """
    record = get_run(workspace, run_id)
    run_dir = workspace.artifact_dir(KIND, run_id)
    model = get_spec(record.model_key).load_class().load(run_dir / MODEL_DIR)
    users = IdMap(pd.read_parquet(run_dir / USER_IDS_FILE)["user_id"].to_numpy(dtype=object))
    items = IdMap(pd.read_parquet(run_dir / ITEM_IDS_FILE)["item_id"].to_numpy(dtype=object))
    notes: list[str] = []
    info = workspace.dataset_info(record.dataset) if workspace.has_dataset(record.dataset) else None
    if info is not None and "interactions" in info.columns:
        data = dataset_from_tables(workspace.load_tables(record.dataset), info.metadata)
        if info.fingerprint != record.dataset_fingerprint:
            notes.append(f"dataset {record.dataset!r} changed since this run was trained")
        if data.users != users or data.items != items:
            data = align_to_maps(data, users, items)
            notes.append("the dataset's ids were re-indexed into the run's id maps")
    else:
        data = Dataset(users, items, pd.DataFrame({"user_idx": np.zeros(0, np.int64),
                                                   "item_idx": np.zeros(0, np.int64),
                                                   "weight": np.zeros(0, np.float32)}))
        notes.append(f"dataset {record.dataset!r} no longer exists; serving from the model alone" if info is None
                     else f"the events of dataset {record.dataset!r} stay on the Spark cluster; serving from the "
                          "model alone")
    split = None
    if with_split and record.split_protocol != NO_SPLIT:
        if notes:
            raise ValueError(f"cannot rebuild the split of run {run_id}: {notes[0]}")
        from recsys.evaluation.splits import make_split

        split = make_split(data, record.split_protocol, **record.split.get("args", {}))
    return LoadedRun(record, model, data, split, tuple(notes))


def per_user_metrics(workspace: "Workspace", run_id: str) -> pd.DataFrame | None:
    """The run's per-user test metrics, or None for a run without evaluation."""
    path = workspace.artifact_dir(KIND, run_id) / PER_USER_FILE
    return pd.read_parquet(path) if path.exists() else None


def list_runs(workspace: "Workspace", dataset: str | None = None) -> pd.DataFrame:
    """Stored runs, newest first, one row each with engine, headline metrics and timings."""
    records = workspace.list_records(KIND, dataset=dataset) if dataset else workspace.list_records(KIND)
    rows = []
    for raw in records:
        rec = RunRecord.from_dict(raw)
        row = {"run_id": rec.id, "created_at": rec.created_at, "dataset": rec.dataset,
               "model": rec.model_key, "engine": raw.get("engine", "local"),
               "display_name": rec.display_name, "split": rec.split_protocol}
        row.update({m: rec.metrics.get(m) for m in LIST_METRICS})
        row.update({"fit_seconds": rec.fit_seconds, "device": rec.device, "job_id": rec.job_id})
        rows.append(row)
    columns = ["run_id", "created_at", "dataset", "model", "engine", "display_name", "split", *LIST_METRICS,
               "fit_seconds", "device", "job_id"]
    return pd.DataFrame(rows, columns=columns)


def delete_run(workspace: "Workspace", run_id: str) -> None:
    """Remove a run's record, then its files."""
    workspace.delete_record(KIND, run_id)


# ----- dataset helpers ---------------------------------------------------------------------------

def dataset_from_tables(tables: dict[str, pd.DataFrame], metadata: dict | None = None) -> Dataset:
    """``Dataset.from_tables`` over a workspace dataset's canonical tables."""
    if "interactions" not in tables:
        raise ValueError("the dataset has no interactions table")
    weights = (metadata or {}).get("event_weights")
    return Dataset.from_tables(tables["interactions"], tables.get("items"), tables.get("users"),
                               event_weights=weights if isinstance(weights, dict) else None)


def align_to_maps(data: Dataset, users: IdMap, items: IdMap) -> Dataset:
    """``data`` re-indexed into the given id maps; events with ids outside them are dropped."""
    frame = data.frame.copy()
    u = users.index_of(data.users.to_raw(frame["user_idx"].to_numpy()))
    i = items.index_of(data.items.to_raw(frame["item_idx"].to_numpy()))
    keep = (u >= 0) & (i >= 0)
    frame = frame.loc[keep].copy()
    frame["user_idx"], frame["item_idx"] = u[keep], i[keep]
    return Dataset(users, items, frame.reset_index(drop=True),
                   _realign(data.item_features, data.items, items),
                   _realign(data.user_features, data.users, users), data.event_weights)


def _realign(features: pd.DataFrame | None, old: IdMap, new: IdMap) -> pd.DataFrame | None:
    if features is None:
        return None
    out = features.set_axis(pd.Index(old.ids), axis=0).reindex(pd.Index(new.ids))
    return out.set_axis(pd.RangeIndex(len(new)), axis=0)


# ----- small helpers -----------------------------------------------------------------------------

def software_versions() -> dict:
    import scipy
    import torch

    return {"recsys": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pd.__version__, "scipy": scipy.__version__, "torch": torch.__version__}


def _with_raw_users(per_user: pd.DataFrame, data: Dataset) -> pd.DataFrame:
    frame = per_user.reset_index(drop=per_user.index.name is None)
    if "user_idx" in frame and "user_id" not in frame:
        frame.insert(0, "user_id", data.users.to_raw(frame["user_idx"].to_numpy()).astype(str))
    return frame


def _write_ids(path: Path, column: str, ids: IdMap) -> None:
    _write_parquet(path, pd.DataFrame({column: pd.array(ids.ids.astype(str), dtype="string")}))


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_file(path) as fh:
        frame.to_parquet(fh, index=False)


def _headline(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k in ("ndcg@10", "recall@10", "hit@10")}


def _emit(callbacks: Sequence[ProgressCallback], stage: str, message: str, started: float,
          metrics: dict | None = None) -> None:
    event = ProgressEvent(stage=stage, message=message, elapsed=time.monotonic() - started,
                          metrics=dict(metrics or {}))
    for callback in callbacks:
        callback(event)


def _json_safe(value: Any) -> Any:
    """Plain JSON types only: numpy scalars unwrapped, NaN/inf become None."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
