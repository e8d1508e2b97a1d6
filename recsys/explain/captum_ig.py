"""Integrated Gradients (Sundararajan et al. 2017) with Captum, summed to readable units.

IG attributes ``F(x) - F(x')`` along the straight path from a baseline ``x'`` to the
input; completeness says the attributions add up to that difference. The convergence
delta ``meta["delta"] = sum(attributions) - (F(x) - F(x'))`` is how far the numerical
integral is from it (``meta["converged"]``: within ``COMPLETENESS_TOLERANCE``).
Per model (baselines stated in ``meta["baseline"]``):

- GRU4Rec, SASRec: ``LayerIntegratedGradients`` on the item embedding layer; baseline:
  every history item replaced by the padding embedding (zero vector), positions and
  mask kept. Summed over dimensions: one value per history position.
- Hybrid: ``LayerIntegratedGradients`` on every field's embedding layer; baseline: all
  codes unknown (0), the value training's dropout teaches to mean "average". One value
  per field (``group`` says its feature group).
- MultVAE / MultDAE: the input layer is an embedding bag weighted by the normalised
  history row, so IG runs on that row (the layer's per-item weights); baseline: the
  empty row. One value per history item.
- NeuMF: IG on the four embedding vectors (customer/item x GMF/MLP); baseline: the
  mean customer and mean item embedding (ids have no neutral index).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch

from recsys.data.dataset import Dataset
from recsys.explain.record import Explanation, history_frame, sort_by_magnitude
from recsys.explain.whatif import sequence_window
from recsys.models.base import Recommender
from recsys.models.weighting import apply_weighting

CAPTUM_MODELS = ("neumf", "multvae", "multdae", "gru4rec", "sasrec", "hybrid")
DEFAULT_STEPS = 50
#: Completeness is met when |delta| <= this x max(1, |F(x) - F(x')|) (Gauss-Legendre, 50 steps).
COMPLETENESS_TOLERANCE = 0.01


def explain_captum(model: Recommender, data: Dataset, user_idx: int, item_idx: int, *,
                   n_steps: int = DEFAULT_STEPS, context: Mapping[str, Any] | None = None) -> Explanation:
    """IG attributions of the score of ``item_idx`` for ``user_idx`` (see the module docstring)."""
    if model.key not in CAPTUM_MODELS:
        raise ValueError(f"Captum attributions need a neural model with embedding layers (NeuMF, MultVAE, "
                         f"GRU4Rec, SASRec, Hybrid), not {type(model).__name__}")
    if context is not None and model.key != "hybrid":
        raise ValueError(f"{type(model).__name__} ignores the context")
    started = time.perf_counter()
    u, i = int(user_idx), int(item_idx)
    model.network_.eval()
    explain = {"gru4rec": _sequence, "sasrec": _sequence, "multvae": _row, "multdae": _row,
               "neumf": _neumf, "hybrid": _hybrid}[model.key]
    with torch.enable_grad(), warnings.catch_warnings():
        # Hybrid: several layers are attributed at once; Captum warns in case one feeds another (none does).
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        frame, fx, fb, meta = explain(model, data, u, i, int(n_steps), context)
    total = float(frame["value"].sum())
    # Completeness gap against the path's actual start (Captum's own delta re-runs the forward on
    # baseline *inputs*, which for SASRec would also mask the padded positions: another function).
    delta = total - (fx - fb)
    meta.update({"method": "integrated_gradients", "n_steps": int(n_steps), "delta": float(delta),
                 "f_input": fx, "f_baseline": fb, "sum_attributions": total,
                 "relative_delta": abs(float(delta)) / max(abs(fx - fb), 1e-6),
                 "tolerance": COMPLETENESS_TOLERANCE,
                 "converged": bool(abs(delta) <= COMPLETENESS_TOLERANCE * max(1.0, abs(fx - fb))),
                 "seconds": time.perf_counter() - started,
                 "caveats": [f"Attributions explain the score's difference from the baseline "
                             f"({meta['baseline']}); they add up to it within |delta| = {abs(float(delta)):.2g}."]})
    return Explanation(str(data.users.to_raw([u])[0]), str(data.items.to_raw([i])[0]), u, i, "captum",
                       model.key, fx, fb, frame, meta)


# ----- sequence models ------------------------------------------------------------------------

def _sequence(model, data, u, i, n_steps, context):
    from captum.attr import LayerIntegratedGradients

    window = sequence_window(model, model.user_sequence(u))
    if not len(window):
        raise ValueError("this customer has no history to attribute")
    net = model.network_
    seqs = torch.as_tensor(window[None, :] + 1, dtype=torch.long, device=model.device_)  # shift: PAD = 0

    def forward(s: torch.Tensor) -> torch.Tensor:
        # No padding (the window is the whole input), so the last position is the last item.
        return net(s)[:, -1] @ net.item_embedding.weight[i + 1]

    lig = LayerIntegratedGradients(forward, net.item_embedding)
    attr = lig.attribute(seqs, baselines=torch.zeros_like(seqs), n_steps=n_steps)
    values = attr.sum(-1)[0].detach().double().cpu().numpy()
    with torch.no_grad():
        fx = float(forward(seqs))
        with _zero_output(net.item_embedding):
            fb = float(forward(seqs))
    positions = np.arange(len(window))
    frame = history_frame(data, window, values, position=positions, steps_back=len(window) - 1 - positions)
    meta = {"kind": "history_items", "layer": "item_embedding",
            "baseline": "every history item replaced by the padding (zero) embedding, positions kept"}
    return frame, fx, fb, meta


@contextlib.contextmanager
def _zero_output(module: torch.nn.Module):
    handle = module.register_forward_hook(lambda _m, _i, out: torch.zeros_like(out))
    try:
        yield
    finally:
        handle.remove()


# ----- autoencoders -----------------------------------------------------------------------------

def _row(model, data, u, i, n_steps, context):
    from captum.attr import IntegratedGradients

    row = apply_weighting(model.history_[u], model.weighting)
    items = torch.as_tensor(row.indices.astype(np.int64), device=model.device_)
    if not len(items):
        raise ValueError("this customer has no history to attribute")
    norm = np.sqrt(np.square(row.data.astype(np.float64)).sum())
    x = torch.as_tensor((row.data / max(norm, 1e-12))[None, :], dtype=torch.float32, device=model.device_)
    net = model.network_
    n = len(items)

    def forward(weights: torch.Tensor) -> torch.Tensor:
        b = weights.shape[0]
        mu = net.encode(items.repeat(b), torch.arange(b, device=weights.device) * n, weights.reshape(-1))[0]
        return net.decode(mu)[:, i]

    attr = IntegratedGradients(forward).attribute(x, baselines=torch.zeros_like(x), n_steps=n_steps)
    with torch.no_grad():
        fx, fb = float(forward(x)), float(forward(torch.zeros_like(x)))
    frame = history_frame(data, row.indices, attr[0].detach().double().cpu().numpy(),
                          input_weight=x[0].cpu().numpy())
    meta = {"kind": "history_items", "layer": "encoder input (embedding bag over the history row)",
            "baseline": "the empty history row (a customer with no events)"}
    return frame, fx, fb, meta


# ----- NeuMF ------------------------------------------------------------------------------------

def _neumf(model, data, u, i, n_steps, context):
    from captum.attr import IntegratedGradients

    net = model.network_
    tables = (net.user_gmf, net.item_gmf, net.user_mlp, net.item_mlp)
    ids = (u, i, u, i)
    inputs = tuple(t.weight[j:j + 1].detach() for t, j in zip(tables, ids))
    baselines = tuple(t.weight.detach().mean(0, keepdim=True) for t in tables)

    def forward(ug, ig, um, im):
        mlp = net._tower(net.layers[0](torch.cat([um, im], 1)))
        return net.output(torch.cat([ug * ig, mlp], 1)).squeeze(1)

    attr = IntegratedGradients(forward).attribute(inputs, baselines=baselines, n_steps=n_steps)
    with torch.no_grad():
        fx, fb = float(forward(*inputs)), float(forward(*baselines))
    names = ["customer embedding (GMF)", "item embedding (GMF)", "customer embedding (MLP)",
             "item embedding (MLP)"]
    frame = sort_by_magnitude(pd.DataFrame({
        "feature": names, "value": [float(a.sum()) for a in attr],
        "group": ["customer", "item", "customer", "item"], "label": names}))
    meta = {"kind": "features", "layer": "user/item GMF and MLP embeddings",
            "baseline": "the mean customer and mean item embeddings"}
    return frame, fx, fb, meta


# ----- Hybrid -----------------------------------------------------------------------------------

def _hybrid(model, data, u, i, n_steps, context):
    from captum.attr import LayerIntegratedGradients

    net = model.network_
    groups = model.feature_groups()
    encoded = model.encode([u], [i], context)
    inputs = tuple(encoded[g] for g in groups)
    forward = _group_forward(model, groups)
    lig = LayerIntegratedGradients(forward, list(net.tables))
    attrs = lig.attribute(inputs, baselines=tuple(torch.zeros_like(t) for t in inputs), n_steps=n_steps)
    with torch.no_grad():
        fx = float(forward(*inputs))
        fb = float(forward(*(torch.zeros_like(t) for t in inputs)))
    decoded = {g: model.features_.decode(g, encoded[g][0].cpu().numpy()) for g in groups}
    rows = []
    for f, a in zip(net.fields, attrs):
        rows.append({"feature": f.name, "value": float(a.sum()), "group": f.group,
                     "label": field_label(f.name, f.group, decoded[f.group], data)})
    frame = sort_by_magnitude(pd.DataFrame(rows))
    meta = {"kind": "features", "layer": "every field's embedding (DeepFM inputs)",
            "baseline": "all codes unknown (ids, attributes, tags, text and context)", "context": context,
            "context_values": decoded.get("context", {})}
    return frame, fx, fb, meta


def _group_forward(model, groups: list[str]) -> Callable[..., torch.Tensor]:
    def forward(*tensors: torch.Tensor) -> torch.Tensor:
        return model.forward_groups(dict(zip(groups, tensors)))
    return forward


def field_label(name: str, group: str, decoded: dict, data: Dataset) -> str:
    """A readable "field = value" for one Hybrid field of the explained row."""
    if group == "collaborative":
        return "this customer's learned taste" if name == "user_id" else "this item's learned appeal"
    if group == "text":
        return "the item's title and description"
    value = decoded.get(name)
    if isinstance(value, list):
        value = ", ".join(value) if value else None
    return f"{name} = {value if value is not None else 'unknown'}"
