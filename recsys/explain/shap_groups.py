"""SHAP values of the Hybrid model over its named feature groups (Lundberg & Lee 2017).

A "feature" here is a whole group (collaborative ids, customer attributes, item
attributes, item text, context): model-agnostic SHAP over a handful of players, so
exact Shapley values cost ``2^G`` coalitions (32 for five groups) and Kernel SHAP
samples coalitions when ``2^G`` exceeds ``max_evals``. A group left out of a
coalition takes its values from a background row (interventional SHAP): ``base_value`` is the mean score over the background and
``base_value + sum(values)`` equals the model's score of the explained row exactly.

Background: ``n_background`` training events drawn with ``seed`` (customer, item and
context as they happened), or ``"unknown"``: one all-unknown row, the baseline the
model's dropout training gives a meaning ("average").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
import torch

from recsys.data.dataset import Dataset
from recsys.explain.record import Explanation, sort_by_magnitude
from recsys.models.base import Recommender

DEFAULT_BACKGROUND = 50
DEFAULT_MAX_EVALS = 256
ROWS_PER_FORWARD = 16_384
SECONDS_PER_HOUR, SECONDS_PER_DAY, EPOCH_WEEKDAY = 3600, 86_400, 3


@dataclass(frozen=True)
class GroupSources:
    """Group tensors of explained rows followed by background rows; scores mixes of them.

    ``scores(index)`` takes an (n, G) array whose entry [r, g] says which source row
    supplies group g for output row r (SHAP sees these indices as the feature values).
    """

    model: Recommender
    groups: tuple[str, ...]
    tensors: dict
    n_explained: int
    n_background: int

    @classmethod
    def build(cls, model: Recommender, explained: Mapping[str, torch.Tensor],
              background: Mapping[str, torch.Tensor]) -> "GroupSources":
        groups = tuple(model.feature_groups())
        tensors = {g: torch.cat([explained[g], background[g]]) for g in groups}
        return cls(model, groups, tensors, len(explained[groups[0]]), len(background[groups[0]]))

    @torch.no_grad()
    def scores(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index).astype(np.int64)
        out = []
        for start in range(0, len(index), ROWS_PER_FORWARD):
            block = torch.as_tensor(index[start:start + ROWS_PER_FORWARD], device=self.model.device_)
            inputs = {g: self.tensors[g][block[:, j]] for j, g in enumerate(self.groups)}
            out.append(self.model.forward_groups(inputs).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def explained_index(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_explained)[:, None], len(self.groups), 1)

    def background_index(self) -> np.ndarray:
        rows = self.n_explained + np.arange(self.n_background)
        return np.repeat(rows[:, None], len(self.groups), 1)

    def removal_scores(self, row: int, removed: Iterable[Iterable[str]]) -> np.ndarray:
        """Score of explained ``row`` with each set of groups taken from the background (mean over it)."""
        out = []
        bg = self.background_index()
        for groups in removed:
            mix = np.repeat(np.full((1, len(self.groups)), row), len(bg), 0)
            cols = [self.groups.index(g) for g in groups]
            mix[:, cols] = bg[:, cols]
            out.append(float(self.scores(mix).mean()))
        return np.asarray(out)


def check_hybrid(model: Recommender) -> None:
    if not hasattr(model, "forward_groups"):
        raise ValueError(f"SHAP over feature groups needs the Hybrid model, not {type(model).__name__}; "
                         "history-based models are explained by exact, attention or captum")


def background_inputs(model: Recommender, data: Dataset, background: int | str = DEFAULT_BACKGROUND,
                      seed: int = 0) -> dict[str, torch.Tensor]:
    """Group tensors of the background: sampled training events, or one all-unknown row."""
    if background == "unknown" or not len(data.frame):
        one = model.encode([0], [0], {})
        return {g: torch.zeros_like(t) for g, t in one.items()}
    frame = data.frame
    frame = frame[(frame["user_idx"] < model.n_users_) & (frame["item_idx"] < model.n_items_)]
    rng = np.random.default_rng(seed)
    rows = frame.iloc[np.sort(rng.choice(len(frame), size=min(int(background), len(frame)), replace=False))]
    return model.encode(rows["user_idx"].to_numpy(), rows["item_idx"].to_numpy(), event_context(model, rows))


def event_context(model: Recommender, rows: pd.DataFrame) -> dict[str, Any]:
    """Per-row context dict of events (context columns, hour and weekday from the timestamp)."""
    context: dict[str, Any] = {}
    for name in model.context_fields():
        if name in rows:
            context[name] = rows[name].to_numpy(dtype=object)
    if "timestamp" in rows:
        ts = rows["timestamp"].to_numpy(np.int64)
        context["hour"] = (ts // SECONDS_PER_HOUR) % 24
        context["weekday"] = ((ts // SECONDS_PER_DAY + EPOCH_WEEKDAY) % 7).astype(object)
    return context


def shap_values(sources: GroupSources, *, max_evals: int = DEFAULT_MAX_EVALS, seed: int = 0):
    """(values (n, G), base_values (n,), algorithm) for every explained row of ``sources``.

    Kernel SHAP (Lundberg & Lee 2017, theorem 2) over the groups: with ``2^G - 2 <=
    max_evals`` every coalition is evaluated, which gives the exact Shapley values;
    otherwise ``max_evals`` sampled coalitions. Each coalition costs one model row per
    background row. (SHAP's Exact and Permutation explainers give the same numbers but
    JIT-compile numba code on first use, tens of seconds on a busy CPU.)
    """
    import shap

    n_groups = len(sources.groups)
    exact = 2 ** n_groups - 2 <= max_evals
    explainer = shap.KernelExplainer(sources.scores, sources.background_index().astype(np.float64))
    state = np.random.get_state()
    np.random.seed(seed)  # KernelExplainer samples coalitions with numpy's global generator
    try:
        values = explainer.shap_values(sources.explained_index().astype(np.float64),
                                       nsamples=2 ** n_groups if exact else int(max_evals), silent=True)
    finally:
        np.random.set_state(state)
    values = np.asarray(values, np.float64).reshape(sources.n_explained, n_groups)
    base = np.full(sources.n_explained, float(np.ravel(explainer.expected_value)[0]))
    return values, base, "exact (all coalitions)" if exact else "kernel (sampled coalitions)"


def explain_shap(model: Recommender, data: Dataset, user_idx: int, item_idx: int, *,
                 context: Mapping[str, Any] | None = None, background: int | str = DEFAULT_BACKGROUND,
                 max_evals: int = DEFAULT_MAX_EVALS, seed: int = 0) -> Explanation:
    """Group SHAP values of one recommendation (waterfall data): base value + values = score."""
    check_hybrid(model)
    started = time.perf_counter()
    u, i = int(user_idx), int(item_idx)
    explained = model.encode([u], [i], context)
    sources = GroupSources.build(model, explained, background_inputs(model, data, background, seed))
    values, base, algorithm = shap_values(sources, max_evals=max_evals, seed=seed)
    score = float(sources.scores(sources.explained_index())[0])
    decoded = {g: model.features_.decode(g, explained[g][0].cpu().numpy()) for g in sources.groups}
    frame = sort_by_magnitude(pd.DataFrame({
        "feature": list(sources.groups), "value": values[0], "group": list(sources.groups),
        "label": [group_label(g, decoded[g], data) for g in sources.groups]}))
    n_coalitions = min(2 ** len(sources.groups), int(max_evals) + 2)
    meta = {"kind": "groups", "algorithm": algorithm, "max_evals": int(max_evals),
            "coalitions": n_coalitions, "model_rows": n_coalitions * sources.n_background,
            "background": background if background == "unknown" else int(sources.n_background),
            "seed": int(seed), "context": dict(context) if context is not None else None,
            "context_values": decoded.get("context", {}),
            "additivity_gap": float(base[0] + values[0].sum() - score),
            "seconds": time.perf_counter() - started,
            "caveats": ["SHAP values share the score's difference from the background average among "
                        "the feature groups; a group's value depends on the background chosen."]}
    return Explanation(str(data.users.to_raw([u])[0]), str(data.items.to_raw([i])[0]), u, i, "shap",
                       model.key, score, float(base[0]), frame, meta)


def global_shap(model: Recommender, data: Dataset, users: np.ndarray, items: np.ndarray, *,
                background: int | str = 30, max_evals: int = DEFAULT_MAX_EVALS, seed: int = 0) -> pd.DataFrame:
    """SHAP values of many (customer, item) rows: long frame user_idx, item_idx, group, value, base_value."""
    check_hybrid(model)
    users, items = np.asarray(users, np.int64), np.asarray(items, np.int64)
    sources = GroupSources.build(model, model.encode(users, items, None),
                                 background_inputs(model, data, background, seed))
    values, base, _ = shap_values(sources, max_evals=max_evals, seed=seed)
    g = len(sources.groups)
    return pd.DataFrame({"user_idx": np.repeat(users, g), "item_idx": np.repeat(items, g),
                         "group": np.tile(sources.groups, len(users)), "value": values.ravel(),
                         "base_value": np.repeat(base, g)})


def group_label(group: str, decoded: dict, data: Dataset) -> str:
    """A short description of one group's values in the explained row."""
    if group == "collaborative":
        return "learned customer and item ids"
    if group == "text":
        return "title and description"
    parts = []
    for name, value in decoded.items():
        if isinstance(value, list):
            value = "/".join(value) if value else None
        if value is not None:
            parts.append(f"{name}={value}")
    return ", ".join(parts) if parts else "unknown"
