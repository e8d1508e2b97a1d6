"""GRU4Rec: a recurrent network over the time-ordered history, predicting the next item."""

from __future__ import annotations

import math

import torch

from recsys.models.nn.gru4rec_net import GRU4RecNet
from recsys.models.sequences import SequentialRecommender


class GRU4Rec(SequentialRecommender):
    """Next-item prediction from a GRU's state after each item of the customer's history.

    The GRU reads the (right-padded, last ``max_len``) item sequence; its state
    after item t, projected to the item space, scores every catalog item as the
    item after t by a dot product with the shared item embedding (Hidasi et al.
    2016). Training predicts at every position of windows cut from each history
    (``recsys.models.sequences.training_windows``) with cross-entropy over the whole
    catalog, the loss Hidasi & Czapp (2023) find strongest for GRU4Rec.

    Parameters
    ----------
    max_len : int in [5, 1000], default 200
        Most recent items fed to the model; longer histories are cut into windows
        for training. A GRU step is sequential, so cost grows linearly with it.
    embedding_dim : int in [8, 1024], default 64
        Item embedding size (input and output).
    hidden_size : int in [8, 1024], default 256
        GRU state size.
    n_layers : int in [1, 4], default 1
        Stacked GRU layers.
    dropout : float in [0, 0.9], default 0.2
        On the input embeddings and the GRU outputs (and between layers).
    learning_rate : float in [1e-5, 0.1], default 5e-3
        Adam step size.
    weight_decay : float in [0, 0.1], default 0
        Adam L2 penalty.
    epochs : int in [1, 1000], default 12
        Passes over all training windows (at most, with early stopping).
    batch_size : int in [8, 4096], default 16
        Windows (sequences) per step.
    patience : int in [1, 100], default 5
        With ``options.validation``: epochs without a better validation NDCG@10
        before stopping; the best epoch is kept.
    window_shift : bool, default True
        Redraw each user's window boundaries every epoch (seeded); off, fixed.
    n_negatives : int in [0, 100000], default 0
        0: the loss scores every catalog item (full softmax). Otherwise that many
        uniformly drawn items per step serve as negatives: cheaper for catalogs too
        large for the full softmax, but it learns less per epoch.

    Attributes
    ----------
    network_ : GRU4RecNet
    sequence_indptr_, sequence_items_ : ndarray
        The fitted histories (CSR, oldest first): scoring input for ``user_idx``.
    loss_history_ : ndarray
        Mean training cross-entropy per epoch.

    Notes
    -----
    Histories are time-ordered (frame order where timestamps tie or are absent),
    and consecutive events on the same item (a view, click and purchase of one
    item) count as one step. The step size warms up over the first epoch and then
    decays to zero by ``epochs`` (cosine), so a fixed budget without validation
    data still ends on a settled model.

    Cost per epoch: O(E (d h + h^2) + E n_items d) for E training events, the full
    softmax dominating for large catalogs (computed in chunks, bounded memory).
    Scoring a user runs the GRU over at most ``max_len`` items.

    Deviations from the papers: each customer's whole history is one sequence
    (user-parallel padded mini-batches, not session-parallel ones: the dashboard
    predicts per customer across sessions); full softmax cross-entropy instead of
    TOP1/BPR(-max) with sampled negatives; Adam instead of Adagrad; a shared
    (tied) item embedding for input and output, scaled by ``sqrt(embedding_dim)``
    on the way in (``GRU4RecNet``).

    References
    ----------
    Hidasi, Karatzoglou, Baltrunas & Tikk, "Session-based Recommendations with
    Recurrent Neural Networks", ICLR 2016.
    Hidasi & Karatzoglou, "Recurrent Neural Networks with Top-k Gains for
    Session-based Recommendations", CIKM 2018.
    Hidasi & Czapp, "The Effect of Third Party Implementations on Reproducibility",
    RecSys 2023.
    """

    key = "gru4rec"
    capabilities = frozenset({"sequential", "gpu"})
    pad_side = "right"

    def __init__(self, max_len: int = 200, embedding_dim: int = 64, hidden_size: int = 256, n_layers: int = 1,
                 dropout: float = 0.2, learning_rate: float = 5e-3, weight_decay: float = 0.0,
                 epochs: int = 12, batch_size: int = 16, patience: int = 5, window_shift: bool = True,
                 n_negatives: int = 0):
        self.max_len = max_len
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.window_shift = window_shift
        self.n_negatives = n_negatives

    def _network_config(self) -> dict:
        return {"n_items": int(self.n_items_), "dim": int(self.embedding_dim), "hidden_size": int(self.hidden_size),
                "layers": int(self.n_layers), "dropout": float(self.dropout),
                "input_scale": math.sqrt(int(self.embedding_dim))}

    def _network_from_config(self, config: dict) -> torch.nn.Module:
        return GRU4RecNet(**config)
