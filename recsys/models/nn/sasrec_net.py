"""SASRec's network: causal self-attention blocks over an item sequence (Kang & McAuley 2018)."""

from __future__ import annotations

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    """Multi-head attention with explicit weights, so they can be shown as an explanation.

    ``allowed`` (B, L, L) says which key each query may attend to (causal and not
    padding). Rows with no allowed key (padding queries) get all-zero weights
    instead of the NaN a plain ``-inf`` mask would give.
    """

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden size {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, length, dim = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        logits = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, H, L, L)
        mask = allowed[:, None]
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        weights = torch.softmax(logits.float(), dim=-1) * mask
        mixed = self.dropout(weights).to(v.dtype) @ v
        return self.out(mixed.transpose(1, 2).reshape(b, length, dim)), weights


class SASRecBlock(nn.Module):
    """Pre-norm block: x + self-attention(LN x), then x + point-wise feed-forward(LN x)."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, dropout)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, weights = self.attn(self.attn_norm(x), allowed)
        x = x + self.dropout(attended)
        x = x + self.dropout(self.ffn(self.ffn_norm(x)))
        return x, weights


class SASRecNet(nn.Module):
    """Item + learned position embeddings, ``blocks`` causal blocks, a final layer norm.

    Input: (B, L) item ids shifted by one, 0 = padding (left). Output: (B, L, dim)
    states; the state at position t predicts the item after position t through the
    shared item embedding (``item_embedding.weight[1:]``).
    """

    def __init__(self, n_items: int, max_len: int, dim: int = 64, blocks: int = 2, heads: int = 1,
                 dropout: float = 0.2):
        super().__init__()
        self.max_len = max_len
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.position_embedding = nn.Embedding(max_len, dim)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SASRecBlock(dim, heads, dropout) for _ in range(blocks))
        self.norm = nn.LayerNorm(dim)
        self.scale = math.sqrt(dim)
        self.apply(_init_weights)

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        return self.encode(seqs)[0]

    def encode(self, seqs: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """States (B, L, dim) and each block's attention weights (B, heads, L, L)."""
        length = seqs.shape[1]
        present = seqs != 0
        causal = torch.ones(length, length, dtype=torch.bool, device=seqs.device).tril()
        allowed = causal & present[:, None, :] & present[:, :, None]
        positions = torch.arange(self.max_len - length, self.max_len, device=seqs.device)
        x = self.item_embedding(seqs) * self.scale + self.position_embedding(positions)
        x = self.dropout(x) * present[..., None]
        weights = []
        for block in self.blocks:
            x, w = block(x, allowed)
            weights.append(w)
        return self.norm(x), weights


def _init_weights(module: nn.Module) -> None:
    # Small normal init (as in BERT / RecBole's SASRec) keeps early logits near uniform.
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
