"""A small epoch loop shared by iterative models (ALS, BPR, neural models).

It owns what every iterative fit repeats: one progress event per epoch (loss,
validation metric, elapsed, ETA), cancellation between epochs, early stopping
on a validation metric, and the time budget. The model supplies callables; the
loop never looks inside it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from recsys.training.options import FitOptions
from recsys.training.progress import ProgressEvent

COMPLETED = "completed"
EARLY_STOPPED = "early_stopped"
BUDGET = "time_budget"


@dataclass(frozen=True)
class LoopResult:
    """What happened: epochs run, the epoch kept, why the loop ended, per-epoch metrics."""

    epochs_run: int
    best_epoch: int
    best_metric: float | None
    stopped_by: str
    history: list[dict[str, float]] = field(default_factory=list)


def run_epochs(
    step: Callable[[int], float],
    n_epochs: int,
    options: FitOptions,
    *,
    validate: Callable[[], float] | None = None,
    metric_name: str = "ndcg@10",
    patience: int | None = None,
    eval_every: int = 1,
    snapshot: Callable[[], Any] | None = None,
    restore: Callable[[Any], None] | None = None,
    stage: str = "epoch",
) -> LoopResult:
    """Run ``step(epoch) -> loss`` up to ``n_epochs`` times.

    Parameters
    ----------
    step : callable
        Trains one epoch (0-based index) and returns its mean loss.
    n_epochs : int
        Upper bound on epochs.
    options : FitOptions
        Callbacks receive one ``ProgressEvent(stage, step, total, metrics, elapsed, eta)``
        per epoch; ``check_cancel`` runs before each epoch (``TrainingCancelled``);
        ``over_budget`` ends the loop after the epoch that crosses the budget.
    validate : callable, optional
        Returns a higher-is-better metric (e.g. validation NDCG@10) every
        ``eval_every`` epochs. With it, the best-scoring state is kept.
    patience : int, optional
        Stop after this many evaluations without improvement (needs ``validate``).
    snapshot, restore : callable, optional
        Copy out / put back the model state, so that the loop can return the
        best epoch's state after early stopping or a budget stop.
    """
    start = time.monotonic()
    history: list[dict[str, float]] = []
    best_metric, best_epoch, best_state, bad = -math.inf, 0, None, 0
    stopped_by, epoch = COMPLETED, 0
    for epoch in range(1, n_epochs + 1):
        options.check_cancel()
        loss = float(step(epoch - 1))
        metrics = {"loss": loss}
        if validate is not None and (epoch % eval_every == 0 or epoch == n_epochs):
            value = float(validate())
            metrics[metric_name] = value
            if value > best_metric:
                best_metric, best_epoch, bad = value, epoch, 0
                best_state = snapshot() if snapshot is not None else None
            else:
                bad += 1
        elif validate is None:
            best_epoch = epoch
        history.append(metrics)
        elapsed = time.monotonic() - start
        options.emit(ProgressEvent(stage=stage, step=epoch, total=n_epochs, metrics=dict(metrics),
                                   elapsed=options.elapsed(), eta=elapsed / epoch * (n_epochs - epoch)))
        if validate is not None and patience is not None and bad >= patience:
            stopped_by = EARLY_STOPPED
            break
        if options.over_budget() and epoch < n_epochs:
            stopped_by = BUDGET
            break
    kept = epoch  # without a restore (or a validated best), the model keeps its last epoch
    if best_state is not None and restore is not None:
        kept = best_epoch
        if best_epoch != epoch:
            restore(best_state)
    result = LoopResult(epochs_run=epoch if n_epochs > 0 else 0, best_epoch=best_epoch,
                        best_metric=None if best_metric == -math.inf else best_metric,
                        stopped_by=stopped_by, history=history)
    options.emit(ProgressEvent(stage="fit", step=result.epochs_run, total=n_epochs,
                               metrics=dict(history[kept - 1]) if kept else {},
                               elapsed=options.elapsed(), eta=0.0,
                               message=f"{stopped_by}; kept epoch {kept}"))
    return result
