"""Choose the torch device: "auto" means CUDA when present, else CPU."""

from __future__ import annotations

import torch

VALID_DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str | torch.device | None = "auto") -> torch.device:
    """Turn a device request ("auto", "cpu", "cuda", "cuda:1") into a ``torch.device``.

    Raises ``ValueError`` with a clear reason when CUDA is asked for but absent.
    """
    if isinstance(requested, torch.device):
        return requested
    name = (requested or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} was requested but no CUDA GPU is available here")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown device {requested!r}; use one of {', '.join(VALID_DEVICES)}")


def available_devices() -> list[str]:
    """Devices a user may pick on this machine, "auto" first."""
    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out += [f"cuda:{i}" if torch.cuda.device_count() > 1 else "cuda" for i in range(torch.cuda.device_count())]
    return out


def describe_device(device: torch.device) -> str:
    """Human-readable name, e.g. "cuda (NVIDIA H100)" or "cpu (2 threads)"."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
