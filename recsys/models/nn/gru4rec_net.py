"""GRU4Rec's network: a GRU over an item sequence (Hidasi et al. 2016)."""

from __future__ import annotations

import math

import torch
from torch import nn


class GRU4RecNet(nn.Module):
    """Item embedding -> dropout -> GRU -> dropout -> linear to the item space.

    Input: (B, L) item ids shifted by one, 0 = padding on the right (the GRU is
    causal, so padding after the last item never changes earlier states). Output:
    (B, L, dim) states scored against the shared ``item_embedding.weight[1:]``.

    ``input_scale`` multiplies the GRU's input embeddings: the shared embedding starts
    small (std 0.02, so that the first logits are near uniform), which alone would feed
    the GRU inputs far weaker than its biases; ``sqrt(dim)`` (as in SASRec and the
    Transformer) gives them unit-scale norms. Configs saved without it load with 1.0.
    """

    def __init__(self, n_items: int, dim: int = 64, hidden_size: int = 128, layers: int = 1,
                 dropout: float = 0.25, input_scale: float = 1.0):
        super().__init__()
        self.input_scale = float(input_scale)
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.input_dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(dim, hidden_size, num_layers=layers, batch_first=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.output_dropout = nn.Dropout(dropout)
        self.project = nn.Linear(hidden_size, dim)
        nn.init.normal_(self.item_embedding.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(self.input_dropout(self.item_embedding(seqs) * self.input_scale))
        return self.project(self.output_dropout(states))
