"""Splits, full-ranking metrics, beyond-accuracy metrics, per-user frames and comparisons."""

from recsys.evaluation.compare import (Interval, PairedComparison, bootstrap_ci, compare_runs, leaderboard,
                                       paired_bootstrap)
from recsys.evaluation.evaluate import (EvaluationResult, evaluate_model, evaluate_recommendations,
                                        metric_curve)
from recsys.evaluation.splits import (PROTOCOLS, Split, leave_last_out, make_split, random_holdout,
                                      temporal_split)

__all__ = [
    "PROTOCOLS", "Split", "leave_last_out", "temporal_split", "random_holdout", "make_split",
    "EvaluationResult", "evaluate_recommendations", "evaluate_model", "metric_curve",
    "Interval", "PairedComparison", "bootstrap_ci", "paired_bootstrap", "compare_runs", "leaderboard",
]
