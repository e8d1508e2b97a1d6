"""SASRec's attention over the customer's history positions, per layer and head.

The state at the last position scores every catalog item, so its attention row is
what the model "looked at" when recommending. ``aggregate="last_layer"`` shows the
last block's row averaged over heads; ``"rollout"`` (Abnar & Zuidema 2020) also
follows the residual stream through the earlier blocks (``0.5 A + 0.5 I`` per block,
multiplied). Either way the weights sum to one and do not depend on the recommended
item: attention is not attribution (Jain & Wallace 2019).
"""

from __future__ import annotations

import time

import numpy as np

from recsys.data.dataset import Dataset
from recsys.explain.record import Explanation, history_frame
from recsys.explain.whatif import sequence_window
from recsys.models.base import Recommender

AGGREGATES = ("last_layer", "rollout")
CAVEAT = ("Attention is not attribution: these weights show where the model looked, they do not "
          "add up to the score and are the same for every recommended item.")


def explain_attention(model: Recommender, data: Dataset, user_idx: int, item_idx: int, *,
                      aggregate: str = "rollout") -> Explanation:
    """Attention of the last history position over the positions before it (SASRec only)."""
    if "attention" not in model.capabilities or not hasattr(model, "attention"):
        raise ValueError(f"{type(model).__name__} has no attention weights; attention explanations need SASRec")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    started = time.perf_counter()
    u, i = int(user_idx), int(item_idx)
    window = sequence_window(model, model.user_sequence(u))
    weights = model.attention(history=window)  # (blocks, heads, L, L)
    row = rollout(weights)[-1] if aggregate == "rollout" else weights[-1].mean(0)[-1]
    positions = np.arange(len(window))
    frame = history_frame(data, window, row, position=positions, steps_back=len(window) - 1 - positions)
    score = float(model.score([u], [i])[0, 0])
    meta = {"kind": "attention", "aggregate": aggregate, "n_blocks": int(weights.shape[0]),
            "n_heads": int(weights.shape[1]), "length": int(len(window)),
            "window_items": window.tolist(), "weights": np.round(weights, 6).tolist(),
            "seconds": time.perf_counter() - started, "caveats": [CAVEAT]}
    return Explanation(str(data.users.to_raw([u])[0]), str(data.items.to_raw([i])[0]), u, i, "attention",
                       model.key, score, float("nan"), frame, meta)


def rollout(weights: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): prod_l normalise(0.5 mean_h A_l + 0.5 I), (L, L)."""
    length = weights.shape[-1]
    out = np.eye(length)
    for layer in weights:
        a = 0.5 * layer.mean(0).astype(np.float64) + 0.5 * np.eye(length)
        a /= np.maximum(a.sum(1, keepdims=True), 1e-12)
        out = a @ out
    return out
