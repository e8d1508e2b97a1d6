"""Device resolution, fit options, progress events and the epoch loop."""

from recsys.training.device import resolve_device
from recsys.training.options import FitOptions
from recsys.training.progress import ProgressEvent, TrainingCancelled

__all__ = ["FitOptions", "ProgressEvent", "TrainingCancelled", "resolve_device"]
