"""Neural matrix factorisation (He et al. 2017) on the shared torch scaffold."""

from __future__ import annotations

import numpy as np
import torch

from recsys.data.dataset import Dataset
from recsys.models.bpr import NegativeSampler
from recsys.models.nn.neumf_net import NeuMFNet
from recsys.models.torch_model import CANCEL_EVERY_BATCHES, TorchRecommender
from recsys.training.options import FitOptions


class NeuMF(TorchRecommender):
    """A generalised MF tower and an MLP tower over user and item embeddings, fused.

    ``y_ui = sigma(h^T [p_u * q_i ; MLP([p'_u ; q'_i])])`` (He et al. 2017, eq. 12),
    trained pointwise with binary cross-entropy (eq. 7) on every observed
    (user, item) pair and ``n_negatives`` items per pair sampled uniformly from
    the items the user has not touched.

    Parameters
    ----------
    factors : int in [2, 256], default 32
        Predictive factors: the GMF embedding size and the width of the MLP's last
        layer. The MLP tower doubles its width per layer below that, so its
        embeddings have ``factors * 2 ** (mlp_layers - 1)`` dimensions.
    mlp_layers : int in [1, 5], default 2
        Hidden layers in the MLP tower.
    n_negatives : int in [1, 20], default 4
        Sampled negatives per observed pair and epoch (the paper finds 3 to 6 best).
    dropout : float in [0, 0.9], default 0.0
        Dropout between the MLP's hidden layers.
    learning_rate : float in [1e-5, 0.1], default 0.002
        Adam step size.
    weight_decay : float in [0, 0.1], default 0.0
        Adam L2 penalty on all weights.
    epochs : int in [1, 1000], default 40
        Passes over the observed pairs (an upper bound with early stopping).
    batch_size : int in [64, 65536], default 2048
        Observed pairs per step; each step trains on ``batch_size * (1 + n_negatives)`` examples.
    patience : int in [1, 100], default 10
        With ``options.validation``: stop after this many epochs without a better
        validation NDCG@10, and keep the best epoch.

    Attributes
    ----------
    network_ : NeuMFNet
        The fitted network (embeddings, MLP, output layer).
    loss_history_ : ndarray of shape (epochs_run,)
        Mean BCE per epoch.
    best_epoch_ : int
        The epoch kept (the last without validation data).

    Notes
    -----
    An epoch costs O(nnz (1 + n_negatives) d^2) for MLP width d. Scoring a batch of
    b users costs O(b n_items d^2); the first MLP layer, linear in the concatenated
    embeddings, is split into a user part and an item part computed once per batch,
    and pairs are materialised in item chunks to bound memory. Event weights are
    ignored (any interaction is a positive).

    Deviations from the paper: the towers are trained jointly from a random start
    rather than initialised from separately pre-trained GMF and MLP models (the
    paper's gain from pre-training is small next to early stopping), with Adam
    and optional dropout. Negatives are never one of the user's positives (the
    paper samples from unobserved items too).

    References
    ----------
    He, Liao, Zhang, Nie, Hu & Chua, "Neural Collaborative Filtering", WWW 2017.
    """

    key = "neumf"
    capabilities = frozenset({"embeddings", "gpu"})

    def __init__(self, factors: int = 32, mlp_layers: int = 2, n_negatives: int = 4, dropout: float = 0.0,
                 learning_rate: float = 0.002, weight_decay: float = 0.0, epochs: int = 40,
                 batch_size: int = 2048, patience: int = 10):
        self.factors = factors
        self.mlp_layers = mlp_layers
        self.n_negatives = n_negatives
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience

    # ----- scaffold hooks ------------------------------------------------------
    def _build_network(self, train: Dataset) -> NeuMFNet:
        if int(self.factors) < 1 or int(self.mlp_layers) < 1 or int(self.n_negatives) < 1:
            raise ValueError("factors, mlp_layers and n_negatives must be at least 1")
        return NeuMFNet(train.n_users, train.n_items, int(self.factors), int(self.mlp_layers),
                        float(self.dropout))

    def _network_config(self) -> dict:
        return self.network_.config()

    def _network_from_config(self, config: dict) -> NeuMFNet:
        return NeuMFNet(**config)

    def _prepare(self, train: Dataset, device: torch.device, options: FitOptions) -> None:
        coo = self.history_.tocoo()
        self.pos_users_ = torch.from_numpy(coo.row.astype(np.int64)).to(device)
        self.pos_items_ = torch.from_numpy(coo.col.astype(np.int64)).to(device)
        self.sampler_ = NegativeSampler(self.pos_users_, self.pos_items_, train.n_items)

    def _release_training_data(self) -> None:
        super()._release_training_data()
        for name in ("pos_users_", "pos_items_", "sampler_"):
            self.__dict__.pop(name, None)

    def _examples(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Users, items and 0/1 labels of one step: the batch's positives and their negatives."""
        users, items = self.pos_users_[batch], self.pos_items_[batch]
        neg_users = users.repeat(int(self.n_negatives))
        neg_items, ok = self.sampler_.sample(neg_users, self.generator_)
        neg_users, neg_items = neg_users[ok], neg_items[ok]
        labels = torch.cat([torch.ones_like(users, dtype=torch.float32),
                            torch.zeros_like(neg_users, dtype=torch.float32)])
        return torch.cat([users, neg_users]), torch.cat([items, neg_items]), labels

    def _train_epoch(self, epoch: int, optimizer: torch.optim.Optimizer, options: FitOptions) -> float:
        total, count = torch.zeros((), device=self.device_), 0
        for b, batch in self.batches(len(self.pos_users_)):
            if b % CANCEL_EVERY_BATCHES == 0:
                options.check_cancel()
            users, items, labels = self._examples(batch)
            with self.autocast():
                logits = self.network_(users, items)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # Summed on the device: float(loss) every step would make the host wait for the GPU.
            total += loss.detach() * len(labels)
            count += len(labels)
        return float(total) / max(count, 1)

    def _score_tensor(self, users: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return self.network_.score_all(users)

    # ----- embeddings ------------------------------------------------------------
    def user_embeddings(self) -> np.ndarray:
        """Each user's GMF and MLP embeddings side by side, (n_users, factors + mlp_dim)."""
        self._check_fitted()
        net = self.network_
        return torch.cat([net.user_gmf.weight, net.user_mlp.weight], 1).detach().float().cpu().numpy()

    def item_embeddings(self) -> np.ndarray:
        """Each item's GMF and MLP embeddings side by side, (n_items, factors + mlp_dim)."""
        self._check_fitted()
        net = self.network_
        return torch.cat([net.item_gmf.weight, net.item_mlp.weight], 1).detach().float().cpu().numpy()
