"""SASRec: self-attentive sequential recommendation, trained with full softmax cross-entropy."""

from __future__ import annotations

import numpy as np
import torch

from recsys.models.nn.sasrec_net import SASRecNet
from recsys.models.sequences import PAD, SequentialRecommender


class SASRec(SequentialRecommender):
    """Next-item prediction with causal self-attention over the customer's recent history.

    Each position of the (left-padded, last ``max_len``) item sequence attends to
    itself and earlier items only; the state at position t scores every catalog item
    as the item after t by a dot product with the shared item embedding (Kang &
    McAuley 2018). Training predicts at every position of windows cut from each
    history (``recsys.models.sequences.training_windows``) with cross-entropy
    over the whole catalog, which Klenitskiy & Vasilev (2023) found beats both the
    original sampled binary loss and BERT4Rec.

    Parameters
    ----------
    max_len : int in [5, 1000], default 200
        Most recent items fed to the model; longer histories are cut into windows
        for training. Attention costs O(max_len^2) per sequence.
    hidden_size : int in [8, 1024], default 64
        Embedding and state size (divisible by ``n_heads``).
    n_blocks : int in [1, 8], default 2
        Self-attention blocks.
    n_heads : int in [1, 8], default 1
        Attention heads per block.
    dropout : float in [0, 0.9], default 0.3
        On embeddings, attention weights and block outputs.
    learning_rate : float in [1e-5, 0.1], default 2e-3
        Adam step size.
    weight_decay : float in [0, 0.1], default 0
        Adam L2 penalty.
    epochs : int in [1, 1000], default 15
        Passes over all training windows (at most, with early stopping).
    batch_size : int in [8, 4096], default 16
        Windows (sequences) per step.
    patience : int in [1, 100], default 5
        With ``options.validation``: epochs without a better validation NDCG@10
        before stopping; the best epoch is kept.
    window_shift : bool, default True
        Redraw each user's window boundaries every epoch (seeded), so events are
        predicted from contexts of varying length; off, the windows are fixed.
    n_negatives : int in [0, 100000], default 0
        0: the loss scores every catalog item (full softmax). Otherwise that many
        uniformly drawn items per step serve as negatives: cheaper for catalogs too
        large for the full softmax, but it learns less per epoch.

    Attributes
    ----------
    network_ : SASRecNet
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

    Cost per epoch: O(E (max_len d + d^2) + E n_items d) for E training events,
    the second term (the full softmax) dominating for large catalogs; the loss is
    computed in chunks, so memory stays bounded whatever the catalog size. Scoring
    a user costs one forward pass plus a (d x n_items) product.

    Deviations from the paper: full cross-entropy instead of one sampled negative
    with binary cross-entropy; pre-norm blocks (layer norm before attention and
    feed-forward, not on the queries only) with GELU; the whole history is used
    through windows, not only its last ``max_len`` items; Adam without the
    paper's L2 on embeddings by default.

    References
    ----------
    Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018.
    Klenitskiy & Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec really better
    than SASRec?", RecSys 2023.
    """

    key = "sasrec"
    capabilities = frozenset({"sequential", "gpu", "attention"})
    pad_side = "left"

    def __init__(self, max_len: int = 200, hidden_size: int = 64, n_blocks: int = 2, n_heads: int = 1,
                 dropout: float = 0.3, learning_rate: float = 2e-3, weight_decay: float = 0.0,
                 epochs: int = 15, batch_size: int = 16, patience: int = 5, window_shift: bool = True,
                 n_negatives: int = 0):
        self.max_len = max_len
        self.hidden_size = hidden_size
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.window_shift = window_shift
        self.n_negatives = n_negatives

    def _network_config(self) -> dict:
        return {"n_items": int(self.n_items_), "max_len": int(self.max_len), "dim": int(self.hidden_size),
                "blocks": int(self.n_blocks), "heads": int(self.n_heads), "dropout": float(self.dropout)}

    def _network_from_config(self, config: dict) -> torch.nn.Module:
        return SASRecNet(**config)

    @torch.no_grad()
    def attention(self, user_idx: int | None = None, *, history: np.ndarray | None = None,
                  trim: bool = True) -> np.ndarray:
        """Attention weights for one history, shape (n_blocks, n_heads, L, L), float32.

        Give ``user_idx`` (its fitted history) or ``history`` (item indices, oldest
        first; the last ``max_len`` count). Row i holds how much position i attends
        to each position: rows sum to 1 over positions <= i and are 0 above the
        diagonal. With ``trim`` L is the history length (no padding); without it,
        L = ``max_len`` and padding rows and columns are 0. Attention shows what the
        model looked at, not an attribution of the score.
        """
        self._check_fitted()
        if (user_idx is None) == (history is None):
            raise ValueError("give exactly one of user_idx or history")
        seq = self.user_sequence(user_idx) if history is None else history
        padded = self._pad_checked([seq])
        self.network_.eval()
        _, weights = self.network_.encode(torch.as_tensor(padded, device=self.device_))
        out = torch.stack([w[0] for w in weights]).float().cpu().numpy()
        if trim:
            n = int((padded[0] != PAD).sum())
            out = out[:, :, -n:, -n:] if n else out[:, :, :0, :0]
        return out
