"""Hybrid: one deep model over ids, customer and item attributes, item text and context."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from recsys.data.dataset import Dataset
from recsys.models.bpr import NegativeSampler
from recsys.models.features import FeatureEncoder
from recsys.models.nn.hybrid_net import HybridNet, SideTerms
from recsys.models.torch_model import CANCEL_EVERY_BATCHES, TorchRecommender
from recsys.training.options import FitOptions

_RESAMPLE_ROUNDS = 20
_MIN_HIDDEN = 8


class Hybrid(TorchRecommender):
    """DeepFM over named feature groups, trained on events with their context.

    Every event is a positive (user, item, context) row; each gets ``n_negatives``
    items the user never interacted with, *with the positive's context attached*, so
    the network must learn which items fit which context (video x evening x mobile),
    not only which users like which items. Five feature groups, each one tensor:

    - ``collaborative``: learned user id and item id embeddings;
    - ``customer``: the user's categorical attributes (age group, country, tier...;
      numbers in quantile buckets; e-mail, phone, names and dates are never used);
    - ``item``: the item's attributes (category, content type, brand, price bucket)
      and its ``|``-separated tags (mean of tag embeddings);
    - ``text``: title + description as TF-IDF -> truncated SVD (``text_dim``), fixed;
    - ``context``: the event's device, channel and other low-cardinality context
      columns, plus daypart (from the hour) and weekday when there are timestamps.

    Code 0 of every categorical field is "unknown". Ids of users/items without
    training events are unknown, and training replaces ids (``id_dropout``) and
    context values (``context_dropout``) by unknown at random, so the unknown code
    learns an average: new users are scored from their attributes, new items from
    attributes and text, and a missing context key means "any context".

    Parameters
    ----------
    embedding_dim : int in [4, 256], default 32
        Size of every field's FM/MLP vector.
    hidden_size : int in [8, 1024], default 128
        Width of the first MLP layer; each further layer halves it.
    hidden_layers : int in [0, 4], default 2
        MLP depth; 0 gives a plain factorisation machine.
    dropout : float in [0, 0.9], default 0.1
        Dropout after each MLP layer.
    text_dim : int in [0, 128], default 32
        SVD components of the item text; 0 (or no text in the data) drops the group.
    n_negatives : int in [1, 50], default 4
        Sampled negatives per positive event.
    loss : {"bce", "bpr"}, default "bce"
        Binary cross-entropy of positives vs negatives, or BPR on (positive, negative) pairs.
    id_dropout : float in [0, 0.9], default 0.1
        Probability that a row's user id (and, independently, item id) is hidden.
    context_dropout : float in [0, 0.9], default 0.1
        Probability that each context field of a row is hidden.
    learning_rate : float in [1e-5, 0.1], default 0.002
    weight_decay : float in [0, 0.1], default 0.0
        Adam L2 penalty.
    epochs : int in [1, 500], default 20
    batch_size : int in [64, 65536], default 1024
        Positive events per step (each with its negatives).
    patience : int in [1, 50], default 3
        With ``options.validation``: epochs without a better NDCG@10 before stopping.
    default_context : {"unknown", "habit"}, default "unknown"
        Context used when ``score``/``recommend`` get none: "unknown" scores every
        context field as unknown, which training (``context_dropout``) makes the user's
        average over their own contexts; "habit" uses each user's most frequent value
        of each field (a single guess: sharper, but wrong whenever habits are mixed).

    Attributes
    ----------
    features_ : FeatureEncoder
        Vocabularies, text encoder and per-user/per-item code tables.
    network_ : HybridNet
    loss_history_ : ndarray of shape (epochs_run,)

    Notes
    -----
    Scoring and explanation API: ``feature_groups()``, ``encode(users, items,
    context)`` -> dict of group tensors, ``forward_groups(inputs)`` -> scores,
    ``mask_groups(inputs, groups)`` replaces groups by the unknown baseline (all
    zeros). ``score``/``recommend`` take ``context={"device": "mobile", "hour": 21,
    "channel": "app", "weekday": 5}``; without one, see ``default_context``. New
    users described only by attributes: ``score_new_users``.

    Complexity: an epoch is O(events x (1 + n_negatives) x (F d + F d H + H^2)) for F
    fields. Scoring a batch of B users against N items splits the first MLP layer
    into a user part and an item part (it is linear in the concatenation), so only
    O(B N H^2) remains per batch, in chunks bounded by ``SCORE_CHUNK_ELEMENTS``.

    Deviations: DeepFM's FM and deep parts share the embeddings as in the paper, but
    the first-order weights are an extra embedding coordinate; multi-valued tags are
    averaged (one field); text enters as a fixed SVD vector through a linear map;
    negatives are uniform over items with training events, not impressions.

    References
    ----------
    Guo, Tang, Ye, Li & He, "DeepFM: A Factorization-Machine based Neural Network for
    CTR Prediction", IJCAI 2017. Cheng et al., "Wide & Deep Learning for Recommender
    Systems", DLRS 2016. Rendle, "Factorization Machines", ICDM 2010.
    """

    key = "hybrid"
    capabilities = frozenset({"cold_start_items", "cold_start_users", "context", "gpu"})

    def __init__(self, embedding_dim: int = 32, hidden_size: int = 128, hidden_layers: int = 2,
                 dropout: float = 0.1, text_dim: int = 32, n_negatives: int = 4, loss: str = "bce",
                 id_dropout: float = 0.1, context_dropout: float = 0.1, learning_rate: float = 0.002,
                 weight_decay: float = 0.0, epochs: int = 20, batch_size: int = 1024, patience: int = 3,
                 default_context: str = "unknown"):
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.text_dim = text_dim
        self.n_negatives = n_negatives
        self.loss = loss
        self.id_dropout = id_dropout
        self.context_dropout = context_dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.default_context = default_context

    # ----- network ---------------------------------------------------------------------
    def _build_network(self, train: Dataset) -> torch.nn.Module:
        if self.loss not in ("bce", "bpr"):
            raise ValueError(f"loss must be 'bce' or 'bpr', got {self.loss!r}")
        if self.default_context not in ("unknown", "habit"):
            raise ValueError(f"default_context must be 'unknown' or 'habit', got {self.default_context!r}")
        self.features_ = FeatureEncoder.fit(train, text_dim=int(self.text_dim))
        hidden = [max(_MIN_HIDDEN, int(self.hidden_size) // 2 ** i) for i in range(int(self.hidden_layers))]
        return HybridNet([f.to_dict() for f in self.features_.fields()], int(self.embedding_dim),
                         hidden, float(self.dropout))

    def _network_config(self) -> dict:
        return self.network_.config()

    def _network_from_config(self, config: dict) -> torch.nn.Module:
        return HybridNet(**config)

    # ----- training ----------------------------------------------------------------------
    def _prepare(self, train: Dataset, device: torch.device, options: FitOptions) -> None:
        f = self.features_
        frame = train.frame
        ctx = f.event_context(frame)
        rows = np.column_stack([frame["user_idx"].to_numpy(np.int64), frame["item_idx"].to_numpy(np.int64), ctx])
        # A funnel (view, click, cart, purchase) in one context is one choice, not four.
        rows = pd.DataFrame(rows).drop_duplicates().to_numpy(np.int64)
        self.tables_ = _DeviceTables(f, device)
        self._pos = torch.as_tensor(np.array(rows, np.int64), device=device)
        coo = self.history_.tocoo()
        self._sampler = NegativeSampler(torch.as_tensor(coo.row.astype(np.int64), device=device),
                                        torch.as_tensor(coo.col.astype(np.int64), device=device), train.n_items)
        self._candidates = torch.as_tensor(np.flatnonzero(f.item_ids > 0), device=device)

    def _negatives(self, users: torch.Tensor) -> torch.Tensor:
        """(len(users), n_negatives) items that are not the users' positives (rarely, a leftover)."""
        k, gen = int(self.n_negatives), self.generator_
        u = users[:, None].expand(-1, k)
        pick = lambda shape: self._candidates[torch.randint(len(self._candidates), shape, generator=gen,
                                                            device=users.device)]
        items = pick(u.shape)
        bad = self._sampler.is_positive(u, items)
        for _ in range(_RESAMPLE_ROUNDS):
            if not bool(bad.any()):
                break
            idx = bad.nonzero(as_tuple=True)
            items[idx] = pick(idx[0].shape)
            bad[idx] = self._sampler.is_positive(u[idx], items[idx])
        return items

    def _train_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, options: FitOptions) -> float:
        total, count = 0.0, 0
        n_ctx = self._pos.shape[1] - 2
        for b, idx in self.batches(len(self._pos)):
            if b % CANCEL_EVERY_BATCHES == 0:
                options.check_cancel()
            pos = self._pos[idx]
            users, items, ctx = pos[:, 0], pos[:, 1], pos[:, 2:]
            n = len(users)
            items = torch.cat([items[:, None], self._negatives(users)], 1)  # (n, 1 + k)
            gen = self.generator_
            keep_user = torch.rand(n, generator=gen, device=users.device) >= float(self.id_dropout)
            if n_ctx:
                keep_ctx = torch.rand(ctx.shape, generator=gen, device=users.device) >= float(self.context_dropout)
                ctx = ctx * keep_ctx
            keep_item = torch.rand(items.shape, generator=gen, device=users.device) >= float(self.id_dropout)
            with self.autocast():
                user_terms = self.network_.side_terms(self.tables_.user_inputs(users, ctx, keep_user=keep_user), "user")
                item_terms = self.network_.side_terms(self.tables_.item_inputs(items.reshape(-1),
                                                                               keep_item.reshape(-1)), "item")
                logits = self.network_.score_grouped(user_terms, item_terms).float()
            loss = _loss(logits, self.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + float(loss.detach()) * n, count + n
        return total / max(count, 1)

    def _release_training_data(self) -> None:
        super()._release_training_data()
        for name in ("_pos", "_sampler", "_candidates"):
            self.__dict__.pop(name, None)

    # ----- scoring -----------------------------------------------------------------------
    def _score_tensor(self, users: torch.Tensor) -> torch.Tensor:
        codes = self._context_codes(None, users.cpu().numpy())
        return self._score_rows(self.tables_.user_inputs(users, torch.as_tensor(codes, device=users.device)))

    def _score(self, users: np.ndarray, *, context: dict | None = None) -> np.ndarray:
        return self._score_codes(users, self._context_codes(context, users))

    def _context_codes(self, context: Mapping[str, Any] | None, users: np.ndarray) -> np.ndarray:
        if context is None and self.default_context == "unknown":
            context = {}
        return self.features_.context_codes(context, users)

    @torch.no_grad()
    def _score_codes(self, users: np.ndarray, codes: np.ndarray) -> np.ndarray:
        out = []
        item_terms = self._item_terms()
        for start in range(0, len(users), self.score_batch):
            u = torch.as_tensor(users[start:start + self.score_batch], dtype=torch.long, device=self.device_)
            c = torch.as_tensor(codes[start:start + self.score_batch], dtype=torch.long, device=self.device_)
            inputs = self.tables_.user_inputs(u, c)
            out.append(self._score_rows(inputs, item_terms).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_items_), np.float32)

    def _item_terms(self) -> SideTerms:
        return self.network_.side_terms(self.tables_.item_inputs(), "item")

    def _score_rows(self, user_inputs: dict[str, torch.Tensor], item_terms: SideTerms | None = None) -> torch.Tensor:
        item_terms = item_terms if item_terms is not None else self._item_terms()
        return self.network_.score_matrix(self.network_.side_terms(user_inputs, "user"), item_terms)

    def score_new_users(self, attributes: pd.DataFrame | Iterable[Mapping[str, Any]],
                        context: Mapping[str, Any] | None = None) -> np.ndarray:
        """(n, n_items) scores for users known only by attributes (columns as in the users table).

        The user id is unknown; ``context`` as in ``score`` (None: unknown context).
        """
        self._check_fitted()
        table = attributes if isinstance(attributes, pd.DataFrame) else pd.DataFrame(list(attributes))
        n = len(table)
        codes = self.features_.context_codes(context or {}, np.zeros(n, np.int64))
        customer = torch.as_tensor(self.features_.encode_user_attributes(table), device=self.device_)
        out = []
        with torch.no_grad():
            item_terms = self._item_terms()
            for start in range(0, n, self.score_batch):
                stop = min(n, start + self.score_batch)
                u = torch.zeros(stop - start, dtype=torch.long, device=self.device_)
                c = torch.as_tensor(codes[start:stop], device=self.device_)
                inputs = self.tables_.user_inputs(u, c, keep_user=False, customer=customer[start:stop])
                out.append(self._score_rows(inputs, item_terms).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_items_), np.float32)

    # ----- feature-group API (for explanations) --------------------------------------------
    def feature_groups(self) -> list[str]:
        """Names of the input groups, in the order ``forward_groups`` reads them."""
        self._check_fitted()
        return list(self.network_.groups)

    def encode(self, users, items, context: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
        """Group tensors (on the model's device) for (user, item) rows.

        ``users`` and ``items`` are index arrays broadcast against each other;
        ``context`` as in ``score`` (values may also be per row); None means the
        ``default_context`` rule. See ``recsys.models.features`` for the layouts.
        """
        self._check_fitted()
        if context is None and self.default_context == "unknown":
            context = {}
        arrays = self.features_.encode(users, items, context)
        return {g: torch.as_tensor(v, device=self.device_) for g, v in arrays.items()}

    def forward_groups(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Scores (n,) of encoded rows; differentiable (no ``no_grad`` here).

        Equals ``score(user, context)[item]`` for the same row.
        """
        self._check_fitted()
        return self.network_(dict(inputs))

    def mask_groups(self, inputs: Mapping[str, torch.Tensor], groups: Iterable[str]) -> dict[str, torch.Tensor]:
        """A copy of ``inputs`` with ``groups`` replaced by their baseline: all zeros,
        i.e. unknown ids, attributes and context, no tags and an empty text vector."""
        groups = set(groups)
        unknown = groups - set(inputs)
        if unknown:
            raise KeyError(f"unknown group(s): {sorted(unknown)}; groups are {list(inputs)}")
        return {g: torch.zeros_like(t) if g in groups else t for g, t in inputs.items()}

    def context_fields(self) -> dict[str, list[str]]:
        """Context field -> known values; ``score(..., context=...)`` accepts these keys
        plus "hour" (0-23) and "weekday" (0-6, Monday 0)."""
        self._check_fitted()
        return self.features_.context_fields()

    # ----- persistence ----------------------------------------------------------------------
    def _extra_arrays(self) -> dict[str, np.ndarray]:
        config, arrays = self.features_.to_state()
        out = {f"features_{k}": v for k, v in arrays.items()}
        out["features_config_json"] = np.frombuffer(json.dumps(config).encode(), np.uint8)
        return out

    def _set_extra_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        config = json.loads(bytes(arrays["features_config_json"].astype(np.uint8)).decode())
        state = {k[len("features_"):]: v for k, v in arrays.items() if k.startswith("features_")}
        self.features_ = FeatureEncoder.from_state(config, state)
        self.tables_ = _DeviceTables(self.features_, self.device_)

    def to_device(self, device: str | torch.device = "auto") -> "Hybrid":
        super().to_device(device)
        self.tables_ = _DeviceTables(self.features_, self.device_)
        return self


def _loss(logits: torch.Tensor, kind: str) -> torch.Tensor:
    """``logits`` (n, 1 + k): column 0 the positive, the rest its negatives."""
    pos, neg = logits[:, 0], logits[:, 1:]
    if kind == "bpr":
        return -torch.nn.functional.logsigmoid(pos[:, None] - neg).mean()
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    # Positives and negatives weigh the same whatever n_negatives is.
    return bce(pos, torch.ones_like(pos)) + bce(neg, torch.zeros_like(neg))


class _DeviceTables:
    """The encoder's code tables as device tensors; builds group tensors by gathering."""

    def __init__(self, features: FeatureEncoder, device: torch.device):
        def t(a):
            return torch.as_tensor(np.ascontiguousarray(a), device=device)

        self.groups = features.groups()
        self.user_ids, self.item_ids = t(features.user_ids), t(features.item_ids)
        self.customer, self.item = t(features.user_codes), t(features.item_codes)
        self.text = t(features.item_text.astype(np.float32))
        self.device = device

    def user_inputs(self, users: torch.Tensor, ctx: torch.Tensor, *, keep_user: bool | torch.Tensor = True,
                    customer: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """User-side group tensors; user ids are hidden where ``keep_user`` is False."""
        ids = torch.zeros(len(users), 2, dtype=torch.long, device=self.device)
        ids[:, 0] = self.user_ids[users] * keep_user
        out = {"collaborative": ids, "customer": self.customer[users] if customer is None else customer,
               "context": ctx}
        return {g: v for g, v in out.items() if g in self.groups}

    def item_inputs(self, items: torch.Tensor | None = None,
                    keep_item: bool | torch.Tensor = True) -> dict[str, torch.Tensor]:
        """Item-side group tensors (default: every item); ids hidden where ``keep_item`` is False."""
        items = torch.arange(len(self.item_ids), device=self.device) if items is None else items
        ids = torch.zeros(len(items), 2, dtype=torch.long, device=self.device)
        ids[:, 1] = self.item_ids[items] * keep_item
        out = {"collaborative": ids, "item": self.item[items], "text": self.text[items]}
        return {g: v for g, v in out.items() if g in self.groups}
