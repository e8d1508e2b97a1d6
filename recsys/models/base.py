"""The ``Recommender`` interface every model implements.

Grammar from scikit-learn (hyper-parameters in the constructor, fitted attributes
end in ``_``), shape from implicit/Cornac (batched ``score``, ``recommend``),
runtime options from LensKit (``fit(train, *, options)``). Inference never
mutates the model: one fitted model is shared between dashboard sessions.
"""

from __future__ import annotations

import inspect
import json
import pathlib
from dataclasses import dataclass
from typing import ClassVar, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from recsys import __version__
from recsys.data.dataset import Dataset
from recsys.training.options import FitOptions

# Users scored per batch: bounds memory at batch x n_items floats whatever the user count.
SCORE_BATCH_USERS = 1024


class NotFittedError(RuntimeError):
    """Raised when a model is used before ``fit`` (or ``load``)."""


@dataclass(frozen=True)
class Recommendations:
    """Top-k lists: parallel arrays, one row per (user, rank). Immutable."""

    user_idx: np.ndarray
    item_idx: np.ndarray
    rank: np.ndarray
    score: np.ndarray

    def __post_init__(self):
        for arr in (self.user_idx, self.item_idx, self.rank, self.score):
            arr.setflags(write=False)

    def __len__(self) -> int:
        return len(self.user_idx)

    def to_frame(self, data: Dataset | None = None) -> pd.DataFrame:
        """As a frame; with ``data``, raw ``user_id``/``item_id`` columns are added."""
        frame = pd.DataFrame({"user_idx": self.user_idx, "item_idx": self.item_idx,
                              "rank": self.rank, "score": self.score})
        if data is not None:
            frame.insert(0, "user_id", data.users.to_raw(self.user_idx))
            frame.insert(2, "item_id", data.items.to_raw(self.item_idx))
        return frame

    def item_matrix(self, k: int | None = None) -> np.ndarray:
        """Item indices as a (n_users, k) array in user order of appearance (-1 padded)."""
        users, first = np.unique(self.user_idx, return_index=True)
        users = users[np.argsort(first)]
        k = int(self.rank.max()) if k is None and len(self.rank) else (k or 0)
        out = np.full((len(users), k), -1, np.int64)
        row = pd.Index(users).get_indexer(self.user_idx)
        keep = self.rank <= k
        out[row[keep], self.rank[keep] - 1] = self.item_idx[keep]
        return out


class Recommender:
    """Base class. Subclasses set ``key`` and ``capabilities`` and implement
    ``_fit``, ``_score`` and the state hooks ``_get_state`` / ``_set_state``.

    Capabilities (strings): "similar_items", "embeddings", "exact_explain",
    "attention", "incremental", "context", "cold_start_items", "cold_start_users",
    "sequential", "gpu".
    """

    key: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()

    # ----- parameters (scikit-learn style) --------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def get_params(self) -> dict:
        """Hyper-parameters as given to the constructor (JSON-safe)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ----- fitting -----------------------------------------------------------
    def fit(self, train: Dataset, *, options: FitOptions | None = None) -> "Recommender":
        """Fit on ``train`` and return ``self``. The training history is kept for scoring."""
        options = options or FitOptions()
        if train.n_events == 0:
            raise ValueError("cannot fit on a dataset without events")
        torch.manual_seed(options.seed)
        self.n_users_, self.n_items_ = train.n_users, train.n_items
        self.history_ = train.matrix()
        try:
            self._fit(train, options)
        except BaseException:
            del self.history_  # a failed or cancelled fit must not leave a model that looks fitted
            raise
        return self

    def _fit(self, train: Dataset, options: FitOptions) -> None:
        raise NotImplementedError

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "history_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    # ----- scoring ---------------------------------------------------------
    def score(self, user_idx, item_idx=None, *, context: dict | None = None) -> np.ndarray:
        """Scores of ``item_idx`` (default: all items) for each of ``user_idx``.

        Returns a float32 array of shape (len(user_idx), n_items or len(item_idx)).
        Higher is better; scores are comparable within a user only.
        """
        self._check_fitted()
        users = np.atleast_1d(np.asarray(user_idx, dtype=np.int64))
        scores = np.asarray(self._score(users, context=context), dtype=np.float32)
        if item_idx is not None:
            scores = scores[:, np.asarray(item_idx, dtype=np.int64)]
        return scores

    def _score(self, users: np.ndarray, *, context: dict | None = None) -> np.ndarray:
        raise NotImplementedError

    def recommend(self, users: Iterable[int], k: int = 10, *, exclude_seen: bool = True,
                  candidates: np.ndarray | None = None, exclude: sp.csr_matrix | None = None,
                  context: dict | None = None, batch_size: int = SCORE_BATCH_USERS) -> Recommendations:
        """Top-``k`` items for each user, scored in batches (never all users at once).

        ``exclude_seen`` removes the user's training history; ``exclude`` (a users x
        items matrix) removes more (e.g. validation items); ``candidates`` restricts
        the catalog to those item indices.
        """
        self._check_fitted()
        users = np.asarray(list(users) if not isinstance(users, np.ndarray) else users, dtype=np.int64)
        parts = [self._recommend_batch(users[i:i + batch_size], k, exclude_seen, candidates, exclude, context)
                 for i in range(0, len(users), batch_size)]
        if not parts:
            empty = np.zeros(0, np.int64)
            return Recommendations(empty, empty.copy(), empty.copy(), np.zeros(0, np.float32))
        return Recommendations(*(np.concatenate([p[j] for p in parts]) for j in range(4)))

    def _recommend_batch(self, users, k, exclude_seen, candidates, exclude, context):
        scores = self.score(users, context=context).astype(np.float32, copy=True)
        masked = np.zeros_like(scores, dtype=bool)
        if exclude_seen:
            masked |= _rows_to_mask(self.history_, users)
        if exclude is not None:
            masked |= _rows_to_mask(exclude, users)
        if candidates is not None:
            allowed = np.zeros(scores.shape[1], bool)
            allowed[np.asarray(candidates, dtype=np.int64)] = True
            masked |= ~allowed
        scores[masked] = -np.inf
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < scores.shape[1] else \
            np.tile(np.arange(scores.shape[1]), (len(users), 1))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top, top_scores = np.take_along_axis(top, order, 1), np.take_along_axis(top_scores, order, 1)
        valid = np.isfinite(top_scores)
        ranks = np.cumsum(valid, axis=1)
        return (np.repeat(users, k).reshape(len(users), k)[valid], top[valid],
                ranks[valid].astype(np.int64), top_scores[valid].astype(np.float32))

    # ----- persistence (no pickle: JSON config + npz arrays + torch state dict) ----
    def save(self, directory: str | pathlib.Path) -> pathlib.Path:
        """Write ``config.json``, ``arrays.npz`` and (torch models) ``weights.pt``."""
        self._check_fitted()
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state_arrays, state_dict = self._get_state()
        arrays: dict[str, np.ndarray] = {}
        for name, value in {**state_arrays, "history_": self.history_}.items():
            if sp.issparse(value):
                arrays.update(_sparse_to_arrays(name, value))
            else:
                arrays[name] = np.asarray(value)
        config = {"key": self.key, "params": self.get_params(), "version": __version__,
                  "n_users": self.n_users_, "n_items": self.n_items_,
                  "sparse": sorted({k.rsplit("__", 1)[0] for k in arrays if "__" in k})}
        np.savez(directory / "arrays.npz", **arrays)
        if state_dict is not None:
            torch.save(state_dict, directory / "weights.pt")
        (directory / "config.json").write_text(json.dumps(config, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | pathlib.Path) -> "Recommender":
        """Rebuild a fitted model saved by ``save`` (``weights_only`` torch load)."""
        directory = pathlib.Path(directory)
        config = json.loads((directory / "config.json").read_text())
        if cls.key and config["key"] != cls.key:
            raise ValueError(f"saved model is {config['key']!r}, not {cls.key!r}")
        model = cls(**config["params"])
        with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
            raw = {name: npz[name] for name in npz.files}
        arrays = {k: v for k, v in raw.items() if "__" not in k}
        for name in config.get("sparse", []):
            arrays[name] = _arrays_to_sparse(name, raw)
        weights = directory / "weights.pt"
        state_dict = torch.load(weights, map_location="cpu", weights_only=True) if weights.exists() else None
        model.n_users_, model.n_items_ = config["n_users"], config["n_items"]
        model.history_ = arrays.pop("history_")
        model._set_state(arrays, state_dict)
        return model

    def _get_state(self) -> tuple[dict[str, np.ndarray | sp.csr_matrix], dict | None]:
        """Fitted arrays (numpy or CSR) and an optional torch state dict."""
        raise NotImplementedError

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        raise NotImplementedError


def _rows_to_mask(matrix: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    rows = matrix[users]
    mask = np.zeros(rows.shape, dtype=bool)
    r, c = rows.nonzero()
    mask[r, c] = True
    return mask


def _sparse_to_arrays(name: str, m: sp.spmatrix) -> dict[str, np.ndarray]:
    m = sp.csr_matrix(m)
    return {f"{name}__data": m.data, f"{name}__indices": m.indices,
            f"{name}__indptr": m.indptr, f"{name}__shape": np.asarray(m.shape, np.int64)}


def _arrays_to_sparse(name: str, raw: dict[str, np.ndarray]) -> sp.csr_matrix:
    return sp.csr_matrix((raw[f"{name}__data"], raw[f"{name}__indices"], raw[f"{name}__indptr"]),
                         shape=tuple(raw[f"{name}__shape"]))
