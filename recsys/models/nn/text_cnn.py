"""Networks of ``ContentNeural``: a Kim (2014) text CNN, an item tower, and the user-item model."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Items encoded per forward pass when the whole catalog is embedded (bounds memory).
ENCODE_CHUNK = 4096


class TextCNN(nn.Module):
    """Token embeddings -> parallel 1D convolutions -> max over time -> linear (Kim 2014).

    Convolutions are "wide" (padded by ``window - 1``) so that texts shorter than a
    window still produce features; positions whose window holds only padding are
    masked out of the max, and an item without any token encodes to zeros before
    the output layer.
    """

    def __init__(self, vocab_size: int, embed_dim: int, n_filters: int, windows: Sequence[int],
                 out_dim: int, dropout: float = 0.0):
        super().__init__()
        self.windows = tuple(int(w) for w in windows)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, n_filters, w, padding=w - 1) for w in self.windows)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(n_filters * len(self.windows), out_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens``: (batch, length) int64 with 0 as padding -> (batch, out_dim)."""
        x = self.embedding(tokens).transpose(1, 2)  # (B, E, L)
        real = (tokens != 0).to(x.dtype).unsqueeze(1)  # (B, 1, L)
        pooled = []
        for window, conv in zip(self.windows, self.convs):
            h = torch.relu(conv(x))  # (B, F, L + w - 1)
            # A wide-conv output position sees a real token iff any of its w inputs is real;
            # zeroing the others cannot change a max of ReLU outputs over the real ones.
            seen = F.max_pool1d(F.pad(real, (window - 1, window - 1)), window, stride=1)
            pooled.append((h * seen).amax(dim=2))
        return self.out(self.dropout(torch.cat(pooled, dim=1)))


class SentenceProjection(nn.Module):
    """A trainable linear map of frozen, precomputed sentence embeddings."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(in_dim, out_dim)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(vectors))


class ItemTower(nn.Module):
    """Item embedding from content only: text encoder plus the mean of label embeddings.

    It has no per-item parameters, so an item never seen in training is embedded
    exactly like a trained one. The catalog's encoded content is kept in buffers
    (``text_input``, ``labels``) so it moves with the module between devices and is
    saved in its state dict.
    """

    def __init__(self, encoder: nn.Module, text_input: torch.Tensor, labels: torch.Tensor,
                 n_labels: int, dim: int):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("text_input", text_input)
        self.register_buffer("labels", labels)
        self.label_embedding = nn.EmbeddingBag(n_labels, dim, mode="mean", padding_idx=0) if n_labels > 1 else None

    @property
    def n_items(self) -> int:
        return int(self.text_input.shape[0])

    def encode(self, text_input: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Embeddings of items given by content (rows of ``text_input`` and ``labels``)."""
        out = self.encoder(text_input)
        if self.label_embedding is not None and labels.shape[1] > 0:
            # EmbeddingBag's mean skips padding; a row of padding only gives zeros.
            out = out + self.label_embedding(labels)
        return out

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """Embeddings of catalog items by index."""
        return self.encode(self.text_input[items], self.labels[items])

    def all_items(self) -> torch.Tensor:
        """Embeddings of the whole catalog, in chunks."""
        device = self.text_input.device
        parts = [self(torch.arange(s, min(s + ENCODE_CHUNK, self.n_items), device=device))
                 for s in range(0, self.n_items, ENCODE_CHUNK)]
        return torch.cat(parts) if parts else self.text_input.new_zeros((0, 0), dtype=torch.float32)


class ContentNeuralNet(nn.Module):
    """User embeddings and an item tower; the score is their dot product."""

    def __init__(self, n_users: int, dim: int, tower: ItemTower):
        super().__init__()
        self.user_embedding = nn.Embedding(n_users, dim)
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        self.tower = tower

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores (batch, n) of ``users`` (batch,) against item embeddings ``items`` (n, dim)."""
        return self.user_embedding(users) @ items.T
