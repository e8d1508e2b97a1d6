"""Ways to look at segments: size, score distribution, composition, overlap and held-out lift."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.segments.audience import Audience, build_audience, resolve_target
from recsys.segments.privacy import is_personal
from recsys.segments.rules import RuleError, SegmentRule

if TYPE_CHECKING:
    from recsys.workspace import Workspace

MAX_GROUPS = 30
OTHER = "(other)"
MISSING = "(missing)"


def size_summary(audience: Audience) -> dict:
    """Members, the pool they were drawn from and the funnel of filters (JSON-safe)."""
    stats = audience.stats
    return {"members": audience.size, "eligible": stats.get("n_eligible", len(audience.pool)),
            "customers": stats.get("n_customers"), "share_of_base": audience.size / max(stats.get("n_customers") or 1, 1),
            "buyers_excluded": stats.get("n_buyers_excluded", 0), "target_items": stats.get("n_target_items")}


def score_distribution(audience: Audience, bins: int = 40) -> pd.DataFrame:
    """Histogram of the eligible pool's affinity with the members' share of each bin.

    Columns ``bin_left``, ``bin_right``, ``n_pool``, ``n_members``.
    """
    values = audience.pool_affinity[np.isfinite(audience.pool_affinity)]
    if len(values) == 0:
        return pd.DataFrame(columns=["bin_left", "bin_right", "n_pool", "n_members"])
    edges = np.histogram_bin_edges(values, bins=bins)
    pool, _ = np.histogram(values, edges)
    members = audience.members["affinity"].to_numpy(np.float64)
    chosen, _ = np.histogram(members[np.isfinite(members)], edges)
    return pd.DataFrame({"bin_left": edges[:-1], "bin_right": edges[1:], "n_pool": pool, "n_members": chosen})


def composition_attributes(data: Dataset) -> list[str]:
    """Customer attributes worth a composition breakdown: categorical, few values, not contact details."""
    features = data.user_features
    if features is None:
        return []
    out = []
    for column in features.columns:
        values = features[column]
        if column == "user_id" or is_personal(column) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        # Numbers with many values are measurements, not groups; text values beyond 200 are ids.
        limit = MAX_GROUPS if pd.api.types.is_numeric_dtype(values) else 200
        if 1 < values.nunique(dropna=True) <= limit:
            out.append(column)
    return out


def composition(members: Iterable[int], data: Dataset, by: Sequence[str] | str,
                base: np.ndarray | None = None) -> pd.DataFrame:
    """Share of each attribute value in the segment against the whole customer base.

    Columns ``attribute``, ``value``, ``n_segment``, ``segment_share``, ``n_base``,
    ``base_share`` and ``index`` (100 = same share as the base; 200 = twice as common).
    Values beyond the ``MAX_GROUPS`` most common in the base are pooled as "(other)".
    """
    if data.user_features is None:
        raise RuleError("this dataset has no customer table to break the segment down by")
    by = [by] if isinstance(by, str) else list(by)
    chosen = np.asarray(list(members) if not isinstance(members, np.ndarray) else members, dtype=np.int64)
    base_idx = np.arange(data.n_users) if base is None else np.asarray(base, dtype=np.int64)
    frames = []
    for column in by:
        if column not in data.user_features or is_personal(column):
            raise RuleError(f"cannot break down by {column!r}")
        labels = _labels(data.user_features[column])
        top = labels.iloc[base_idx].value_counts().index[:MAX_GROUPS]
        labels = labels.where(labels.isin(top), OTHER)
        seg = labels.iloc[chosen].value_counts()
        whole = labels.iloc[base_idx].value_counts()
        table = pd.DataFrame({"n_segment": seg, "n_base": whole}).fillna(0).astype(np.int64)
        table["segment_share"] = table["n_segment"] / max(len(chosen), 1)
        table["base_share"] = table["n_base"] / max(len(base_idx), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            table["index"] = np.where(table["base_share"] > 0, 100 * table["segment_share"] / table["base_share"],
                                      np.nan)
        table = table.rename_axis("value").reset_index().sort_values("n_base", ascending=False, kind="stable")
        table.insert(0, "attribute", column)
        frames.append(table)
    columns = ["attribute", "value", "n_segment", "segment_share", "n_base", "base_share", "index"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _labels(column: pd.Series) -> pd.Series:
    return column.astype("string").fillna(MISSING).reset_index(drop=True)


# ----- overlap -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Overlap:
    """How segments share customers.

    ``matrix``: customers in both (diagonal: sizes). ``pairs``: one row per pair with
    ``both``, ``jaccard`` and each side's share in the other. ``combinations``: customers
    by exact membership pattern (an UpSet-style count).
    """

    matrix: pd.DataFrame
    pairs: pd.DataFrame
    combinations: pd.DataFrame
    n_in_all: int = 0
    n_in_any: int = 0


def overlap(segments: Mapping[str, Iterable[str]]) -> Overlap:
    """Overlap of two or more segments given as name -> customer ids."""
    if len(segments) < 2:
        raise ValueError("overlap needs at least two segments")
    names = list(segments)
    sets = {name: set(map(str, segments[name])) for name in names}
    matrix = pd.DataFrame([[len(sets[a] & sets[b]) for b in names] for a in names], index=names, columns=names,
                          dtype=np.int64)
    rows = []
    for a, b in combinations(names, 2):
        both = len(sets[a] & sets[b])
        union = len(sets[a] | sets[b])
        rows.append({"a": a, "b": b, "n_a": len(sets[a]), "n_b": len(sets[b]), "both": both,
                     "jaccard": both / union if union else 0.0,
                     "share_of_a": both / len(sets[a]) if sets[a] else 0.0,
                     "share_of_b": both / len(sets[b]) if sets[b] else 0.0})
    everyone = sorted(set().union(*sets.values()))
    pattern = pd.DataFrame({name: [c in sets[name] for c in everyone] for name in names})
    combos = (pattern.value_counts().rename("customers").reset_index() if len(pattern) else
              pd.DataFrame(columns=[*names, "customers"]))
    combos = combos.sort_values("customers", ascending=False, kind="stable").reset_index(drop=True)
    in_all = len(set.intersection(*sets.values()))
    return Overlap(matrix, pd.DataFrame(rows), combos, in_all, len(everyone))


# ----- lift on a held-out period -----------------------------------------------------------------

@dataclass(frozen=True)
class LiftResult:
    """How much more often a segment engaged with its target in a later period than random customers.

    ``lift`` = segment_rate / baseline_rate - 1, where the baseline is the expected rate of a
    random segment of the same size from the same eligible pool (the pool's rate).
    ``random_low`` / ``random_high`` bound the lift of 95% of random same-size segments;
    ``p_value`` is the share of random segments doing at least as well (with +1 smoothing).
    """

    segment_rate: float
    baseline_rate: float
    lift: float
    random_low: float
    random_high: float
    p_value: float
    n_members: int
    n_engaged: int
    n_pool: int
    period: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in self.__dict__.items()}


def engaged_customers(after: Dataset, target_items: np.ndarray, events: Sequence[str] | None = None) -> np.ndarray:
    """Per customer: any event (of ``events`` types, default any) on a target item in ``after``."""
    frame = after.frame
    on_target = np.zeros(after.n_items, dtype=bool)
    on_target[target_items] = True
    hit = on_target[frame["item_idx"].to_numpy()]
    if events and "event_type" in frame:
        hit &= frame["event_type"].astype("string").str.lower().isin([e.lower() for e in events]
                                                                    ).fillna(False).to_numpy(bool)
    out = np.zeros(after.n_users, dtype=bool)
    out[frame["user_idx"].to_numpy()[hit]] = True
    return out


def segment_lift(members: np.ndarray, pool: np.ndarray, engaged: np.ndarray, *, n_random: int = 500,
                 seed: int = 0, period: dict | None = None) -> LiftResult:
    """Lift of ``members`` (customer indices) over random same-size draws from ``pool``."""
    members = np.asarray(members, dtype=np.int64)
    pool = np.asarray(pool, dtype=np.int64)
    if len(members) == 0 or len(pool) == 0:
        raise ValueError("lift needs a non-empty segment and pool")
    rate = float(engaged[members].mean())
    baseline = float(engaged[pool].mean())
    rng = np.random.default_rng(seed)
    size = min(len(members), len(pool))
    # Random segments drawn without replacement, each as a random permutation prefix.
    draws = np.array([engaged[rng.choice(pool, size=size, replace=False)].mean() for _ in range(n_random)])
    lifts = draws / baseline - 1.0 if baseline > 0 else np.zeros_like(draws)
    lift = rate / baseline - 1.0 if baseline > 0 else float("nan")
    low, high = np.quantile(lifts, [0.025, 0.975]) if n_random else (np.nan, np.nan)
    p_value = (1 + int((draws >= rate).sum())) / (n_random + 1)
    return LiftResult(rate, baseline, float(lift), float(low), float(high), float(p_value), int(len(members)),
                      int(engaged[members].sum()), int(len(pool)), dict(period or {}))


def holdout_lift(rule: SegmentRule, model, before: Dataset, after: Dataset, *, events: Sequence[str] | None = None,
                 n_random: int = 500, seed: int = 0, batch_size: int | None = None) -> tuple[LiftResult, Audience]:
    """Build the segment with ``model`` (trained on ``before``) and measure it on ``after``."""
    audience = build_audience(rule, model, before, batch_size=batch_size)
    engaged = engaged_customers(after, audience.target_items, events)
    period = {}
    if after.has_timestamps and after.n_events:
        ts = after.frame["timestamp"].to_numpy(np.int64)
        period = {"start": int(ts.min()), "end": int(ts.max()), "n_events": int(after.n_events)}
    result = segment_lift(audience.members["user_idx"].to_numpy(), audience.pool, engaged, n_random=n_random,
                          seed=seed, period=period)
    return result, audience


def run_holdout_lift(workspace: "Workspace", rule: SegmentRule, **kw) -> tuple[LiftResult, Audience]:
    """``holdout_lift`` for a stored run trained with a temporal split (the model never saw the period).

    The period is every event of the run's dataset at or after the split's cut-off.
    """
    from recsys.runs import load_run

    loaded = load_run(workspace, rule.run_id, with_split=True)
    split = loaded.split
    if split is None or split.protocol != "temporal":
        raise RuleError("lift needs a run trained with a temporal split, so that the model was trained "
                        "before the period it is judged on; train one with split 'temporal'")
    cutoff = int(split.params["cutoff"])
    before = split.fit_data()
    ts = loaded.data.frame["timestamp"].to_numpy(np.int64)
    after = loaded.data.subset(ts >= cutoff)
    resolve_target(rule.target, loaded.data)  # fail early with the analyst's message
    return holdout_lift(rule, loaded.model, before, after, **kw)
