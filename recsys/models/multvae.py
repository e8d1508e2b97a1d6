"""Variational and denoising autoencoders with a multinomial likelihood (Liang et al. 2018)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data.dataset import Dataset
from recsys.models.nn.vae_net import MultAutoencoderNet
from recsys.models.torch_model import CANCEL_EVERY_BATCHES, TorchRecommender
from recsys.models.weighting import WEIGHTINGS, apply_weighting
from recsys.training.options import FitOptions

# With total_anneal_steps=0, beta reaches its cap after this many epochs, whatever the data size.
AUTO_ANNEAL_EPOCHS = 10

_COMMON_PARAMETERS = """
    hidden_dim : int in [16, 4096], default 600
        Width of the hidden layer of the encoder and of the decoder.
    latent_dim : int in [2, 1024], default 200
        Size of the user representation ``z``.
    dropout : float in [0, 0.95], default 0.5
        Share of the input row's entries dropped while training (the corruption
        the model learns to undo).
    weighting : {"binary", "log", "raw"}, default "binary"
        How summed event weights become the input row (``recsys.models.weighting``).
    learning_rate : float in [1e-5, 0.1], default 0.001
        Adam step size.
    weight_decay : float in [0, 0.1], default 0.0
        Adam L2 penalty on all weights."""

_TRAINING_PARAMETERS = """
    epochs : int in [1, 2000], default 200
        Passes over the users (an upper bound with early stopping).
    batch_size : int in [8, 65536], default 128
        Users per step.
    patience : int in [1, 200], default 20
        With ``options.validation``: stop after this many epochs without a better
        validation NDCG@10, and keep the best epoch."""


@dataclass(frozen=True)
class _RowBatch:
    """Weighted history rows in CSR form on the device: ``rows``/``items``/``values`` per stored entry."""

    n_rows: int
    rows: torch.Tensor
    items: torch.Tensor
    offsets: torch.Tensor
    values: torch.Tensor
    normalised: torch.Tensor


class _MultAutoencoder(TorchRecommender):
    """What Mult-VAE and Mult-DAE share: the input, the training step, scoring and fold-in."""

    capabilities = frozenset({"embeddings", "gpu", "cold_start_users"})
    _variational = True

    # ----- scaffold hooks ------------------------------------------------------
    def _build_network(self, train: Dataset) -> MultAutoencoderNet:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        return MultAutoencoderNet(train.n_items, int(self.hidden_dim), int(self.latent_dim), self._variational)

    def _network_config(self) -> dict:
        return self.network_.config()

    def _network_from_config(self, config: dict) -> MultAutoencoderNet:
        return MultAutoencoderNet(**config)

    def _prepare(self, train: Dataset, device: torch.device, options: FitOptions) -> None:
        self.rows_ = apply_weighting(self.history_, self.weighting)
        self.active_ = np.flatnonzero(np.diff(self.rows_.indptr) > 0)
        self.step_ = 0
        steps_per_epoch = -(-len(self.active_) // int(self.batch_size))
        self.anneal_steps_ = int(getattr(self, "total_anneal_steps", 0)) or AUTO_ANNEAL_EPOCHS * steps_per_epoch

    def _release_training_data(self) -> None:
        super()._release_training_data()
        for name in ("rows_", "active_", "step_", "anneal_steps_"):
            self.__dict__.pop(name, None)

    def _beta(self) -> float:
        if not self._variational:
            return 0.0
        return float(self.anneal_cap) * min(1.0, self.step_ / max(self.anneal_steps_, 1))

    def _train_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, options: FitOptions) -> float:
        total, count = torch.zeros((), device=self.device_), 0
        keep = 1.0 - float(self.dropout)
        for b, batch in self.batches(len(self.active_)):
            if b % CANCEL_EVERY_BATCHES == 0:
                options.check_cancel()
            rows = self._row_batch(self.rows_[self.active_[batch.cpu().numpy()]])
            # Inverted dropout on the normalised row (the authors' tf.nn.dropout); zeros stay zero,
            # so only the stored entries need a mask.
            mask = torch.rand(rows.values.shape, generator=self.generator_, device=self.device_) < keep
            with self.autocast():
                mu, logvar = self.network_.encode(rows.items, rows.offsets, rows.normalised * mask / keep)
                z = mu
                if logvar is not None:
                    noise = torch.randn(mu.shape, generator=self.generator_, device=self.device_)
                    z = mu + noise * torch.exp(0.5 * logvar)  # reparameterisation, eq. 5
                logits = self.network_.decode(z)
            # Multinomial log-likelihood sum_i x_ui log pi_i (eq. 2) over the stored entries, in float32.
            log_pi = torch.log_softmax(logits.float(), 1)
            nll = -(rows.values * log_pi[rows.rows, rows.items]).sum() / rows.n_rows
            loss = nll
            if logvar is not None:
                mu, logvar = mu.float(), logvar.float()
                kl = (0.5 * (torch.exp(logvar) + mu * mu - 1.0 - logvar)).sum(1).mean()
                loss = nll + self._beta() * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.step_ += 1
            total += loss.detach() * rows.n_rows
            count += rows.n_rows
        return float(total) / max(count, 1)

    def _score_tensor(self, users: torch.Tensor) -> torch.Tensor:
        rows = apply_weighting(self.history_[users.cpu().numpy()], self.weighting)
        return self._logits(self._row_batch(rows))

    # ----- scoring from a history row --------------------------------------------
    def _row_batch(self, matrix: sp.csr_matrix) -> "_RowBatch":
        """A CSR block of weighted rows as device tensors, with L2-normalised values."""
        matrix = sp.csr_matrix(matrix)
        lengths = np.diff(matrix.indptr)
        rows = np.repeat(np.arange(matrix.shape[0]), lengths)
        norms = np.sqrt(np.bincount(rows, weights=np.square(matrix.data, dtype=np.float64),
                                    minlength=matrix.shape[0]))
        normalised = matrix.data / np.maximum(norms, 1e-12)[rows]
        device = self.device_
        return _RowBatch(n_rows=matrix.shape[0], rows=_tensor(rows, np.int64, device),
                         items=_tensor(matrix.indices, np.int64, device),
                         offsets=_tensor(matrix.indptr[:-1], np.int64, device),
                         values=_tensor(matrix.data, np.float32, device),
                         normalised=_tensor(normalised, np.float32, device))

    def _encode(self, rows: "_RowBatch") -> torch.Tensor:
        return self.network_.encode(rows.items, rows.offsets, rows.normalised)[0]

    def _logits(self, rows: "_RowBatch") -> torch.Tensor:
        with self.autocast():
            return self.network_.decode(self._encode(rows))

    def _weighted_blocks(self, matrix: sp.spmatrix):
        rows = apply_weighting(sp.csr_matrix(matrix), self.weighting)
        for start in range(0, rows.shape[0], self.score_batch):
            yield self._row_batch(rows[start:start + self.score_batch])

    @torch.no_grad()
    def fold_in(self, history_rows: sp.spmatrix) -> np.ndarray:
        """Scores of every item for each history row (users seen in training or not).

        Parameters
        ----------
        history_rows : sparse matrix of shape (n_rows, n_items)
            Summed event weights per item, as ``Dataset.matrix()`` gives them; the
            model's ``weighting`` is applied here. An empty row gets the scores of
            a user without history (close to popularity).

        Returns
        -------
        ndarray of shape (n_rows, n_items), float32
            Higher is better. Items in the row are not masked out.

        Notes
        -----
        O(n_rows n_items hidden_dim), in blocks of ``score_batch`` rows. Nothing
        about the rows is stored: the model is not changed.
        """
        self._check_fitted()
        if history_rows.shape[1] != self.n_items_:
            raise ValueError(f"history rows have {history_rows.shape[1]} columns, "
                             f"the model knows {self.n_items_} items")
        self.network_.eval()
        out = [self._logits(block).float().cpu().numpy() for block in self._weighted_blocks(history_rows)]
        return np.concatenate(out) if out else np.zeros((0, self.n_items_), np.float32)

    # ----- embeddings ------------------------------------------------------------
    @torch.no_grad()
    def user_embeddings(self) -> np.ndarray:
        """The encoder's mean ``mu(x_u)`` for every user, (n_users, latent_dim)."""
        self._check_fitted()
        self.network_.eval()
        out = []
        for block in self._weighted_blocks(self.history_):
            with self.autocast():
                out.append(self._encode(block).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, int(self.latent_dim)), np.float32)

    def item_embeddings(self) -> np.ndarray:
        """The decoder's output weights, one row per item, (n_items, hidden_dim)."""
        self._check_fitted()
        return self.network_.decoder_out.weight.detach().float().cpu().numpy()


class MultVAE(_MultAutoencoder):
    __doc__ = f"""A variational autoencoder that reconstructs a user's history as a distribution over items.

    The encoder maps the user's (L2-normalised, dropout-corrupted) history row
    ``x_u`` to ``q(z_u | x_u) = N(mu, diag sigma^2)``; the decoder maps ``z_u`` to a
    softmax ``pi(z_u)`` over items, and the loss is the annealed negative ELBO
    ``-sum_i x_ui log pi_i(z_u) + beta KL(q(z_u | x_u) || N(0, I))`` (Liang et al.
    2018, eq. 3 and 6). ``beta`` ramps linearly from 0 to ``anneal_cap`` over
    ``total_anneal_steps`` optimiser steps. Scores are the decoder's logits for
    ``z = mu(x_u)``, computed from the history row at scoring time: there is no
    per-user parameter, so ``fold_in`` scores users never seen in training.

    Parameters
    ----------{_COMMON_PARAMETERS}
    anneal_cap : float in [0, 1], default 0.2
        Largest KL weight ``beta`` (the paper's best runs stop near 0.2).
    total_anneal_steps : int in [0, 10_000_000], default 0
        Optimiser steps over which ``beta`` ramps from 0 to ``anneal_cap``; 0 means
        the steps of the first 10 epochs, whatever the data size.{_TRAINING_PARAMETERS}

    Attributes
    ----------
    network_ : MultAutoencoderNet
        Encoder and decoder.
    loss_history_ : ndarray of shape (epochs_run,)
        Mean loss per epoch.
    best_epoch_ : int
        The epoch kept (the last without validation data).

    Notes
    -----
    The encoder reads each row as a weighted bag of its items, O(nnz hidden_dim);
    the decoder's softmax over the whole catalog dominates: an epoch costs
    O(n_users n_items hidden_dim), and scoring b users O(b n_items hidden_dim).
    Memory holds the weights (about ``2 n_items hidden_dim`` floats) and one
    batch of logits.

    Deviations from the paper: ``beta`` ramps to ``anneal_cap`` over
    ``total_anneal_steps`` (the authors' code ramps towards 1 and clips at the
    cap) and by default over 10 epochs rather than a fixed 200,000 steps, which
    a small dataset never reaches: its ``beta`` would stay near 0 and the model
    overfit within a few dozen epochs (on MovieLens-small the early ramp adds
    about 0.01 NDCG@10). Adam's optional weight decay replaces the paper's L2
    term, and the input may be event-weighted (``weighting``), the multinomial
    likelihood then counting strong events more.

    References
    ----------
    Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for Collaborative
    Filtering", WWW 2018.
    """

    key = "multvae"

    def __init__(self, hidden_dim: int = 600, latent_dim: int = 200, dropout: float = 0.5,
                 weighting: str = "binary", learning_rate: float = 0.001, weight_decay: float = 0.0,
                 anneal_cap: float = 0.2, total_anneal_steps: int = 0, epochs: int = 200,
                 batch_size: int = 128, patience: int = 20):
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.weighting = weighting
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.anneal_cap = anneal_cap
        self.total_anneal_steps = total_anneal_steps
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience


class MultDAE(_MultAutoencoder):
    __doc__ = f"""A denoising autoencoder over the user's history row with a multinomial likelihood.

    Mult-DAE of Liang et al. (2018, section 2.3): the same encoder, decoder and
    softmax likelihood as ``MultVAE`` but a deterministic code ``z_u = g(x_u)``
    and no KL term, so the only regulariser is the input dropout. Often as
    accurate as Mult-VAE and a little faster to train. Scores come from the
    history row at scoring time, so ``fold_in`` scores users never seen in training.

    Parameters
    ----------{_COMMON_PARAMETERS}{_TRAINING_PARAMETERS}

    Attributes
    ----------
    network_ : MultAutoencoderNet
    loss_history_ : ndarray of shape (epochs_run,)
    best_epoch_ : int

    Notes
    -----
    Costs as ``MultVAE``. Deviations from the paper: Adam's optional weight decay
    replaces the paper's L2 term; the input may be event-weighted.

    References
    ----------
    Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for Collaborative
    Filtering", WWW 2018.
    """

    key = "multdae"
    _variational = False

    def __init__(self, hidden_dim: int = 600, latent_dim: int = 200, dropout: float = 0.5,
                 weighting: str = "binary", learning_rate: float = 0.001, weight_decay: float = 0.0,
                 epochs: int = 200, batch_size: int = 128, patience: int = 20):
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.weighting = weighting
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience


def _tensor(values: np.ndarray, dtype: type, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype)).to(device)
