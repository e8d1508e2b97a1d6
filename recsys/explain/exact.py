"""Exact, additive explanations of the models whose score is a sum over the customer's history.

- ItemKNN: ``score_ui = sum_j x_uj s_ji`` (Sarwar et al. 2001), so history item j
  contributes ``x_uj s_ji``.
- EASE: ``score_ui = sum_j x_uj B_ji`` (Steck 2019), j contributes ``x_uj B_ji``.
- ALS: the user factor is the solve ``x_u = W^u Y^T C^u p(u)`` with
  ``W^u = (Y^T C^u Y + lambda n_u I)^-1``, so ``score_ui = y_i^T x_u = sum_j s^u_ij c_uj``
  with ``s^u = Y W^u Y^T`` (Hu, Koren & Volinsky 2008, section 5): j contributes
  ``s^u_ij c_uj``. Computed in float64; ``meta["residual"]`` is the model's float32
  score minus the sum.

The contributions sum to the score (base value 0).
"""

from __future__ import annotations

import time

import numpy as np

from recsys.data.dataset import Dataset
from recsys.explain.record import Explanation, history_frame
from recsys.models.base import Recommender
from recsys.models.weighting import apply_weighting

EXACT_MODELS = ("itemknn", "ease", "als")


def explain_exact(model: Recommender, data: Dataset, user_idx: int, item_idx: int) -> Explanation:
    """Per-history-item contributions that add up to the score of ``item_idx`` for ``user_idx``."""
    if model.key not in EXACT_MODELS:
        raise ValueError(f"exact explanations exist for ItemKNN, EASE and ALS, not {type(model).__name__}")
    started = time.perf_counter()
    u, i = int(user_idx), int(item_idx)
    row = apply_weighting(model.history_[u], model.weighting)
    items, x = row.indices.astype(np.int64), row.data.astype(np.float64)
    if model.key == "als":
        values, extra, formula = _als(model, items, x, i)
    else:
        if model.key == "itemknn":
            sim = model.similarity_[items][:, [i]].toarray().ravel().astype(np.float64)
            formula = "score = sum_j x_uj * s_ji (shrunk cosine, top-k neighbours)"
        else:
            sim = model.weights_[items, i].astype(np.float64)
            formula = "score = sum_j x_uj * B_ji (EASE weights)"
        values, extra = x * sim, {"history_weight": x, "similarity": sim}
    score = float(model.score([u], [i])[0, 0])
    frame = history_frame(data, items, values, **extra)
    meta = {"kind": "history_items", "formula": formula, "weighting": model.weighting,
            "residual": score - float(values.sum()), "n_history": int(len(items)),
            "seconds": time.perf_counter() - started,
            "caveats": ["Exact: the contributions add up to the score (up to float rounding)."]}
    return Explanation(str(data.users.to_raw([u])[0]), str(data.items.to_raw([i])[0]), u, i, "exact",
                       model.key, score, 0.0, frame, meta)


def _als(model: Recommender, items: np.ndarray, w: np.ndarray, i: int):
    """Hu et al. 2008, section 5: contributions ``s^u_ij c_uj`` of the user's solve (eq. 4)."""
    y = model.item_factors_.astype(np.float64)
    alpha, reg = float(model.alpha), float(model.regularization)
    yj = y[items]
    # Same system as ALS._PaddedRows.solve: weighted-lambda penalty lambda * n_u, kept positive.
    lam = max(reg * len(items), 1e-6)
    a = y.T @ y + lam * np.eye(y.shape[1]) + (yj * (alpha * w)[:, None]).T @ yj
    s = yj @ np.linalg.solve(a, y[i])  # s^u_ij = y_i^T W^u y_j (W^u symmetric)
    c = 1.0 + alpha * w
    return s * c, {"confidence": c, "similarity": s}, "score = sum_j s^u_ij * c_uj (Hu et al. 2008, sec. 5)"
