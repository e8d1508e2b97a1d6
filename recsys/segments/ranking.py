"""Where a customer's best target item falls in their full list (the ``rank`` affinity).

Numpy only: the local audience builder and Spark's Python workers share it, and the workers
must not import the model stack.
"""

from __future__ import annotations

import numpy as np


def best_target_rank(scores: np.ndarray, targets: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Per row: 1 + the items outside ``targets`` and ``seen`` (bool, like ``scores``) that outrank
    the best target item, ties broken by item index (as in a stable sort of the full list)."""
    on_target = scores[:, targets]
    best_pos = np.argmax(on_target, axis=1)  # first maximum: the lowest target index among ties
    best_item = targets[best_pos]
    best = on_target[np.arange(len(scores)), best_pos][:, None]
    competitor = ~seen
    competitor[:, targets] = False
    ahead = (scores > best) | ((scores == best) & (np.arange(scores.shape[1])[None, :] < best_item[:, None]))
    return 1.0 + (ahead & competitor).sum(axis=1)
