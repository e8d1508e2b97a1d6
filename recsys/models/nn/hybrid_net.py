"""The Hybrid network: DeepFM over named feature groups (Guo et al. 2017).

Each field (a user id, an attribute, the item's tags, its text vector, a context value)
becomes a vector ``e_f = [v_f ; w_f]`` of ``embedding_dim + 1`` numbers: ``v_f`` feeds
the factorisation machine and the MLP, ``w_f`` is the field's first-order weight. So

    y = b + sum_f w_f + sum_{f<g} <v_f, v_g> + MLP([v_1; ...; v_F])       (DeepFM, eq. 1-4)

is a function of the group embeddings only (``forward_embedded``), which is what
gradient attributions on the embedding layers need.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from recsys.models.features import GROUPS, Field

# Users x items x hidden floats materialised per scoring chunk (~64 MB in float32).
SCORE_CHUNK_ELEMENTS = 1 << 24
_INIT_STD = 0.05


@dataclass(frozen=True)
class SideTerms:
    """The per-row terms of one side (user+context rows or item rows) of a score matrix."""

    sum_v: torch.Tensor      # (n, d): sum of the side's v_f
    self_terms: torch.Tensor  # (n,): first-order weights + FM pairs within the side
    hidden: torch.Tensor | None  # (n, H): the side's share of the first MLP layer


class HybridNet(nn.Module):
    """DeepFM over ``fields`` (dicts of ``recsys.models.features.Field``).

    Parameters
    ----------
    fields : list of dict
        In group order; a field reads ``width`` columns of its group's tensor.
    embedding_dim : int
        Size ``d`` of each field's FM/MLP vector.
    hidden : list of int
        MLP widths (empty: a plain factorisation machine).
    dropout : float
        Dropout after each hidden layer (training only).
    """

    def __init__(self, fields: list[dict], embedding_dim: int, hidden: list[int], dropout: float = 0.0):
        super().__init__()
        self.fields = [Field.from_dict(f) for f in fields]
        self.embedding_dim, self.hidden, self.dropout = int(embedding_dim), [int(h) for h in hidden], float(dropout)
        self.groups = [g for g in GROUPS if any(f.group == g for f in self.fields)]
        d1 = self.embedding_dim + 1
        self.tables = nn.ModuleList()
        self._slices: list[tuple[int, int]] = []
        offsets: dict[str, int] = {}
        for f in self.fields:
            start = offsets.get(f.group, 0)
            offsets[f.group] = start + f.width
            self._slices.append((start, start + f.width))
            if f.kind == "dense":
                layer = nn.Linear(f.size, d1, bias=False)  # no bias: a zero text vector embeds to zero
                nn.init.normal_(layer.weight, std=_INIT_STD)
            else:
                layer = nn.Embedding(f.size, d1, padding_idx=0 if f.kind == "bag" else None)
                nn.init.normal_(layer.weight, std=_INIT_STD)
                if f.kind == "bag":
                    with torch.no_grad():
                        layer.weight[0].zero_()
            self.tables.append(layer)
        self.bias = nn.Parameter(torch.zeros(1))
        widths = [len(self.fields) * self.embedding_dim] + self.hidden
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.output = nn.Linear(widths[-1], 1) if self.hidden else None
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.drop = nn.Dropout(self.dropout)

    def config(self) -> dict:
        return {"fields": [f.to_dict() for f in self.fields], "embedding_dim": self.embedding_dim,
                "hidden": self.hidden, "dropout": self.dropout}

    # ----- embedding ---------------------------------------------------------------
    def _embed_field(self, index: int, column_block: torch.Tensor) -> torch.Tensor:
        f, table = self.fields[index], self.tables[index]
        if f.kind == "dense":
            return table(column_block.float())
        if f.kind == "bag":
            # Mean over the non-padding codes; an item without tags embeds to zero.
            vectors = table(column_block)
            count = (column_block > 0).sum(1, keepdim=True).clamp(min=1)
            return vectors.sum(1) / count
        return table(column_block[:, 0])

    def _field_indices(self, side: str | None) -> list[int]:
        return [i for i, f in enumerate(self.fields) if side is None or f.side == side]

    def embed(self, inputs: dict[str, torch.Tensor], side: str | None = None) -> dict[str, torch.Tensor]:
        """Group name -> (n, fields in group, d + 1) embeddings (only ``side``'s fields if given)."""
        per_group: dict[str, list[torch.Tensor]] = {}
        for i in self._field_indices(side):
            f = self.fields[i]
            start, stop = self._slices[i]
            per_group.setdefault(f.group, []).append(self._embed_field(i, inputs[f.group][:, start:stop]))
        return {g: torch.stack(per_group[g], 1) for g in self.groups if g in per_group}

    # ----- scores of rows ------------------------------------------------------------
    def forward_embedded(self, embedded: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores (n,) from every group's embeddings (as ``embed`` returns them)."""
        e = torch.cat([embedded[g] for g in self.groups], 1)
        v, w = e[..., :-1], e[..., -1]
        s = v.sum(1)
        # sum_{f<g} <v_f, v_g> = (|sum v|^2 - sum |v|^2) / 2  (Rendle 2010, lemma 3.1)
        fm = 0.5 * (s.pow(2).sum(-1) - v.pow(2).sum((1, 2)))
        out = self.bias + w.sum(1) + fm
        if self.output is not None:
            h = v.flatten(1)
            for layer in self.layers:
                h = self.drop(torch.relu(layer(h)))
            out = out + self.output(h).squeeze(-1)
        return out

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores (n,) of rows given as group tensors (a logit of "this user picks this item")."""
        return self.forward_embedded(self.embed(inputs))

    # ----- score matrices ---------------------------------------------------------------
    def side_terms(self, inputs: dict[str, torch.Tensor], side: str) -> SideTerms:
        """Everything one side contributes, computed once per row (see ``score_matrix``)."""
        indices = self._field_indices(side)
        e = torch.stack([self._embed_field(i, inputs[self.fields[i].group][:, slice(*self._slices[i])])
                         for i in indices], 1)
        v, w = e[..., :-1], e[..., -1]
        s = v.sum(1)
        self_terms = w.sum(1) + 0.5 * (s.pow(2).sum(-1) - v.pow(2).sum((1, 2)))
        hidden = None
        if self.layers:
            d = self.embedding_dim
            # The first layer is linear in the concatenation, so each side's share adds up.
            weight = self.layers[0].weight
            cols = torch.cat([torch.arange(i * d, (i + 1) * d, device=weight.device) for i in indices])
            hidden = v.flatten(1) @ weight[:, cols].T
        return SideTerms(s, self_terms, hidden)

    def score_matrix(self, users: SideTerms, items: SideTerms) -> torch.Tensor:
        """(n_rows, n_items) scores; identical to ``forward`` on every (row, item) pair."""
        out = self.bias + users.self_terms[:, None] + items.self_terms[None, :] + users.sum_v @ items.sum_v.T
        if self.output is None:
            return out
        width = self.layers[0].out_features
        n_users, n_items = len(users.self_terms), len(items.self_terms)
        item_chunk = max(1, min(n_items, SCORE_CHUNK_ELEMENTS // width))
        user_chunk = max(1, SCORE_CHUNK_ELEMENTS // (width * item_chunk))
        deep = torch.empty_like(out)
        for i0 in range(0, n_items, item_chunk):
            hi = items.hidden[i0:i0 + item_chunk]
            for u0 in range(0, n_users, user_chunk):
                hu = users.hidden[u0:u0 + user_chunk] + self.layers[0].bias
                deep[u0:u0 + user_chunk, i0:i0 + item_chunk] = self._tail(hu[:, None, :] + hi[None, :, :])
        return out + deep

    def score_grouped(self, users: SideTerms, items: SideTerms) -> torch.Tensor:
        """(n, m) scores of row ``r`` against its own ``m`` items: ``items`` has ``n * m`` rows,
        those of row ``r`` at ``r * m .. r * m + m - 1``. Equals ``forward`` (training uses it
        to embed each user and context once for the positive and all its negatives)."""
        n = len(users.self_terms)
        m = len(items.self_terms) // max(n, 1)
        si = items.sum_v.reshape(n, m, -1)
        out = (self.bias + users.self_terms[:, None] + items.self_terms.reshape(n, m)
               + (si * users.sum_v[:, None, :]).sum(-1))
        if self.output is None:
            return out
        h = users.hidden[:, None, :] + self.layers[0].bias + items.hidden.reshape(n, m, -1)
        return out + self._tail(h)

    def _tail(self, first_pre_activation: torch.Tensor) -> torch.Tensor:
        """The MLP after the first layer's affine map, as in ``forward_embedded``."""
        h = self.drop(torch.relu(first_pre_activation))
        for layer in self.layers[1:]:
            h = self.drop(torch.relu(layer(h)))
        return self.output(h).squeeze(-1)
