"""Deletion test of an explanation method's faithfulness (Samek et al. 2017; Hooker et al. 2019).

For each sampled customer, explain their top recommendation, remove the ``m`` units
(history items, or feature groups for the Hybrid) with the largest attribution, and
measure how much the item's score drops; compare with removing ``m`` units drawn at
random from the same explained units (the mean drop over ``n_random`` draws, or over
every m-subset when there are few). A faithful method wins for most customers.
Removal means: the history without those items (each model's own fold-in path,
``recsys.explain.whatif``), or the groups replaced by the explanation's baseline
(the SHAP background, the all-unknown row for Captum).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.explain.dispatch import explain, resolve_method
from recsys.explain.whatif import scores_from_history, scores_without
from recsys.models.base import Recommender

# Below this many m-subsets the random baseline is their exact mean instead of a sample.
_ENUMERATE_UP_TO = 64
_TIE = 1e-9


@dataclass(frozen=True)
class FidelityResult:
    """Summary of a deletion test; ``per_user`` has one row per tested customer."""

    method: str
    model: str
    users: int
    win_rate: float
    mean_drop_top: float
    mean_drop_random: float
    ties: int
    m: int
    unit: str
    seconds: float
    per_user: pd.DataFrame

    def to_dict(self) -> dict:
        return {"method": self.method, "model": self.model, "users": self.users, "win_rate": self.win_rate,
                "mean_drop_top": self.mean_drop_top, "mean_drop_random": self.mean_drop_random,
                "ties": self.ties, "m": self.m, "unit": self.unit, "seconds": self.seconds}


def deletion_test(model: Recommender, data: Dataset, method: str, *, users: int = 200, m: int = 1,
                  n_random: int = 10, seed: int = 0, **explain_kw: Any) -> FidelityResult:
    """Run the deletion test on up to ``users`` customers with at least ``m + 1`` history items.

    ``win_rate`` is the share of customers for whom removing the top-``m`` attributed
    units lowers the score strictly more than random removal (ties count as losses).
    """
    started = time.perf_counter()
    method = resolve_method(model, method)
    unit = _unit(model, method)
    rng = np.random.default_rng(seed)
    counts = np.diff(model.history_.indptr)
    candidates = np.flatnonzero(counts >= m + 1)
    chosen = np.sort(rng.choice(candidates, size=min(int(users), len(candidates)), replace=False))
    context = explain_kw.get("context")
    items = model.recommend(chosen, 1, context=context).to_frame().set_index("user_idx")["item_idx"]
    rows = []
    for u in chosen:
        if u not in items.index:
            continue
        i = int(items.loc[u])
        e = explain(model, data, int(u), i, method, **explain_kw)
        key = "item_idx" if unit == "history items" else "group"
        values = e.contributions.groupby(key)["value"].sum()
        if len(values) < m + 1:
            continue
        top = tuple(values.sort_values(ascending=False, kind="stable").index[:m])
        randoms = _random_sets(list(values.index), m, n_random, rng)
        if unit == "history items":
            scores = scores_without(model, int(u), [(), top, *randoms])[:, i].astype(np.float64)
        else:
            scores = _group_scores(model, data, int(u), i, e, [(), top, *randoms])
        drop_top, drop_random = scores[0] - scores[1], float(np.mean(scores[0] - scores[2:]))
        rows.append({"user_idx": int(u), "item_idx": i, "n_units": len(values), "top": list(top),
                     "drop_top": float(drop_top), "drop_random": drop_random,
                     "win": bool(drop_top > drop_random + _TIE), "tie": bool(abs(drop_top - drop_random) <= _TIE)})
    per_user = pd.DataFrame(rows, columns=["user_idx", "item_idx", "n_units", "top", "drop_top", "drop_random",
                                           "win", "tie"])
    n = len(per_user)
    return FidelityResult(method=method, model=model.key, users=n,
                          win_rate=float(per_user["win"].mean()) if n else float("nan"),
                          mean_drop_top=float(per_user["drop_top"].mean()) if n else float("nan"),
                          mean_drop_random=float(per_user["drop_random"].mean()) if n else float("nan"),
                          ties=int(per_user["tie"].sum()), m=int(m), unit=unit,
                          seconds=time.perf_counter() - started, per_user=per_user)


def _unit(model: Recommender, method: str) -> str:
    if model.key == "hybrid":
        return "feature groups"
    if scores_from_history(model):
        return "history items"
    raise ValueError(f"the deletion test removes history items or feature groups; {type(model).__name__} "
                     "scores from learned ids only, so there is nothing to remove")


def _random_sets(units: list, m: int, n_random: int, rng: np.random.Generator) -> list[tuple]:
    combos = list(itertools.islice(itertools.combinations(units, m), _ENUMERATE_UP_TO + 1))
    if len(combos) <= _ENUMERATE_UP_TO:
        return combos
    return [tuple(rng.choice(np.asarray(units, dtype=object), size=m, replace=False)) for _ in range(n_random)]


def _group_scores(model: Recommender, data: Dataset, u: int, i: int, e, removals: list[tuple]) -> np.ndarray:
    from recsys.explain.shap_groups import GroupSources, background_inputs

    context = e.meta.get("context")
    if e.method == "shap":
        background = background_inputs(model, data, e.meta["background"], int(e.meta.get("seed", 0)))
    else:
        background = background_inputs(model, data, "unknown")
    sources = GroupSources.build(model, model.encode([u], [i], context), background)
    return sources.removal_scores(0, removals)
