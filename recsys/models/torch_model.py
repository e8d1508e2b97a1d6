"""Shared scaffolding for the deep models: one network, mini-batch epochs, early stopping.

A ``TorchRecommender`` subclass supplies four things: ``_build_network(train)``
(an ``nn.Module`` whose shape is fully described by ``_network_config()``, a
JSON-safe dict saved with the weights), ``_prepare(train, device)`` (tensors the
epochs need), ``_train_epoch(epoch, optimizer, options)`` (returns the mean loss)
and ``_score_tensor(users)`` (a batch of users x all items, on the device).
Everything else is here: seeding, device choice, the Adam optimiser, mixed
precision on CUDA, validation NDCG for early stopping, best-epoch snapshots,
progress events, and save/load through a torch state dict (``weights_only``).
"""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import numpy as np
import torch

from recsys.data.dataset import Dataset
from recsys.models.base import Recommender
from recsys.models.validation import RankingValidator
from recsys.training.device import resolve_device
from recsys.training.loop import LoopResult, run_epochs
from recsys.training.options import FitOptions

# Check for cancel every this many mini-batches (an epoch can take minutes on big data).
CANCEL_EVERY_BATCHES = 50


class TorchRecommender(Recommender):
    """Base class of the torch models (see the module docstring for the hooks).

    Subclasses must keep these hyper-parameter names, used here: ``epochs``,
    ``batch_size``, ``learning_rate``, ``weight_decay``, ``patience``.
    """

    network_: torch.nn.Module
    #: Score users in batches of this size inside ``_score`` (bounds device memory).
    score_batch = 1024

    # ----- hooks -------------------------------------------------------------
    def _build_network(self, train: Dataset) -> torch.nn.Module:
        raise NotImplementedError

    def _network_config(self) -> dict:
        """JSON-safe description of the network's shape, enough to rebuild it in ``load``."""
        raise NotImplementedError

    def _network_from_config(self, config: dict) -> torch.nn.Module:
        raise NotImplementedError

    def _prepare(self, train: Dataset, device: torch.device, options: FitOptions) -> None:
        """Build the tensors the epochs iterate over (kept on ``self``, not saved)."""

    def _train_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, options: FitOptions) -> float:
        raise NotImplementedError

    def _score_tensor(self, users: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """Fitted numpy arrays besides the weights (for example user histories)."""
        return {}

    def _set_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what ``_extra_arrays`` saved."""

    # ----- fit ----------------------------------------------------------------
    def _fit(self, train: Dataset, options: FitOptions) -> None:
        self.device_ = resolve_device(options.device)
        torch.manual_seed(int(options.seed))
        self.network_ = self._build_network(train).to(self.device_)
        self._train(train, options, int(self.epochs))

    def fine_tune(self, data: Dataset, epochs: int, *, options: FitOptions | None = None) -> "TorchRecommender":
        """A copy trained ``epochs`` more epochs on ``data``, starting from this model's weights.

        ``data`` (typically old + new events) must use id maps the network is sized
        for. Adam restarts at ``learning_rate``; every weight may move. This model
        is left unchanged (the network is copied).
        """
        self._check_fitted()
        if int(epochs) < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        options = options or FitOptions(device=str(self.device_))
        out = copy.copy(self)
        out.network_ = copy.deepcopy(self.network_)
        out.n_users_, out.n_items_ = data.n_users, data.n_items
        out.history_ = data.matrix()
        out.to_device(options.device)
        torch.manual_seed(int(options.seed))
        out._train(data, options, int(epochs))
        return out

    def _train(self, train: Dataset, options: FitOptions, epochs: int) -> None:
        """Run ``epochs`` epochs of the hooks on ``self.network_`` (Adam, early stopping, snapshots)."""
        self.generator_ = torch.Generator(device=self.device_).manual_seed(int(options.seed))
        self.rng_ = np.random.default_rng(int(options.seed))
        self._prepare(train, self.device_, options)
        optimizer = torch.optim.Adam(self.network_.parameters(), lr=float(self.learning_rate),
                                     weight_decay=float(getattr(self, "weight_decay", 0.0)))

        def epoch(index: int) -> float:
            self.network_.train()
            return self._train_epoch(index, optimizer, options)

        validate = None
        if options.validation is not None:
            validator = RankingValidator(self.history_, options.validation, seed=options.seed)
            if len(validator):
                def validate() -> float:
                    self.network_.eval()
                    return validator.ndcg(self._score_numpy)

        def snapshot() -> dict:
            return {k: v.detach().clone() for k, v in self.network_.state_dict().items()}

        result: LoopResult = run_epochs(epoch, epochs, options, validate=validate,
                                        patience=int(getattr(self, "patience", 0)) or None,
                                        snapshot=snapshot, restore=self.network_.load_state_dict)
        self.network_.eval()
        self.loss_history_ = np.asarray([h["loss"] for h in result.history], np.float64)
        self.best_epoch_ = int(result.best_epoch)
        self._release_training_data()

    def _release_training_data(self) -> None:
        """Drop per-fit tensors; the fitted model keeps only what scoring needs."""
        for name in ("generator_", "rng_"):
            self.__dict__.pop(name, None)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast on CUDA (where it speeds up matmuls); a no-op on CPU."""
        if self.device_.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def batches(self, n: int, batch_size: int | None = None, *, shuffle: bool = True):
        """Index tensors of mini-batches over ``range(n)``, shuffled with the fit's generator."""
        size = int(batch_size or self.batch_size)
        order = (torch.randperm(n, generator=self.generator_, device=self.device_) if shuffle
                 else torch.arange(n, device=self.device_))
        for b, start in enumerate(range(0, n, size)):
            yield b, order[start:start + size]

    # ----- scoring ----------------------------------------------------------
    @torch.no_grad()
    def _score_numpy(self, users: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(users), self.score_batch):
            batch = torch.as_tensor(users[start:start + self.score_batch], dtype=torch.long, device=self.device_)
            out.append(self._score_tensor(batch).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_items_), np.float32)

    def _score(self, users: np.ndarray, *, context: dict | None = None) -> np.ndarray:
        self.network_.eval()
        return self._score_numpy(users)

    # ----- persistence ------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, Any], dict]:
        arrays = dict(self._extra_arrays())
        arrays["network_config_json"] = np.frombuffer(json.dumps(self._network_config()).encode(), np.uint8)
        arrays["loss_history_"] = self.loss_history_
        state = {k: v.detach().cpu() for k, v in self.network_.state_dict().items()}
        return arrays, state

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        config = json.loads(bytes(arrays.pop("network_config_json").astype(np.uint8)).decode())
        self.loss_history_ = arrays.pop("loss_history_")
        self.device_ = torch.device("cpu")
        self._set_extra_arrays(arrays)
        self.network_ = self._network_from_config(config)
        if state_dict is None:
            raise ValueError(f"{type(self).__name__} needs weights.pt to load")
        self.network_.load_state_dict(state_dict)
        self.network_.eval()

    def to_device(self, device: str | torch.device = "auto") -> "TorchRecommender":
        """Move a fitted (or loaded) model's network for scoring, e.g. onto a GPU."""
        self._check_fitted()
        self.device_ = resolve_device(device)
        self.network_.to(self.device_)
        return self
