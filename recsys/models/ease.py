"""EASE: embarrassingly shallow autoencoder, a closed-form item-item model (Steck 2019)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from recsys.data.dataset import Dataset
from recsys.models.base import Recommender
from recsys.models.similarity import SimilarItems, top_similar
from recsys.models.weighting import apply_weighting
from recsys.training.device import resolve_device
from recsys.training.options import FitOptions
from recsys.training.progress import ProgressEvent

# Dense n_items^2 weights: 20,000 items is 1.6 GB per float32 copy and the solve holds ~3.
MAX_ITEMS = 20_000
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class EASE(Recommender):
    """Linear item-item autoencoder with a zero diagonal, solved in closed form.

    Learns B minimising ``||X - X B||^2 + lambda ||B||^2`` subject to
    ``diag(B) = 0``; with ``P = (X^T X + lambda I)^-1`` the solution is
    ``B = I - P diag(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj`` off the diagonal
    (Steck 2019, eq. 8). A user's scores are their history row times B.

    Parameters
    ----------
    regularization : float in [1, 1e5], default 200.0
        The L2 weight lambda. Larger for bigger or noisier data (a few hundred
        suits 10^4-10^6 events); too small over-fits co-occurrence noise.
    weighting : {"binary", "log", "raw"}, default "binary"
        How summed event weights enter X (Steck uses binary X).
    dtype : {"float32", "float64"}, default "float32"
        Precision of the solve; float32 halves memory and time and ranks the
        same in practice, float64 for exact comparisons.

    Attributes
    ----------
    weights_ : ndarray of shape (n_items, n_items), float32
        B; ``weights_[i, j]`` is how much having item i raises the score of j.

    Notes
    -----
    O(nnz-based gram + n_items^3) time and O(n_items^2) memory, on torch on the
    chosen device (Cholesky factor and inverse). Catalogs above 20,000 items are
    refused: use ItemKNN there. Scoring is one sparse-dense product per batch.

    References
    ----------
    Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.
    """

    key = "ease"
    capabilities = frozenset({"similar_items", "gpu"})

    def __init__(self, regularization: float = 200.0, weighting: str = "binary", dtype: str = "float32"):
        self.regularization = regularization
        self.weighting = weighting
        self.dtype = dtype

    def _fit(self, train: Dataset, options: FitOptions) -> None:
        if train.n_items > MAX_ITEMS:
            raise ValueError(f"EASE needs a dense {train.n_items:,} x {train.n_items:,} matrix; catalogs above "
                             f"{MAX_ITEMS:,} items are not supported. Use ItemKNN for large catalogs.")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {self.dtype!r}")
        device = resolve_device(options.device)
        x = apply_weighting(self.history_, self.weighting)
        self.weights_ = ease_weights(x, float(self.regularization), device, _DTYPES[self.dtype])
        options.emit(ProgressEvent(stage="fit", step=1, total=1, elapsed=options.elapsed(),
                                   message=f"closed-form solve on {device}"))

    def _score(self, users: np.ndarray, *, context: dict | None = None) -> np.ndarray:
        rows = apply_weighting(self.history_[users], self.weighting)
        return np.asarray(rows @ self.weights_, dtype=np.float32)

    def similar_items(self, item_idx: int, k: int = 10) -> SimilarItems:
        """Items whose score rises most when ``item_idx`` is in a history (row of B)."""
        self._check_fitted()
        return top_similar(item_idx, self.weights_[int(item_idx)], k)

    def _get_state(self):
        return {"weights_": self.weights_}, None

    def _set_state(self, arrays: dict, state_dict: dict | None) -> None:
        self.weights_ = np.asarray(arrays["weights_"], dtype=np.float32)


def ease_weights(x: sp.csr_matrix, regularization: float, device: torch.device,
                 dtype: torch.dtype = torch.float32) -> np.ndarray:
    """B = I - P / diag(P) with P = (X^T X + lambda I)^-1 and diag(B) = 0, as float32 numpy."""
    if regularization <= 0:
        raise ValueError(f"regularization must be > 0, got {regularization!r}")
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    # The gram is cheap as a sparse product (sum of squared user degrees); only the solve is dense.
    gram = torch.from_numpy(np.asarray((x.T @ x).toarray(), dtype=np_dtype)).to(device)
    gram.diagonal().add_(regularization)
    chol = torch.linalg.cholesky(gram)
    del gram
    p = torch.cholesky_inverse(chol)
    del chol
    diag = p.diagonal().clone()
    p.div_(-diag.unsqueeze(0))
    p.fill_diagonal_(0.0)
    return p.to(device="cpu", dtype=torch.float32).numpy()
