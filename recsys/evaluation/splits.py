"""Train / validation / test splits that never leak the future.

Every split keeps the dataset's id maps, so a model fit on ``train`` scores the
items of ``test`` without remapping. Relevance is by item: a user's relevant
test items are the test items that are not in the user's train (+ valid)
history; users left with none are not evaluated.

Two cold-start protocols hold out whole customers (``user_cold``) or whole items
(``item_cold``); an item-cold split also restricts the ranking to its held-out
items (``Split.candidates``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.dataset import Dataset
from recsys.evaluation.metrics import unique_int

PROTOCOLS = ("leave_last_out", "temporal", "random", "user_cold", "item_cold")
COLD_PROTOCOLS = ("user_cold", "item_cold")
TIME_PROTOCOLS = ("leave_last_out", "temporal")


@dataclass(frozen=True)
class Split:
    """One split of a dataset into train, optional valid, and test events.

    Attributes
    ----------
    train, test : Dataset
        Events to fit on and events held out for the final evaluation.
    valid : Dataset or None
        Events held out for tuning and early stopping, carved from train the way
        test is carved from the whole.
    protocol : str
        One of ``PROTOCOLS``.
    params : dict
        The maker's arguments plus counts (held-out users, cold users dropped...).
    refit_with_valid : bool
        Whether the final model is fit on train + valid (``fit_data``).
    candidates : ndarray or None
        Item indices every list is ranked among (None: the whole catalog); the
        item-cold protocol ranks its held-out items only.
    """

    train: Dataset
    test: Dataset
    valid: Dataset | None
    protocol: str
    params: dict
    refit_with_valid: bool = True
    candidates: np.ndarray | None = None

    def __post_init__(self):
        for part in (self.test, self.valid):
            if part is not None and (part.users != self.train.users or part.items != self.train.items):
                raise ValueError("train, valid and test must share one pair of id maps")

    def fit_data(self) -> Dataset:
        """The events the final model is fit on: train, plus valid when the protocol refits."""
        if self.valid is None or not self.refit_with_valid:
            return self.train
        return self.train.concat(self.valid)

    def target(self, on: str = "test") -> Dataset:
        """The held-out events evaluated ``on`` "test" or "valid"."""
        _check_on(on)
        if on == "valid":
            if self.valid is None:
                raise ValueError("this split has no validation part")
            return self.valid
        return self.test

    def seen_for(self, on: str = "test") -> sp.csr_matrix:
        """Users x items (binary) excluded when scoring ``on``: train (+ valid for test)."""
        _check_on(on)
        seen = self.train.matrix(binary=True)
        if on == "test" and self.valid is not None:
            seen = seen + self.valid.matrix(binary=True)
            seen.data[:] = 1.0
        return seen.tocsr()

    def seen_for_test(self) -> sp.csr_matrix:
        """Users x items (binary): train + valid items, excluded when scoring test."""
        return self.seen_for("test")

    def relevant(self, on: str = "test") -> sp.csr_matrix:
        """Users x items (binary): held-out items not already seen by the user."""
        target = self.target(on).matrix(binary=True)
        seen = self.seen_for(on)
        out = (target - target.multiply(seen)).tocsr()
        out.eliminate_zeros()
        return out

    def eval_users(self, on: str = "test") -> np.ndarray:
        """Users with at least one relevant held-out item, ascending."""
        return np.flatnonzero(np.diff(self.relevant(on).indptr) > 0)


def _check_on(on: str) -> None:
    if on not in ("test", "valid"):
        raise ValueError(f"on must be 'test' or 'valid', not {on!r}")


def _require_timestamps(data: Dataset, protocol: str) -> None:
    if not data.has_timestamps:
        raise ValueError(f"the {protocol!r} split needs event times, and this dataset has no "
                         "timestamps: use random")


def _keys(data: Dataset, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    return users.astype(np.int64) * np.int64(max(data.n_items, 1)) + items.astype(np.int64)


def _last_row_per_user(users: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row position of each user's last masked row (frame order = time order), ascending."""
    rows = np.flatnonzero(mask)
    by_user = rows[np.argsort(users[rows], kind="stable")]
    u = users[by_user]
    last = np.ones(len(u), bool)
    last[:-1] = u[1:] != u[:-1]
    return np.sort(by_user[last])


def _member(values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``np.isin`` by binary search (numpy 2.4's sort-based isin calls the slow ``np.unique``)."""
    targets = np.sort(targets)
    if len(targets) == 0:
        return np.zeros(len(values), bool)
    pos = np.minimum(np.searchsorted(targets, values), len(targets) - 1)
    return targets[pos] == values


def _count_users(frame_users: np.ndarray) -> int:
    return int(np.count_nonzero(np.bincount(frame_users))) if len(frame_users) else 0


# ----- leave-last-out --------------------------------------------------------

def leave_last_out(data: Dataset, *, with_valid: bool = True, min_events: int = 3,
                   refit_with_valid: bool = True) -> Split:
    """Hold out each user's last item for test (and the one before for valid).

    The test item is the item of the user's last event; every event of that user
    on that item leaves train, so the item is not "seen". The test part keeps the
    last event only (earlier events on the held-out item are dropped, counted in
    ``params["n_dropped_events"]``), so each user's train events all precede the
    held-out one. Validation is carved the same way from what remains.

    Parameters
    ----------
    data : Dataset
        Must have timestamps; ties keep the frame's (source) order.
    with_valid : bool
        Also hold out the second-to-last item as validation.
    min_events : int
        Users with fewer distinct items are kept whole in train and not evaluated
        (at least 3 with validation, 2 without, so train keeps an item).
    refit_with_valid : bool
        ``fit_data`` is train + valid (the benchmark's leave-last-out rule).
    """
    _require_timestamps(data, "leave_last_out")
    floor = 3 if with_valid else 2
    if min_events < floor:
        raise ValueError(f"min_events must be at least {floor} so every held-out user keeps a train item")
    f = data.frame
    users, items = f["user_idx"].to_numpy(), f["item_idx"].to_numpy()
    keys = _keys(data, users, items)
    n_distinct = np.bincount(unique_int(keys) // max(data.n_items, 1), minlength=data.n_users)
    eligible = n_distinct[users] >= min_events
    if not eligible.any():
        raise ValueError(f"no user has {min_events} distinct items to hold one out")
    remaining = eligible.copy()
    held: dict[str, np.ndarray] = {}
    dropped = 0
    for part in ("test", "valid") if with_valid else ("test",):
        last = _last_row_per_user(users, remaining)
        on_item = _member(keys, keys[last]) & remaining
        dropped += int(on_item.sum()) - len(last)
        held[part] = last
        remaining &= ~on_item
    train_mask = ~eligible | remaining
    test = data.with_frame(f.iloc[held["test"]])
    valid = data.with_frame(f.iloc[held["valid"]]) if with_valid else None
    params = {"with_valid": with_valid, "min_events": min_events,
              "n_test_users": len(held["test"]),
              "n_valid_users": len(held.get("valid", ())),
              "n_users_too_short": int(((n_distinct > 0) & (n_distinct < min_events)).sum()),
              "n_dropped_events": dropped}
    return Split(data.subset(train_mask), test, valid, "leave_last_out", params, refit_with_valid)


# ----- temporal --------------------------------------------------------------

def _quantile_cutoff(ts_sorted: np.ndarray, fraction: float) -> int:
    """The time from which the last ``fraction`` of events starts (ties go after it)."""
    n_after = int(round(fraction * len(ts_sorted)))
    if n_after <= 0 or n_after >= len(ts_sorted):
        raise ValueError(f"a fraction of {fraction} leaves an empty part of {len(ts_sorted)} events")
    return int(ts_sorted[len(ts_sorted) - n_after])


def _warm_part(data: Dataset, part: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Keep the rows of ``part`` whose user has ``history`` rows; count what is dropped."""
    users = data.frame["user_idx"].to_numpy()
    warm_users = np.zeros(data.n_users, bool)
    warm_users[users[history]] = True
    cold = part & ~warm_users[users]
    return part & ~cold, _count_users(users[cold]), int(cold.sum())


def temporal_split(data: Dataset, *, test_fraction: float = 0.1, valid_fraction: float = 0.0,
                   cutoff: int | None = None, refit_with_valid: bool = True) -> Split:
    """Split at a global time cut-off: everything in train happens before test.

    Test holds the events at or after ``cutoff`` (default: the time from which
    the last ``test_fraction`` of events start). Validation is carved the same
    way from train's end: the last ``valid_fraction`` of the pre-cut-off events.
    Only users with earlier history are held out (train history for valid,
    train + valid for test); cold users' held-out events are dropped and counted
    in ``params``.

    Parameters
    ----------
    data : Dataset
        Must have timestamps (int64 Unix seconds).
    test_fraction : float in (0, 1)
        Share of all events after the test cut-off; ignored when ``cutoff`` is given.
    valid_fraction : float in [0, 1)
        Share of the pre-cut-off events used for validation (0: no validation).
    cutoff : int, optional
        Explicit Unix-seconds test cut-off.
    refit_with_valid : bool
        ``fit_data`` is train + valid.
    """
    _require_timestamps(data, "temporal")
    if data.n_events == 0:
        raise ValueError("cannot split a dataset without events")
    f = data.frame
    ts = f["timestamp"].to_numpy(np.int64)
    ts_sorted = np.sort(ts)
    if cutoff is None:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError("test_fraction must be in (0, 1)")
        cutoff = _quantile_cutoff(ts_sorted, test_fraction)
    else:
        test_fraction = None
    cutoff = int(cutoff)
    before = ts < cutoff
    if not before.any() or before.all():
        raise ValueError(f"cut-off {cutoff} leaves train or test empty "
                         f"(events span {ts_sorted[0]}..{ts_sorted[-1]})")
    params: dict = {"test_fraction": test_fraction, "valid_fraction": valid_fraction, "cutoff": cutoff}
    valid_mask = None
    train_mask = before
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError("valid_fraction must be in [0, 1)")
    if valid_fraction:
        valid_cutoff = _quantile_cutoff(np.sort(ts[before]), valid_fraction)
        train_mask = ts < valid_cutoff
        valid_mask, n_cold_u, n_cold_e = _warm_part(data, before & ~train_mask, train_mask)
        params.update(valid_cutoff=valid_cutoff, n_cold_valid_users=n_cold_u, n_cold_valid_events=n_cold_e)
    history = train_mask if valid_mask is None else train_mask | valid_mask
    test_mask, n_cold_u, n_cold_e = _warm_part(data, ~before, history)
    params.update(n_cold_test_users=n_cold_u, n_cold_test_events=n_cold_e)
    valid = data.subset(valid_mask) if valid_mask is not None else None
    split = Split(data.subset(train_mask), data.subset(test_mask), valid, "temporal", params,
                  refit_with_valid)
    params["n_test_users"] = len(split.eval_users("test"))
    if valid is not None:
        params["n_valid_users"] = len(split.eval_users("valid"))
    return split


# ----- random ----------------------------------------------------------------

def recbole_split_sizes(n: np.ndarray, ratios: tuple[float, float, float]) -> np.ndarray:
    """Per-group (train, valid, test) sizes with RecBole's rounding, vectorised.

    Held-out parts get ``floor(ratio * n)``; a part whose share is below one item
    still gets one while train keeps more than one (``Dataset._calcu_split_ids``).
    """
    n = np.asarray(n, dtype=np.int64)
    cnt = np.stack([np.zeros_like(n)] + [np.floor(r * n).astype(np.int64) for r in ratios[1:]], axis=1)
    cnt[:, 0] = n - cnt[:, 1:].sum(axis=1)
    active = np.ones(len(n), bool)
    for i in range(1, len(ratios)):
        active &= cnt[:, 0] > 1
        share = ratios[-i] * n
        bump = active & (share > 0) & (share < 1)
        cnt[bump, -i] += 1
        cnt[bump, 0] -= 1
    return cnt


def random_holdout(data: Dataset, *, test_fraction: float = 0.2, valid_fraction: float = 0.0,
                   seed: int = 0, refit_with_valid: bool = False) -> Split:
    """Hold out a random share of each user's distinct items (RecBole's random protocol).

    Each user's distinct items are shuffled (seeded) and cut with RecBole's
    rounding: valid and test get ``floor(fraction * n)`` items, train the rest.
    All events of a (user, item) pair go to the same part, so a held-out item is
    never also a train item.

    Parameters
    ----------
    test_fraction, valid_fraction : float
        Shares of each user's distinct items; their sum must stay below 1.
    seed : int
        Seed of the shuffle; the split is a function of (data, fractions, seed).
    refit_with_valid : bool
        RecBole fits on train only (default); True fits on train + valid.
    """
    if not 0.0 < test_fraction < 1.0 or not 0.0 <= valid_fraction < 1.0 \
            or test_fraction + valid_fraction >= 1.0:
        raise ValueError("need 0 < test_fraction, 0 <= valid_fraction and test + valid < 1")
    f = data.frame
    users, items = f["user_idx"].to_numpy(), f["item_idx"].to_numpy()
    keys = _keys(data, users, items)
    pairs, inverse = unique_int(keys, return_inverse=True)
    pair_user = pairs // max(data.n_items, 1)
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(pairs)), pair_user))
    counts = np.bincount(pair_user, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.empty(len(pairs), np.int64)
    position[order] = np.arange(len(pairs)) - starts[pair_user[order]]
    sizes = recbole_split_sizes(counts, (1.0 - test_fraction - valid_fraction, valid_fraction, test_fraction))
    n_train, n_valid = sizes[pair_user, 0], sizes[pair_user, 1]
    part = np.where(position < n_train, 0, np.where(position < n_train + n_valid, 1, 2))[inverse]
    valid = data.subset(part == 1) if valid_fraction else None
    params = {"test_fraction": test_fraction, "valid_fraction": valid_fraction, "seed": seed}
    split = Split(data.subset(part == 0), data.subset(part == 2), valid, "random", params, refit_with_valid)
    params["n_test_users"] = len(split.eval_users("test"))
    if valid is not None:
        params["n_valid_users"] = len(split.eval_users("valid"))
    return split


# ----- cold start ------------------------------------------------------------

def _seeded_share(candidates: np.ndarray, fraction: float, seed: int, what: str) -> np.ndarray:
    """A seeded random ``fraction`` of ``candidates`` (at least one, never all), sorted."""
    if not 0.0 < fraction < 1.0:
        raise ValueError("test_fraction must be in (0, 1)")
    if len(candidates) < 2:
        raise ValueError(f"need at least two {what} with events to hold some out")
    n = min(len(candidates) - 1, max(1, int(round(fraction * len(candidates)))))
    return np.sort(np.random.default_rng(seed).choice(candidates, n, replace=False))


def user_cold_split(data: Dataset, *, test_fraction: float = 0.2, seed: int = 0, onboarding: int = 0) -> Split:
    """Hold out a seeded random share of the customers with events, entirely.

    The held-out customers' events are the test set; a model fit on ``train`` knows
    them only by their attributes (the customers table stays whole). With
    ``onboarding = n > 0`` each held-out customer's first ``n`` distinct items (in
    time order; their events on them) stay in train, as if picked at sign-up; those
    items are then seen, not relevant, and a customer with no other item is not
    evaluated.

    Parameters
    ----------
    test_fraction : float in (0, 1)
        Share of the customers with events to hold out.
    seed : int
        Seed of the draw; the split is a function of (data, test_fraction, seed, onboarding).
    onboarding : int >= 0
        Items per held-out customer revealed in train (0: attributes only).
    """
    if int(onboarding) < 0:
        raise ValueError("onboarding must be 0 or more items")
    f = data.frame
    users, items = f["user_idx"].to_numpy(), f["item_idx"].to_numpy()
    held = _seeded_share(np.flatnonzero(np.bincount(users, minlength=data.n_users)), test_fraction, seed,
                         "customers")
    in_test = _member(users, held)
    revealed = np.zeros(len(f), bool)
    if onboarding:
        rows = np.flatnonzero(in_test)  # frame order is time order
        keys = _keys(data, users[rows], items[rows])
        _, first = np.unique(keys, return_index=True)  # each (customer, item) pair's first event
        first = np.sort(first)
        rank = pd.Series(users[rows][first]).groupby(users[rows][first]).cumcount().to_numpy()
        picked = keys[first][rank < int(onboarding)]
        revealed[rows] = _member(keys, picked)
    params = {"test_fraction": test_fraction, "seed": seed, "onboarding": int(onboarding),
              "n_cold_users": int(len(held))}
    split = Split(data.subset(~in_test | revealed), data.subset(in_test & ~revealed), None, "user_cold", params,
                  False)
    params["n_test_users"] = len(split.eval_users("test"))
    return split


def item_cold_split(data: Dataset, *, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Hold out a seeded random share of the items with events, entirely.

    Every event on a held-out item leaves train. Test keeps those events of
    customers with train history (the others are dropped and counted: they are
    cold too). Lists are ranked among the held-out items only (``candidates``):
    over the whole catalog every warm item carries collaborative signal that no
    cold item has, so a model's score would mostly say how far it lifts unknown
    items, not whether it can tell which new item a customer wants; among cold
    items popularity has nothing to go on and is the chance-level baseline.

    Parameters
    ----------
    test_fraction : float in (0, 1)
        Share of the items with events to hold out.
    seed : int
        Seed of the draw.
    """
    f = data.frame
    users, items = f["user_idx"].to_numpy(), f["item_idx"].to_numpy()
    held = _seeded_share(np.flatnonzero(np.bincount(items, minlength=data.n_items)), test_fraction, seed, "items")
    on_cold = _member(items, held)
    test_mask, n_cold_u, n_cold_e = _warm_part(data, on_cold, ~on_cold)
    params = {"test_fraction": test_fraction, "seed": seed, "n_cold_items": int(len(held)),
              "n_cold_test_users": n_cold_u, "n_cold_test_events": n_cold_e}
    split = Split(data.subset(~on_cold), data.subset(test_mask), None, "item_cold", params, False,
                  candidates=held)
    params["n_test_users"] = len(split.eval_users("test"))
    return split


_MAKERS: dict[str, Callable[..., Split]] = {
    "leave_last_out": leave_last_out,
    "temporal": temporal_split,
    "random": random_holdout,
    "user_cold": user_cold_split,
    "item_cold": item_cold_split,
}


def make_split(data: Dataset, protocol: str, **params) -> Split:
    """Split ``data`` with the named protocol (one of ``PROTOCOLS``; '-' reads as '_')."""
    key = protocol.strip().lower().replace("-", "_")
    if key not in _MAKERS:
        raise ValueError(f"unknown split protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if key in TIME_PROTOCOLS:
        _require_timestamps(data, key)
    return _MAKERS[key](data, **params)
