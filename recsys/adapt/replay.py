"""Replay a period step by step: an incrementally updated model against one frozen at the start.

At each step (a day or a week) both models rank items for the customers active
in the next period; NDCG@k is measured on what they engaged with that were new
to them, and the category mix of both lists is recorded next to the mix of the
period's events. Then the incremental model takes in the period's events
(``update_model``) and the replay moves on. The frozen model never changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.adapt.update import update_model
from recsys.data.dataset import SECONDS_PER_DAY, Dataset
from recsys.evaluation.evaluate import evaluate_recommendations
from recsys.models.base import Recommender
from recsys.training.progress import ProgressEvent, TrainingCancelled


@dataclass(frozen=True)
class ReplayStep:
    """One period: its bounds (Unix s), who was evaluated, both NDCGs and category mixes."""

    start: int
    end: int
    n_events: int
    n_users: int
    ndcg_incremental: float
    ndcg_frozen: float
    mix_incremental: dict
    mix_frozen: dict
    mix_actual: dict
    update_seconds: float


@dataclass(frozen=True)
class ReplayResult:
    model_key: str
    k: int
    steps: tuple[ReplayStep, ...]
    cancelled: bool = False

    def to_frame(self) -> pd.DataFrame:
        """One row per step: period start, events, users, NDCG of both models, update time."""
        return pd.DataFrame({
            "period_start": pd.to_datetime([s.start for s in self.steps], unit="s"),
            "events": [s.n_events for s in self.steps], "customers": [s.n_users for s in self.steps],
            "ndcg_incremental": [s.ndcg_incremental for s in self.steps],
            "ndcg_frozen": [s.ndcg_frozen for s in self.steps],
            "update_seconds": [s.update_seconds for s in self.steps]})

    def mix_frame(self) -> pd.DataFrame:
        """Long frame: period_start, source (incremental / frozen / actual), category, share."""
        rows = [(pd.to_datetime(s.start, unit="s"), source, cat, share)
                for s in self.steps
                for source, mix in (("incremental", s.mix_incremental), ("frozen", s.mix_frozen),
                                    ("actual", s.mix_actual))
                for cat, share in mix.items()]
        return pd.DataFrame(rows, columns=["period_start", "source", "category", "share"])


def fit_before(model: Recommender, data: Dataset, start: int, **fit_kwargs) -> Recommender:
    """``model`` fitted on the events of ``data`` before ``start`` (the frozen starting point)."""
    return model.fit(data.with_frame(data.frame[data.frame["timestamp"] < start]), **fit_kwargs)


def replay(model: Recommender, data: Dataset, start: int, end: int, *, step_days: float = 7.0, k: int = 10,
           category_column: str = "category", max_users: int | None = 2000, seed: int = 0,
           callbacks: Sequence[Callable[[ProgressEvent], None]] = (),
           should_stop: Callable[[], bool] | None = None) -> ReplayResult:
    """Replay ``[start, end)`` of ``data`` in steps of ``step_days``.

    ``model`` must be fitted on the events of ``data`` before ``start`` (see
    ``fit_before``) with the same id maps. ``max_users`` caps the customers
    evaluated per step (a seeded sample). ``should_stop`` is polled between
    steps; on cancel the steps done so far are returned with ``cancelled=True``.
    """
    if not data.has_timestamps:
        raise ValueError("replay needs timestamps")
    frame = data.frame
    ts = frame["timestamp"].to_numpy(np.int64)
    seen = data.with_frame(frame[ts < start]).matrix(binary=True)
    categories = _categories(data, category_column)
    rng = np.random.default_rng(seed)
    step = int(step_days * SECONDS_PER_DAY)
    bounds = list(range(int(start), int(end), step))
    current, steps, began = model, [], time.monotonic()
    for n, lo in enumerate(bounds):
        if should_stop is not None and should_stop():
            return ReplayResult(model.key, k, tuple(steps), cancelled=True)
        hi = min(lo + step, int(end))
        period = data.with_frame(frame[(ts >= lo) & (ts < hi)])
        relevant = period.matrix(binary=True)
        relevant = (relevant - relevant.multiply(seen)).tocsr()
        relevant.eliminate_zeros()
        users = np.flatnonzero(np.diff(relevant.indptr) > 0)
        if max_users is not None and len(users) > max_users:
            users = np.sort(rng.choice(users, max_users, replace=False))
        inc, frz = _rank(current, users, seen, k), _rank(model, users, seen, k)
        t0 = time.perf_counter()
        if period.n_events:
            current, _ = update_model(current, period)
        seconds = time.perf_counter() - t0
        steps.append(ReplayStep(
            lo, hi, period.n_events, len(users), _ndcg(inc, users, relevant, k), _ndcg(frz, users, relevant, k),
            _mix(inc, categories), _mix(frz, categories),
            _mix(period.frame["item_idx"].to_numpy(), categories), seconds))
        seen = (seen + period.matrix(binary=True)).tocsr()
        seen.data[:] = 1.0
        event = ProgressEvent(stage="replay", step=n + 1, total=len(bounds), elapsed=time.monotonic() - began,
                              metrics={"ndcg_incremental": steps[-1].ndcg_incremental,
                                       "ndcg_frozen": steps[-1].ndcg_frozen},
                              message=f"period from {pd.to_datetime(lo, unit='s'):%Y-%m-%d}")
        for callback in callbacks:
            try:
                callback(event)
            except TrainingCancelled:
                return ReplayResult(model.key, k, tuple(steps), cancelled=True)
    return ReplayResult(model.key, k, tuple(steps))


def _rank(model: Recommender, users: np.ndarray, seen: sp.csr_matrix, k: int, batch: int = 1024) -> np.ndarray:
    """Top-k item matrix (n_users, k), everything seen before the period excluded."""
    out = np.full((len(users), k), -1, np.int64)
    for s in range(0, len(users), batch):
        part = users[s:s + batch]
        scores = model.score(part).astype(np.float32, copy=True)
        rows = seen[part]
        r, c = rows.nonzero()
        scores[r, c] = -np.inf
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1, kind="stable")
        out[s:s + batch] = np.take_along_axis(top, order, 1)
    return out


def _ndcg(ranked: np.ndarray, users: np.ndarray, relevant: sp.csr_matrix, k: int) -> float:
    if not len(users):
        return float("nan")
    return float(evaluate_recommendations(ranked, users, relevant, ks=(k,)).summary[f"ndcg@{k}"])


def _categories(data: Dataset, column: str) -> np.ndarray:
    features = data.item_features
    if features is None or column not in features:
        return np.full(data.n_items, "(none)", dtype=object)
    return features[column].fillna("(none)").astype(str).to_numpy(dtype=object)


def _mix(items: np.ndarray, categories: np.ndarray) -> dict:
    items = np.asarray(items).ravel()
    items = items[items >= 0]
    if not len(items):
        return {}
    return {str(c): float(s) for c, s in pd.Series(categories[items]).value_counts(normalize=True).items()}
