"""Autoencoders over a user's history row (Liang et al. 2018): Mult-VAE and Mult-DAE networks."""

from __future__ import annotations

import torch
from torch import nn


class MultAutoencoderNet(nn.Module):
    """``n_items -> hidden -> latent -> hidden -> n_items`` with tanh in between.

    Variational: the encoder's last layer gives the mean and log-variance of
    ``q(z|x)`` (eq. 5); the decoder's logits feed a softmax over items (eq. 2).
    Denoising: the encoder gives ``z`` directly (tanh, as in the authors' code).
    The input layer reads a sparse row as a weighted bag of items (one
    ``(n_items, hidden)`` table), so its cost follows the row's non-zeros, not the
    catalog size. Dropout and the reparameterisation noise are applied by the
    caller, which owns the random generator.
    """

    def __init__(self, n_items: int, hidden_dim: int, latent_dim: int, variational: bool):
        super().__init__()
        self.n_items, self.hidden_dim, self.latent_dim = n_items, hidden_dim, latent_dim
        self.variational = variational
        self.encoder_in = nn.Parameter(torch.empty(n_items, hidden_dim))
        self.encoder_in_bias = nn.Parameter(torch.empty(hidden_dim))
        self.encoder_out = nn.Linear(hidden_dim, 2 * latent_dim if variational else latent_dim)
        self.decoder_hidden = nn.Linear(latent_dim, hidden_dim)
        self.decoder_out = nn.Linear(hidden_dim, n_items)
        # Xavier weights and small normal biases, as in the authors' code.
        nn.init.xavier_uniform_(self.encoder_in)
        nn.init.normal_(self.encoder_in_bias, std=0.001)
        for layer in (self.encoder_out, self.decoder_hidden, self.decoder_out):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.normal_(layer.bias, std=0.001)

    def config(self) -> dict:
        return {"n_items": self.n_items, "hidden_dim": self.hidden_dim, "latent_dim": self.latent_dim,
                "variational": self.variational}

    def encode(self, items: torch.Tensor, offsets: torch.Tensor,
               weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mu, logvar)`` of a batch of rows given in CSR form; ``logvar`` is None when denoising.

        ``items`` and ``weights`` are the rows' column indices and (normalised)
        values, ``offsets`` where each row starts in them.
        """
        h = nn.functional.embedding_bag(items, self.encoder_in, offsets, mode="sum",
                                        per_sample_weights=weights.to(self.encoder_in.dtype))
        h = self.encoder_out(torch.tanh(h + self.encoder_in_bias))
        if not self.variational:
            return torch.tanh(h), None
        return h[:, :self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Unnormalised item logits ``f_theta(z)``."""
        return self.decoder_out(torch.tanh(self.decoder_hidden(z)))
