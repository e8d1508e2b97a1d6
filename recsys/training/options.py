"""Runtime options of ``fit``: how to train, not what the model is (LensKit's split)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from recsys.training.progress import ProgressCallback, ProgressEvent, TrainingCancelled

if TYPE_CHECKING:
    from recsys.data.dataset import Dataset


@dataclass
class FitOptions:
    """Device, seed, callbacks, budget and validation data for one ``fit`` call.

    ``should_stop`` is polled between steps; when it returns True the fit raises
    ``TrainingCancelled``. ``time_budget_s`` ends training early but keeps the best
    model so far (a budget stop is not a failure).
    """

    device: str = "auto"
    seed: int = 0
    callbacks: Sequence[ProgressCallback] = ()
    time_budget_s: float | None = None
    validation: "Dataset | None" = None
    should_stop: Callable[[], bool] | None = None
    started_at: float = field(default_factory=time.monotonic)

    def emit(self, event: ProgressEvent) -> None:
        for callback in self.callbacks:
            callback(event)

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def check_cancel(self) -> None:
        if self.should_stop is not None and self.should_stop():
            raise TrainingCancelled("training was cancelled")

    def over_budget(self) -> bool:
        return self.time_budget_s is not None and self.elapsed() >= self.time_budget_s
