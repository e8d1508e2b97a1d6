"""Incremental updates of the deep models with per-customer embeddings: NeuMF, Hybrid, ContentNeural.

These models keep what they know about a customer in embedding rows: NeuMF in its GMF
and MLP user embeddings, ContentNeural in its user embedding, Hybrid in its user-id
embedding (next to the customer's attributes). An update

1. grows the tables for new customers; a new row starts as an average customer (the
   mean row) or, for Hybrid, as the "unknown customer" row that attribute-only scoring
   uses, so a customer starts from what their attributes say;
2. optimises only the rows of the customers with new events, a few Adam steps of the
   model's own loss (BCE, BPR or sampled softmax) on their whole history, old and new,
   against uniformly drawn negatives they never touched. Items, attributes, the MLP and
   every other customer's row stay fixed;
3. for ContentNeural, embeds new items from their text and labels alone (the item
   tower has no per-item weights), before the customers are re-fitted against them.

The shared model is never changed: the copy's network shares every tensor with the
original except the (grown) user tables.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from recsys.models.base import Recommender

DEEP_KEYS = frozenset({"neumf", "hybrid", "content_neural"})
# Redraws of a negative that hit the customer's history before it is dropped.
_RESAMPLE_ROUNDS = 10


@dataclass(frozen=True)
class FoldInSettings:
    """How hard the customers' rows are re-fitted: Adam ``steps`` at ``learning_rate``,
    ``n_negatives`` uniform negatives per history item and step, seeded sampling."""

    steps: int = 30
    learning_rate: float = 0.1
    n_negatives: int = 4
    seed: int = 0


def fold_in_users(model: Recommender, history: sp.csr_matrix, users: np.ndarray, *,
                  user_features: pd.DataFrame | None = None, new_items: pd.DataFrame | None = None,
                  settings: FoldInSettings = FoldInSettings()) -> tuple[Recommender, dict]:
    """A copy of ``model`` whose rows of ``users`` are re-fitted to ``history`` (old + new events).

    ``history`` is the users x items matrix after the update (its shape gives the new
    numbers of customers and items). ``user_features`` (rows aligned with the grown user
    map) gives Hybrid the attributes of new customers. ``new_items`` (ContentNeural only)
    describes the items appended to the catalog, in index order. Returns the copy and a
    record of what changed (loss before and after, steps, new rows).
    """
    key = model.key
    if key not in DEEP_KEYS:
        raise ValueError(f"{type(model).__name__} has no per-customer embeddings to fold in")
    n_users, n_items = history.shape
    if new_items is not None and len(new_items) and key != "content_neural":
        raise ValueError(f"{type(model).__name__} cannot place new items from content")
    if n_items != model.n_items_ + (0 if new_items is None else len(new_items)):
        raise ValueError("the history must use the model's item map (plus the new items)")
    out = copy.copy(model)
    out.network_ = _copy_sharing_tensors(model.network_)
    out.network_.eval()  # no dropout while fitting rows
    side = _SIDES[key](out, n_users, user_features)
    if new_items is not None and len(new_items):
        _place_items(out, new_items)
    users = np.asarray(users, dtype=np.int64)
    losses = _fit_rows(side, sp.csr_matrix(history), users, settings)
    details = {"customers_refit": int(len(users)), "new_rows": int(n_users - model.n_users_),
               "steps": int(settings.steps), "learning_rate": float(settings.learning_rate),
               "loss_before": losses[0], "loss_after": losses[-1], "tables": side.table_names}
    return out, details


# ----- the optimisation ----------------------------------------------------------------

def _fit_rows(side: "_UserSide", history: sp.csr_matrix, users: np.ndarray,
              settings: FoldInSettings) -> list[float]:
    rows = history[users]
    if rows.nnz == 0 or settings.steps < 1:
        return [float("nan")]
    device = side.device
    local = np.repeat(np.arange(len(users)), np.diff(rows.indptr))
    customers = torch.as_tensor(users, device=device)
    pos_users = torch.as_tensor(users[local], device=device)
    pos_local = torch.as_tensor(local, device=device)
    pos_items = torch.as_tensor(rows.indices.astype(np.int64), device=device)
    seen = torch.as_tensor(np.sort(users[local] * history.shape[1] + rows.indices), device=device)
    k, n_items = int(settings.n_negatives) * side.negatives_factor, history.shape[1]
    gen = torch.Generator(device=device).manual_seed(int(settings.seed))
    losses = []
    # Only the customers' rows are trained: each table is swapped for a small one of those rows
    # (Adam over whole tables would cost O(customers x dim) per step, whatever the update).
    tables, index = side.tables(), torch.as_tensor(side.row_index(users), device=device)
    full = [t.weight for t in tables]
    small = [torch.nn.Parameter(w.detach()[index].clone()) for w in full]
    for table, weight in zip(tables, small):
        table.weight = weight
    try:
        optimizer = torch.optim.Adam(small, lr=float(settings.learning_rate))
        for _ in range(int(settings.steps)):
            negatives = torch.randint(n_items, (len(pos_items), k), generator=gen, device=device)
            bad = _is_seen(seen, pos_users[:, None] * n_items + negatives)
            for _ in range(_RESAMPLE_ROUNDS):  # redraw negatives the customer has touched
                if not bool(bad.any()):
                    break
                negatives[bad] = torch.randint(n_items, (int(bad.sum()),), generator=gen, device=device)
                bad = _is_seen(seen, pos_users[:, None] * n_items + negatives)
            items = torch.cat([pos_items[:, None], negatives], 1)
            logits = side.logits(customers, pos_local, items).float()
            weight = (~bad).float()  # a negative still touched after the redraws is ignored
            loss = _loss(logits, weight, side.loss)
            grads = torch.autograd.grad(loss, small)
            for p, g in zip(small, grads):
                p.grad = g
            optimizer.step()
            losses.append(float(loss.detach()))
    finally:
        with torch.no_grad():
            for table, whole, rows_ in zip(tables, full, small):
                whole[index] = rows_.detach()
                table.weight = whole
    return losses


def _is_seen(sorted_keys: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    pos = torch.searchsorted(sorted_keys, keys).clamp(max=len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def _loss(logits: torch.Tensor, weight: torch.Tensor, kind: str) -> torch.Tensor:
    """``logits`` (n, 1 + k): column 0 the history item, the rest negatives (``weight`` 0: a leftover
    negative the customer touched, ignored)."""
    pos, neg = logits[:, 0], logits[:, 1:]
    if kind == "bpr":
        return -(F.logsigmoid(pos[:, None] - neg) * weight).sum() / weight.sum().clamp(min=1)
    if kind == "softmax":
        neg = neg.masked_fill(weight == 0, float("-inf"))
        return F.cross_entropy(torch.cat([pos[:, None], neg], 1), torch.zeros(len(pos), dtype=torch.long,
                                                                               device=pos.device))
    bce = F.binary_cross_entropy_with_logits
    neg_loss = (bce(neg, torch.zeros_like(neg), reduction="none") * weight).sum() / weight.sum().clamp(min=1)
    return bce(pos, torch.ones_like(pos)) + neg_loss


# ----- per-family user sides ---------------------------------------------------------------

def _copy_sharing_tensors(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of the module tree whose parameters and buffers are the original's tensors."""
    memo = {id(t): t for t in itertools.chain(net.parameters(), net.buffers())}
    return copy.deepcopy(net, memo)


def _grown(weight: torch.Tensor, n_rows: int, fill: torch.Tensor) -> torch.nn.Parameter:
    """A new parameter: ``weight``'s rows, then ``fill`` for the added rows."""
    out = fill.detach().expand(n_rows, -1).clone()
    out[: len(weight)] = weight.detach()
    return torch.nn.Parameter(out)


class _UserSide:
    """The trainable user rows of one model copy and its differentiable score of (user, items) pairs."""

    table_names: tuple[str, ...] = ()
    loss = "bce"
    negatives_factor = 1  # negatives per history item = this x settings.n_negatives

    def __init__(self, model, n_users: int, user_features):
        self.model, self.device = model, model.device_

    def tables(self) -> list[torch.nn.Embedding]:
        """The embedding tables holding the customers' rows."""
        raise NotImplementedError

    def row_index(self, users: np.ndarray) -> np.ndarray:
        """Rows of the tables to train; while training, the tables hold these rows only."""
        return users

    def logits(self, customers: torch.Tensor, local: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(n, m) scores of rows against their ``items`` (n, m): row ``r`` is customer
        ``customers[local[r]]``, whose embeddings are row ``local[r]`` of the swapped tables."""
        raise NotImplementedError


class _NeuMFSide(_UserSide):
    table_names = ("user_gmf", "user_mlp")
    loss = "bce"  # NeuMF's pointwise objective

    def __init__(self, model, n_users, user_features):
        super().__init__(model, n_users, user_features)
        net = model.network_
        for name in self.table_names:
            emb = getattr(net, name)
            emb.weight = _grown(emb.weight, n_users, emb.weight.mean(0))
            emb.num_embeddings = n_users
        net.n_users = n_users

    def tables(self):
        net = self.model.network_
        return [net.user_gmf, net.user_mlp]

    def logits(self, customers, local, items):
        n, m = items.shape
        return self.model.network_(local[:, None].expand(n, m).reshape(-1), items.reshape(-1)).reshape(n, m)


class _ContentNeuralSide(_UserSide):
    table_names = ("user_embedding",)

    def __init__(self, model, n_users, user_features):
        super().__init__(model, n_users, user_features)
        emb = model.network_.user_embedding
        emb.weight = _grown(emb.weight, n_users, emb.weight.mean(0))
        emb.num_embeddings = n_users
        model._shape = dict(model._shape, n_users=n_users)
        self.loss = model.loss  # "softmax" or "bpr", as in training
        # A sampled softmax needs more negatives than a pairwise loss (training shares 256 per batch);
        # a dot product against cached item vectors keeps them cheap.
        self.negatives_factor = 4 if self.loss == "softmax" else 1

    def tables(self):
        return [self.model.network_.user_embedding]

    def logits(self, customers, local, items):
        item_matrix = self.model._item_cache  # fixed: items come from content
        return (self.model.network_.user_embedding(local)[:, None, :] * item_matrix[items]).sum(-1)


class _HybridSide(_UserSide):
    table_names = ("user_id",)

    def __init__(self, model, n_users, user_features):
        from recsys.models.hybrid import _DeviceTables

        super().__init__(model, n_users, user_features)
        self.loss = model.loss
        net, old = model.network_, model.features_
        features = copy.copy(old)
        grow = n_users - old.n_users
        if grow:
            new_codes = np.zeros((grow, old.user_codes.shape[1]), np.int64)
            if user_features is not None:
                new_codes = features._table_codes(user_features.iloc[old.n_users:n_users].reset_index(drop=True),
                                                  features.user_columns, grow)
            features.user_codes = np.vstack([old.user_codes, new_codes])
            features.default_context = np.vstack([old.default_context,
                                                  np.zeros((grow, old.default_context.shape[1]), np.int64)])
        # Every customer gets an id row; one without events at fit time starts as "unknown".
        features.user_ids = np.arange(1, n_users + 1, dtype=np.int64)
        table = net.tables[0]
        fill_unknown = table.weight[0]
        weight = _grown(table.weight, n_users + 1, fill_unknown)
        with torch.no_grad():
            cold = np.flatnonzero(np.concatenate([old.user_ids == 0, np.ones(grow, bool)])) + 1
            weight[torch.as_tensor(cold, device=weight.device)] = fill_unknown.detach()
        table.weight, table.num_embeddings = weight, n_users + 1
        net.fields[0] = dataclasses.replace(net.fields[0], size=n_users + 1)
        model.features_ = features
        model.tables_ = _DeviceTables(features, self.device)
        with torch.no_grad():
            self.item_terms = net.side_terms(model.tables_.item_inputs(), "item")
        self.n_context = features.default_context.shape[1]

    def tables(self):
        return [self.model.network_.tables[0]]

    def row_index(self, users):
        return np.concatenate([[0], users + 1])  # id code 0 ("unknown") first: local row r is code r + 1

    def logits(self, customers, local, items):
        from recsys.models.nn.hybrid_net import SideTerms

        net, tables = self.model.network_, self.model.tables_
        ctx = torch.zeros((len(customers), self.n_context), dtype=torch.long, device=self.device)  # any context
        inputs = tables.user_inputs(customers, ctx)
        inputs["collaborative"] = inputs["collaborative"].clone()
        inputs["collaborative"][:, 0] = torch.arange(1, len(customers) + 1, device=self.device)
        u = net.side_terms(inputs, "user")  # once per customer, then one row per history item
        user_terms = SideTerms(u.sum_v[local], u.self_terms[local], None if u.hidden is None else u.hidden[local])
        flat = items.reshape(-1)
        t = self.item_terms
        item_terms = SideTerms(t.sum_v[flat], t.self_terms[flat], None if t.hidden is None else t.hidden[flat])
        return net.score_grouped(user_terms, item_terms)


_SIDES = {"neumf": _NeuMFSide, "content_neural": _ContentNeuralSide, "hybrid": _HybridSide}


def _place_items(model, items: pd.DataFrame) -> None:
    """Append ContentNeural items embedded from their content (the tower has no per-item weights)."""
    from recsys.models.text import item_text

    tower = model.network_.tower
    content = item_text(items.reset_index(drop=True))
    text_input, labels = model._encode_content(content, int(model._shape["text_shape"][1]),
                                               int(model._shape["label_width"]))
    tower.text_input = torch.cat([tower.text_input, text_input.to(tower.text_input.dtype)])
    tower.labels = torch.cat([tower.labels, labels])
    n_items = int(tower.text_input.shape[0])
    model._shape = dict(model._shape, n_items=n_items, text_shape=[n_items, *model._shape["text_shape"][1:]])
    model._refresh_item_cache()
