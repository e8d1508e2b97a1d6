"""The immutable, index-based view of a dataset that models train on.

Raw ids stay strings (``user_id``, ``item_id``); models see contiguous indices
(``user_idx``, ``item_idx``). A split's train and test parts share one pair of
id maps, so nothing is remapped downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

# Confidence weight of each event type (the funnel: a purchase says more than a view).
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "impression": 0.5,
    "click": 2.0,
    "rating": 1.0,
    "like": 3.0,
    "share": 3.0,
    "add_to_cart": 4.0,
    "wishlist": 3.0,
    "purchase": 8.0,
}

SECONDS_PER_DAY = 86_400.0


class IdMap:
    """A bijection between raw string ids and contiguous indices ``0..n-1``."""

    def __init__(self, ids: Iterable[str]):
        self.ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=object)
        self._index = pd.Index(self.ids)
        if not self._index.is_unique:
            raise ValueError("IdMap ids must be unique")

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, raw_ids) -> np.ndarray:
        """Indices of ``raw_ids``; -1 where an id is unknown."""
        return self._index.get_indexer(pd.Index(np.asarray(raw_ids, dtype=object))).astype(np.int64)

    def to_raw(self, idx) -> np.ndarray:
        return self.ids[np.asarray(idx, dtype=np.int64)]

    def __eq__(self, other) -> bool:
        return isinstance(other, IdMap) and np.array_equal(self.ids, other.ids)

    __hash__ = None  # mutable-looking; compare by content only


@dataclass(frozen=True)
class Dataset:
    """Interactions with contiguous indices plus optional item and user feature tables.

    Attributes
    ----------
    users, items : IdMap
        Raw id maps. ``items`` covers catalog items without events too, so content
        models can recommend brand-new items.
    frame : pandas.DataFrame
        One row per event: ``user_idx``, ``item_idx`` (int64), ``weight`` (float32),
        ``timestamp`` (int64 Unix seconds, only when the data has time), plus
        ``event_type``, ``value``, ``session_id`` and context columns when present.
        Sorted by (timestamp, original order) when timestamps exist.
    item_features, user_features : pandas.DataFrame or None
        Canonical items / users tables re-indexed by ``item_idx`` / ``user_idx``
        (rows for ids without a catalog entry are NA).
    """

    users: IdMap
    items: IdMap
    frame: pd.DataFrame
    item_features: pd.DataFrame | None = None
    user_features: pd.DataFrame | None = None
    event_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))

    # ----- construction -------------------------------------------------
    @classmethod
    def from_tables(
        cls,
        interactions: pd.DataFrame,
        items: pd.DataFrame | None = None,
        users: pd.DataFrame | None = None,
        *,
        event_weights: Mapping[str, float] | None = None,
    ) -> "Dataset":
        """Build from canonical tables (see ``recsys.data.schema``)."""
        weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
        user_ids = pd.unique(interactions["user_id"].astype(str))
        item_ids = pd.unique(interactions["item_id"].astype(str))
        if users is not None and "user_id" in users:
            user_ids = pd.unique(np.concatenate([user_ids, users["user_id"].astype(str).to_numpy(dtype=object)]))
        if items is not None and "item_id" in items:
            item_ids = pd.unique(np.concatenate([item_ids, items["item_id"].astype(str).to_numpy(dtype=object)]))
        user_map, item_map = IdMap(np.asarray(user_ids, dtype=object)), IdMap(np.asarray(item_ids, dtype=object))
        frame = _index_frame(interactions, user_map, item_map, weights)
        return cls(
            users=user_map,
            items=item_map,
            frame=frame,
            item_features=_align_features(items, "item_id", item_map),
            user_features=_align_features(users, "user_id", user_map),
            event_weights=weights,
        )

    def with_frame(self, frame: pd.DataFrame) -> "Dataset":
        """The same id maps and features with another set of events (for splits)."""
        return Dataset(self.users, self.items, frame.reset_index(drop=True), self.item_features,
                       self.user_features, self.event_weights)

    def subset(self, mask: np.ndarray) -> "Dataset":
        return self.with_frame(self.frame.loc[np.asarray(mask, dtype=bool)])

    def concat(self, other: "Dataset") -> "Dataset":
        """Events of both (same id maps), time-ordered when there are timestamps."""
        if self.users != other.users or self.items != other.items:
            raise ValueError("datasets must share id maps to be concatenated")
        frame = pd.concat([self.frame, other.frame], ignore_index=True)
        if self.has_timestamps:
            frame = frame.sort_values("timestamp", kind="stable")
        return self.with_frame(frame)

    # ----- properties ---------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_events(self) -> int:
        return len(self.frame)

    @property
    def has_timestamps(self) -> bool:
        return "timestamp" in self.frame.columns

    @property
    def context_columns(self) -> list[str]:
        core = {"user_idx", "item_idx", "weight", "timestamp", "event_type", "value", "session_id"}
        return [c for c in self.frame.columns if c not in core]

    def active_users(self) -> np.ndarray:
        """Indices of users with at least one event, ascending."""
        # bincount, not np.unique: the latter is much slower on large int arrays in numpy 2.4
        return np.flatnonzero(np.bincount(self.frame["user_idx"].to_numpy(), minlength=self.n_users))

    # ----- matrices and sequences --------------------------------------
    def matrix(self, *, binary: bool = False, half_life_days: float | None = None,
               now: int | None = None) -> sp.csr_matrix:
        """Users x items CSR matrix of summed event weights (float32).

        ``half_life_days`` down-weights old events by ``0.5 ** (age / half_life)``
        measured from ``now`` (default: the latest event).
        """
        f = self.frame
        data = np.ones(len(f), np.float32) if binary else f["weight"].to_numpy(np.float32)
        if half_life_days and self.has_timestamps and len(f):
            ts = f["timestamp"].to_numpy(np.int64)
            ref = int(ts.max()) if now is None else int(now)
            age_days = np.maximum(ref - ts, 0) / SECONDS_PER_DAY
            data = data * np.power(0.5, age_days / half_life_days).astype(np.float32)
        m = sp.csr_matrix(
            (data, (f["user_idx"].to_numpy(), f["item_idx"].to_numpy())),
            shape=(self.n_users, self.n_items), dtype=np.float32,
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """Time-ordered item sequence of every user in CSR form ``(indptr, items)``.

        The items of user ``u`` are ``items[indptr[u]:indptr[u+1]]``, oldest first
        (events keep their order within the frame when timestamps tie or are absent).
        """
        f = self.frame
        users = f["user_idx"].to_numpy()
        order = np.argsort(users, kind="stable")
        counts = np.bincount(users, minlength=self.n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return indptr, f["item_idx"].to_numpy()[order].astype(np.int64)

    def item_popularity(self) -> np.ndarray:
        """Number of distinct users per item (float64, length n_items)."""
        return np.asarray(self.matrix(binary=True).sum(axis=0)).ravel().astype(np.float64)


def _index_frame(interactions: pd.DataFrame, users: IdMap, items: IdMap,
                 weights: Mapping[str, float]) -> pd.DataFrame:
    out = pd.DataFrame({
        "user_idx": users.index_of(interactions["user_id"].astype(str).to_numpy(dtype=object)),
        "item_idx": items.index_of(interactions["item_id"].astype(str).to_numpy(dtype=object)),
    })
    if "event_type" in interactions:
        types = interactions["event_type"].astype(str).str.lower().to_numpy(dtype=object)
        out["weight"] = pd.Series(types).map(weights).fillna(1.0).to_numpy(np.float32)
    else:
        out["weight"] = np.ones(len(interactions), np.float32)
    if "timestamp" in interactions:
        out["timestamp"] = _to_unix_seconds(interactions["timestamp"])
    for col in interactions.columns:
        if col not in ("user_id", "item_id", "timestamp") and col not in out:
            out[col] = interactions[col].to_numpy()
    if "timestamp" in out:
        out = out.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return out


def _to_unix_seconds(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) is not None else values
        return ts.astype("datetime64[s]").astype(np.int64).to_numpy()
    return pd.to_numeric(values, errors="raise").astype(np.int64).to_numpy()


def _align_features(table: pd.DataFrame | None, id_col: str, idmap: IdMap) -> pd.DataFrame | None:
    if table is None or id_col not in table:
        return None
    t = table.drop_duplicates(id_col)
    t.index = t[id_col].astype(str).to_numpy(dtype=object)
    aligned = t.reindex(idmap.ids)
    aligned.index = pd.RangeIndex(len(idmap))
    return aligned
