"""Full-ranking NDCG@k on a validation set, for early stopping inside ``fit``.

Kept here (not in ``recsys.evaluation``) because models call it mid-training
with their own batch scorer; it ranks every item except the user's training
history, like the benchmark, never a sample of negatives.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

from recsys.data.dataset import Dataset


class RankingValidator:
    """NDCG@``k`` of a batch scorer on the validation users.

    Parameters
    ----------
    history : csr_matrix
        Users x items training history; its items are excluded from the ranking.
    validation : Dataset
        Held-out events sharing the training id maps; any event is relevant.
    k : int
        Cut-off (default 10).
    max_users : int
        Validation users are subsampled (seeded) to bound the cost per epoch.
    """

    def __init__(self, history: sp.csr_matrix, validation: Dataset, *, k: int = 10,
                 max_users: int = 5000, seed: int = 0, batch_size: int = 512):
        targets = validation.matrix(binary=True).tocsr()
        seen = sp.csr_matrix(history, dtype=bool)
        seen.data[:] = True
        # Only items new to the user can be found by a ranking that excludes history.
        targets = targets - targets.multiply(seen.astype(np.float32))
        targets.eliminate_zeros()
        users = np.flatnonzero(np.diff(targets.indptr) > 0)
        if len(users) > max_users:
            users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        self.users, self.k, self.batch_size = users.astype(np.int64), k, batch_size
        self._targets, self._seen = targets, seen
        self._discount = 1.0 / np.log2(np.arange(2, k + 2))

    def __len__(self) -> int:
        return len(self.users)

    def ndcg(self, score_batch: Callable[[np.ndarray], np.ndarray]) -> float:
        """Mean NDCG@k over the validation users (0.0 when there are none)."""
        if len(self.users) == 0:
            return 0.0
        total = 0.0
        for start in range(0, len(self.users), self.batch_size):
            users = self.users[start:start + self.batch_size]
            scores = np.array(score_batch(users), dtype=np.float32, copy=True)
            seen = self._seen[users]
            scores[seen.nonzero()] = -np.inf
            k = min(self.k, scores.shape[1])
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), 1, kind="stable"), 1)
            rel = self._targets[users]
            hits = np.asarray(rel[np.repeat(np.arange(len(users)), k), top.ravel()]).reshape(len(users), k) > 0
            dcg = (hits * self._discount[:k]).sum(1)
            n_rel = np.minimum(np.diff(rel.indptr), k)
            idcg = np.cumsum(self._discount[:k])[n_rel - 1]
            total += float((dcg / idcg).sum())
        return total / len(self.users)
