"""Non-personalised baselines: overall popularity and time-decayed (trending) popularity."""

from __future__ import annotations

import numpy as np

from recsys.data.dataset import SECONDS_PER_DAY, Dataset
from recsys.models.base import Recommender
from recsys.training.options import FitOptions

POPULARITY_COUNTS = ("users", "weighted")


class _ItemScoreModel(Recommender):
    """One score per item, the same for every user."""

    def _score(self, users: np.ndarray, *, context: dict | None = None) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), len(self.item_scores_))).copy()

    def _get_state(self):
        return {"item_scores_": self.item_scores_}, None

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        self.item_scores_ = np.asarray(arrays["item_scores_"], dtype=np.float32)


class Popularity(_ItemScoreModel):
    """Most popular items first, the same list for everyone (minus what a user has seen).

    The baseline every personalised model must beat, and the fallback for users
    without history.

    Parameters
    ----------
    count : {"users", "weighted"}, default "users"
        ``users``: number of distinct users who touched the item. ``weighted``:
        sum of event-type weights (purchase > add_to_cart > click > view, see
        ``recsys.data.dataset.DEFAULT_EVENT_WEIGHTS``), so bought items outrank
        merely viewed ones.

    Attributes
    ----------
    item_scores_ : ndarray of shape (n_items,), float32
        The count of each item.

    Notes
    -----
    O(n_events) to fit; scoring copies one vector per user.
    """

    key = "popularity"
    capabilities = frozenset()

    def __init__(self, count: str = "users"):
        self.count = count

    def _fit(self, train: Dataset, options: FitOptions) -> None:
        if self.count not in POPULARITY_COUNTS:
            raise ValueError(f"count must be one of {POPULARITY_COUNTS}, got {self.count!r}")
        matrix = train.matrix(binary=self.count == "users")
        self.item_scores_ = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()


class Trending(_ItemScoreModel):
    """Time-decayed popularity: what is popular *now*.

    Each event counts ``0.5 ** (age_days / half_life_days)``, its age measured
    from the latest event in the training data, so an event one half-life old
    counts half as much as one from today.

    Parameters
    ----------
    half_life_days : float in (0, 3650], default 7.0
        Shorter follows trends faster; very long approaches plain event counts.
    weighted : bool, default False
        Multiply each event by its event-type weight (purchase > view).

    Attributes
    ----------
    item_scores_ : ndarray of shape (n_items,), float32
        Decayed event count of each item.
    reference_time_ : int
        Unix seconds the ages are measured from (the latest training event).

    Notes
    -----
    O(n_events). Needs timestamps. Counts events, not distinct users: repeated
    recent interest is the signal a trend is made of.
    """

    key = "trending"
    capabilities = frozenset()

    def __init__(self, half_life_days: float = 7.0, weighted: bool = False):
        self.half_life_days = half_life_days
        self.weighted = weighted

    def _fit(self, train: Dataset, options: FitOptions) -> None:
        if not train.has_timestamps:
            raise ValueError("Trending needs timestamps; this dataset has none (use Popularity)")
        if not self.half_life_days > 0:
            raise ValueError(f"half_life_days must be > 0, got {self.half_life_days!r}")
        frame = train.frame
        ts = frame["timestamp"].to_numpy(np.int64)
        self.reference_time_ = int(ts.max())
        age_days = (self.reference_time_ - ts) / SECONDS_PER_DAY
        weights = np.power(0.5, age_days / float(self.half_life_days))
        if self.weighted:
            weights = weights * frame["weight"].to_numpy(np.float64)
        scores = np.bincount(frame["item_idx"].to_numpy(), weights=weights, minlength=train.n_items)
        self.item_scores_ = scores.astype(np.float32)

    def _get_state(self):
        arrays, _ = super()._get_state()
        return {**arrays, "reference_time_": np.asarray(self.reference_time_, np.int64)}, None

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        super()._set_state(arrays, state_dict)
        self.reference_time_ = int(arrays["reference_time_"])
