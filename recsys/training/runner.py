"""Fit one model on one split and evaluate it: the compute half of a run (no storage).

``recsys.runs`` stores what this returns; the CLI, background jobs and the dashboard
all go through it, so a run means the same thing wherever it was started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from recsys.data.dataset import Dataset
from recsys.evaluation.splits import PROTOCOLS
from recsys.models.base import Recommender
from recsys.models.registry import availability, get_spec
from recsys.training.device import describe_device, resolve_device
from recsys.training.options import FitOptions
from recsys.training.progress import ProgressCallback, ProgressEvent, TrainingCancelled

if TYPE_CHECKING:
    from recsys.evaluation.evaluate import EvaluationResult
    from recsys.evaluation.splits import Split

NO_SPLIT = "none"
SPLIT_CHOICES = (*PROTOCOLS, NO_SPLIT)
DEFAULT_KS = (10, 20)


@dataclass(frozen=True)
class TrainOutcome:
    """A fitted model with its split, evaluation and timings."""

    model: Recommender
    split: "Split | None"
    evaluation: "EvaluationResult | None"
    device: str
    device_description: str
    fit_seconds: float
    eval_seconds: float
    split_args: dict


def normalize_split(split: str | None) -> str:
    """Canonical protocol name ("leave-last-out" reads as "leave_last_out"); ValueError if unknown."""
    key = (split or NO_SPLIT).strip().lower().replace("-", "_")
    if key not in SPLIT_CHOICES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_CHOICES)}")
    return key


def check_request(model_key: str, params: dict | None, split: str, device: str) -> str:
    """Validate a training request before any work (ValueError/KeyError); return the protocol."""
    get_spec(model_key).create(**dict(params or {}))  # constructors only store parameters
    resolve_device(device)
    return normalize_split(split)


def build_model(model_key: str, params: dict | None, data: Dataset) -> Recommender:
    """Create the registry model, refusing data it cannot run on (a clear ValueError)."""
    spec = get_spec(model_key)
    has_text = data.item_features is not None and any(
        c in data.item_features.columns for c in ("title", "description"))
    ok, why = availability(spec, has_timestamps=data.has_timestamps, has_item_text=has_text)
    if not ok:
        raise ValueError(f"{spec.display_name} cannot run on this dataset: {why}")
    return spec.create(**dict(params or {}))


def fit_and_evaluate(
    data: Dataset,
    model_key: str,
    params: dict | None = None,
    *,
    split: str = "leave_last_out",
    split_params: dict | None = None,
    device: str = "auto",
    seed: int = 0,
    ks: Sequence[int] = DEFAULT_KS,
    callbacks: Sequence[ProgressCallback] = (),
    should_stop: Callable[[], bool] | None = None,
    time_budget_s: float | None = None,
) -> TrainOutcome:
    """Split ``data``, fit ``model_key`` on the split's fit data and evaluate on its test part.

    ``split="none"`` fits on every event and skips evaluation. ``should_stop`` is also
    checked between the phases, so a cancel that arrives after ``fit`` still cancels.
    Raises ``TrainingCancelled`` on a cancel and ``ValueError`` for bad requests.
    """
    protocol = normalize_split(split)
    resolved = resolve_device(device)
    model = build_model(model_key, params, data)

    def emit(stage: str, message: str, **extra) -> None:
        for callback in callbacks:
            callback(ProgressEvent(stage=stage, message=message, elapsed=time.monotonic() - started, **extra))

    def check_stop() -> None:
        if should_stop is not None and should_stop():
            raise TrainingCancelled("training was cancelled")

    started = time.monotonic()
    the_split = None
    fit_data = data
    split_args = _split_args(protocol, split_params, seed)
    if protocol != NO_SPLIT:
        from recsys.evaluation.splits import make_split

        emit("split", f"splitting with {protocol}")
        the_split = make_split(data, protocol, **split_args)
        fit_data = the_split.fit_data()
    check_stop()
    options = FitOptions(device=str(resolved), seed=seed, callbacks=tuple(callbacks),
                         time_budget_s=time_budget_s, should_stop=should_stop,
                         validation=_validation(the_split))
    emit("fit", f"fitting {model_key} on {fit_data.n_events:,} events ({resolved})")
    fit_start = time.monotonic()
    model.fit(fit_data, options=options)
    fit_seconds = time.monotonic() - fit_start
    check_stop()
    evaluation, eval_seconds = None, 0.0
    if the_split is not None:
        from recsys.evaluation.evaluate import evaluate_model

        emit("evaluate", "evaluating on the test part")
        eval_start = time.monotonic()
        evaluation = evaluate_model(model, the_split, ks=tuple(ks), on="test")
        eval_seconds = time.monotonic() - eval_start
        check_stop()
    return TrainOutcome(model, the_split, evaluation, str(resolved), describe_device(resolved),
                        fit_seconds, eval_seconds, split_args)


def _validation(split: "Split | None") -> Dataset | None:
    # A split that refits on train + valid already contains valid: early stopping on it
    # would score items the model was fit on, so it gets no validation data.
    if split is None or split.valid is None or split.fit_data() is not split.train:
        return None
    return split.valid


def _split_args(protocol: str, given: dict | None, seed: int) -> dict:
    # The maker's arguments: stored with the run so ``load_run`` can rebuild the same split.
    if protocol == NO_SPLIT:
        return {}
    params = dict(given or {})
    if protocol == "random":
        params.setdefault("seed", seed)
    return params
