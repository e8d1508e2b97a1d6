"""Half-life weighting of events, and a summary of what it does to a dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import SECONDS_PER_DAY, Dataset


def decay_weights(timestamps: np.ndarray, half_life_days: float, now: int | None = None) -> np.ndarray:
    """``0.5 ** (age / half_life)`` per event, age in days measured from ``now`` (default: latest)."""
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be > 0, got {half_life_days!r}")
    ts = np.asarray(timestamps, np.int64)
    ref = int(ts.max()) if now is None else int(now)
    return np.power(0.5, np.maximum(ref - ts, 0) / SECONDS_PER_DAY / half_life_days)


def decayed_matrix(data: Dataset, half_life_days: float, now: int | None = None) -> sp.csr_matrix:
    """Users x items event weights with the half-life applied (for models that take weights)."""
    return data.matrix(half_life_days=half_life_days, now=now)


@dataclass(frozen=True)
class DecaySummary:
    """How much of the total weight each recent window keeps after decay."""

    half_life_days: float
    total_weight_share: float      # decayed total / undecayed total
    share_last_7_days: float       # of the decayed total, what the last week carries
    share_last_30_days: float
    effective_days: float          # the window an undecayed model would need for the same total

    def as_dict(self) -> dict:
        return {k: round(float(v), 4) for k, v in self.__dict__.items()}


def summarize_decay(data: Dataset, half_life_days: float, now: int | None = None) -> DecaySummary:
    if not data.has_timestamps or not data.n_events:
        raise ValueError("decay needs timestamped events")
    ts = data.frame["timestamp"].to_numpy(np.int64)
    w = data.frame["weight"].to_numpy(np.float64)
    ref = int(ts.max()) if now is None else int(now)
    d = w * decay_weights(ts, half_life_days, ref)
    age = (ref - ts) / SECONDS_PER_DAY
    total = d.sum()
    span = max(age.max(), 1e-9)
    return DecaySummary(float(half_life_days), float(total / w.sum()), float(d[age <= 7].sum() / total),
                        float(d[age <= 30].sum() / total), float(span * total / w.sum()))
