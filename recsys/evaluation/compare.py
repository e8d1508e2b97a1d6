"""Confidence intervals and paired comparisons of per-user metrics (bootstrap).

Users are the resampling unit: a run's mean metric is uncertain because the
test users are a sample, and two runs scored on the same users are compared by
resampling those users jointly (paired), which removes the between-user
variance the runs share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from recsys.evaluation.evaluate import EvaluationResult

# Bootstrap draws per block: bounds memory at block * n_users indices.
_DRAWS_PER_BLOCK = 4_000_000


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval at ``level``."""

    mean: float
    low: float
    high: float
    level: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class PairedComparison:
    """Run A against run B on the same users: ``diff`` is mean(A - B)."""

    metric: str
    mean_a: float
    mean_b: float
    diff: Interval
    p_value: float
    n_users: int


def bootstrap_means(values: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``, vectorised in blocks."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    block = max(1, _DRAWS_PER_BLOCK // max(n, 1))
    for start in range(0, n_boot, block):
        stop = min(start + block, n_boot)
        out[start:stop] = values[rng.integers(0, n, size=(stop - start, n), dtype=np.int32)].mean(axis=1)
    return out


def _percentiles(boot: np.ndarray, level: float) -> tuple[float, float]:
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _check(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise ValueError("n_boot must be positive")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")


def bootstrap_ci(values: np.ndarray, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean (NaN values are left out)."""
    _check(n_boot, level)
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return Interval(float("nan"), float("nan"), float("nan"), level)
    low, high = _percentiles(bootstrap_means(values, n_boot=n_boot, seed=seed), level)
    return Interval(float(values.mean()), low, high, level)


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, metric: str = "", n_boot: int = 2000,
                     level: float = 0.95, seed: int = 0) -> PairedComparison:
    """Paired bootstrap of mean(a - b) over users, with a two-sided p-value.

    ``a[i]`` and ``b[i]`` belong to the same user; pairs with a NaN are left out.
    The p-value tests "no difference" by shifting the bootstrap distribution of
    the mean difference to zero (Efron & Tibshirani 1993, 16.4): the share of
    resamples whose centred mean is at least as far from zero as the observed
    one, with the +1 correction so it is never exactly 0.
    """
    _check(n_boot, level)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("a and b must be 1-D arrays of the same users")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if len(a) == 0:
        nan = float("nan")
        return PairedComparison(metric, nan, nan, Interval(nan, nan, nan, level), nan, 0)
    diff = a - b
    observed = float(diff.mean())
    boot = bootstrap_means(diff, n_boot=n_boot, seed=seed)
    low, high = _percentiles(boot, level)
    # Relative tolerance: identical runs give a centred spread of rounding noise, not evidence.
    extreme = np.abs(boot - observed) >= abs(observed) - 1e-12 * max(1.0, abs(observed))
    p_value = (1.0 + extreme.sum()) / (n_boot + 1.0)
    return PairedComparison(metric, float(a.mean()), float(b.mean()), Interval(observed, low, high, level),
                            float(min(p_value, 1.0)), int(len(a)))


def compare_runs(per_user_a: pd.DataFrame, per_user_b: pd.DataFrame, metric: str, **kw) -> PairedComparison:
    """Paired comparison of two per-user frames on the users both evaluated (by ``user_idx``)."""
    for name, frame in (("a", per_user_a), ("b", per_user_b)):
        if metric not in frame or "user_idx" not in frame:
            raise KeyError(f"per_user_{name} needs columns user_idx and {metric!r}")
    joined = per_user_a[["user_idx", metric]].merge(per_user_b[["user_idx", metric]], on="user_idx",
                                                     suffixes=("_a", "_b"), validate="one_to_one")
    if joined.empty:
        raise ValueError("the two runs have no evaluated user in common")
    return paired_bootstrap(joined[f"{metric}_a"].to_numpy(), joined[f"{metric}_b"].to_numpy(),
                            metric=metric, **kw)


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control for several comparisons)."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def leaderboard(results: dict[str, "EvaluationResult"], metric: str = "ndcg@10", baseline: str | None = None,
                *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per run: mean and interval of ``metric``, and a paired test against a reference.

    The reference is ``baseline`` or else the run with the best mean; every other
    run is compared with it on the users both evaluated (``diff`` = run -
    reference). ``p_holm`` adjusts the p-values for the number of comparisons.
    Rows are sorted by mean, best first.
    """
    if not results:
        raise ValueError("no runs to rank")
    if baseline is not None and baseline not in results:
        raise KeyError(f"baseline {baseline!r} is not among the runs")
    rows = []
    for name, result in results.items():
        ci = bootstrap_ci(result.per_user[metric].to_numpy(np.float64), n_boot=n_boot, level=level, seed=seed)
        rows.append({"run": name, "mean": ci.mean, "low": ci.low, "high": ci.high,
                     "n_users": int(result.per_user[metric].notna().sum())})
    board = pd.DataFrame(rows).set_index("run")
    reference = baseline or str(board["mean"].idxmax())
    board["vs"] = reference
    for column in ("diff", "diff_low", "diff_high", "p_value"):
        board[column] = np.nan
    for name, result in results.items():
        if name == reference:
            continue
        cmp = compare_runs(result.per_user, results[reference].per_user, metric,
                           n_boot=n_boot, level=level, seed=seed)
        board.loc[name, ["diff", "diff_low", "diff_high", "p_value"]] = \
            [cmp.diff.mean, cmp.diff.low, cmp.diff.high, cmp.p_value]
    others = board.index != reference
    board["p_holm"] = np.nan
    if others.any():
        board.loc[others, "p_holm"] = holm_adjust(board.loc[others, "p_value"].to_numpy())
    return board.sort_values("mean", ascending=False, kind="stable")
