"""Progress events that training sends to any callable (CLI, background job, page)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable


@dataclass(frozen=True)
class ProgressEvent:
    """One step of training: ``stage`` is e.g. "fit", "epoch", "evaluate", "done"."""

    stage: str
    step: int = 0
    total: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    eta: float | None = None
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[ProgressEvent], None]


class TrainingCancelled(Exception):
    """Raised inside ``fit`` when the caller asked to stop (a cancel, not a budget stop)."""
