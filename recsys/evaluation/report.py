"""Compare stored runs on their shared split: leaderboard, metric-by-K curves, trade-offs.

Runs are comparable only when they were evaluated on the same dataset content and
the same split; ``compare_stored_runs`` refuses a mix with a clear reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from recsys.evaluation.compare import leaderboard
from recsys.evaluation.evaluate import EvaluationResult, evaluate_model

CURVE_KS = (1, 3, 5, 10, 20, 50)
ACCURACY_METRICS = ("ndcg", "recall", "precision", "map", "mrr", "hit")
BEYOND_METRICS = ("coverage", "novelty", "diversity", "avgpop", "gini")


@dataclass(frozen=True)
class RunComparison:
    """Everything the Evaluate page draws, for one set of comparable runs."""

    labels: dict[str, str]  # run id -> label
    results: dict[str, EvaluationResult]  # label -> evaluation at CURVE_KS
    board: pd.DataFrame  # leaderboard of the chosen metric (mean, CI, paired test vs best)
    curves: pd.DataFrame  # label, metric, k, value
    tradeoff: pd.DataFrame  # label + accuracy and beyond-accuracy summaries at k
    k: int


def comparable_key(record) -> tuple:
    """Runs with equal keys share data and split, so their per-user metrics pair up."""
    return (record.dataset_fingerprint, record.split.get("protocol"),
            repr(sorted(record.split.get("args", {}).items())))


def run_label(record) -> str:
    return f"{record.display_name} · {record.id[-6:]}"


def compare_stored_runs(workspace, run_ids: Sequence[str], *, metric: str = "ndcg", k: int = 10,
                        ks: Sequence[int] = CURVE_KS, n_boot: int = 1000) -> RunComparison:
    """Re-evaluate the runs at several cut-offs on their split and compare them."""
    from recsys.runs import get_run, load_run

    if not run_ids:
        raise ValueError("choose at least one run")
    records = [get_run(workspace, run_id) for run_id in run_ids]
    if any(r.split.get("protocol", "none") == "none" for r in records):
        raise ValueError("runs trained without a split have nothing held out to evaluate on")
    if len({comparable_key(r) for r in records}) > 1:
        raise ValueError("these runs used different data or splits; compare runs of one dataset and split")
    ks = tuple(sorted(set(ks) | {k}))
    labels = {r.id: run_label(r) for r in records}
    results: dict[str, EvaluationResult] = {}
    split = None
    for record in records:
        loaded = load_run(workspace, record.id, with_split=split is None)
        split = split or loaded.split
        results[labels[record.id]] = evaluate_model(loaded.model, split, ks=ks)
    return comparison_of(labels, results, metric=metric, k=k, ks=ks, n_boot=n_boot)


def comparison_of(labels: dict[str, str], results: dict[str, EvaluationResult], *, metric: str, k: int,
                  ks: Sequence[int], n_boot: int = 1000) -> RunComparison:
    """Leaderboard, curves and trade-offs of evaluations (label -> result at ``ks``) on one split."""
    board = leaderboard(results, f"{metric}@{k}", n_boot=n_boot)
    curves = pd.DataFrame([
        {"run": label, "metric": name, "k": kk, "value": result.summary.get(f"{name}@{kk}")}
        for label, result in results.items() for name in ACCURACY_METRICS for kk in ks
    ])
    tradeoff = pd.DataFrame([
        {"run": label, **{f"{name}@{k}": result.summary.get(f"{name}@{k}")
                          for name in ACCURACY_METRICS + BEYOND_METRICS}}
        for label, result in results.items()
    ])
    return RunComparison(labels, results, board, curves, tradeoff, k)
