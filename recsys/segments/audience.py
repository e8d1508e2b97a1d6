"""Build an audience from a ``SegmentRule``: filter customers, score their affinity, keep the best.

Scoring runs in batches of customers (``batch_size`` x n_items floats at a time), never a
dense customers x items matrix for everyone. Ordering is deterministic: strongest affinity
first, ties broken by the raw customer id.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recsys.data.dataset import SECONDS_PER_DAY, Dataset
from recsys.models.base import Recommender
from recsys.segments.ranking import best_target_rank
from recsys.segments.rules import RuleError, SegmentRule, Target, evaluate

# Scores held per batch: batch_size x n_items float32 stays near 32 MB (below glibc's largest mmap
# threshold, so batches reuse heap memory instead of page-faulting fresh buffers each time).
SCORE_BUDGET_FLOATS = 8_000_000
PRICE_TIERS = ("budget", "mid", "premium")
MEMBER_COLUMNS = ["user_id", "user_idx", "affinity", "rank"]


@dataclass(frozen=True)
class Audience:
    """The members of a segment and how they were chosen.

    Attributes
    ----------
    rule : SegmentRule
    members : DataFrame
        ``user_id``, ``user_idx``, ``affinity`` and ``rank`` (1 = strongest affinity), in rank order.
    target_items : ndarray
        Item indices of the target.
    pool : ndarray
        Indices of the eligible customers (after filters and buyer exclusion), ascending.
    pool_affinity : ndarray
        Affinity of every eligible customer, aligned with ``pool``.
    stats : dict
        Counts at each step, the affinity range and timings (JSON-safe).
    """

    rule: SegmentRule
    members: pd.DataFrame
    target_items: np.ndarray
    pool: np.ndarray
    pool_affinity: np.ndarray
    stats: dict = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def higher_is_better(self) -> bool:
        return self.rule.affinity != "rank"


def build_audience(rule: SegmentRule, model: Recommender, data: Dataset, *, as_of: int | None = None,
                   batch_size: int | None = None) -> Audience:
    """Members of ``rule`` under ``model`` for the customers and events in ``data``.

    ``data`` must share the model's id maps (``recsys.runs.load_run`` aligns them);
    ``as_of`` (Unix seconds, default the latest event) anchors ``active_days``.
    """
    started = time.perf_counter()
    items = resolve_target(rule.target, data)
    pool, counts = eligible_customers(rule, data, items, n_model_users=getattr(model, "n_users_", data.n_users),
                                      as_of=as_of)
    batch = batch_size or default_batch_size(data.n_items)
    values = affinities(model, pool, items, rule.affinity, batch_size=batch)
    order = select(values, data.users.to_raw(pool), rule)
    chosen = pool[order]
    members = pd.DataFrame({"user_id": data.users.to_raw(chosen).astype(str), "user_idx": chosen,
                            "affinity": values[order].astype(np.float64),
                            "rank": np.arange(1, len(chosen) + 1, dtype=np.int64)}, columns=MEMBER_COLUMNS)
    kept = members["affinity"]
    stats = {**counts, "n_members": int(len(members)), "n_target_items": int(len(items)),
             "affinity_mode": rule.affinity,
             "affinity_min": _num(kept.min()), "affinity_median": _num(kept.median()),
             "affinity_max": _num(kept.max()), "pool_affinity_mean": _num(np.mean(values)) if len(values) else None,
             "batch_size": int(batch), "n_batches": int(-(-len(pool) // batch)),
             "seconds": round(time.perf_counter() - started, 4)}
    return Audience(rule, members, items, pool, values, stats)


def default_batch_size(n_items: int) -> int:
    return int(max(64, min(8192, SCORE_BUDGET_FLOATS // max(n_items, 1))))


# ----- targets -----------------------------------------------------------------------------------

def item_attributes(data: Dataset) -> pd.DataFrame:
    """The catalog's attributes by ``item_idx``, plus a derived ``price_tier`` when there are prices.

    ``price_tier``: "free" at price 0, else budget / mid / premium by terciles of the positive prices.
    """
    return catalog_attributes(data.item_features, data.items.ids)


def catalog_attributes(features: pd.DataFrame | None, item_ids: np.ndarray) -> pd.DataFrame:
    """:func:`item_attributes` from item features aligned with ``item_ids`` (None: none)."""
    frame = features.copy() if features is not None else pd.DataFrame(index=pd.RangeIndex(len(item_ids)))
    if "item_id" not in frame:
        frame["item_id"] = np.asarray(item_ids).astype(str)
    if "price" in frame and "price_tier" not in frame:
        frame["price_tier"] = price_tiers(pd.to_numeric(frame["price"], errors="coerce"))
    return frame


def price_tiers(price: pd.Series) -> pd.Series:
    positive = price[price > 0]
    out = pd.Series(pd.NA, index=price.index, dtype="string")
    out[price == 0] = "free"
    if len(positive):
        low, high = np.quantile(positive.to_numpy(np.float64), [1 / 3, 2 / 3])
        out[(price > 0) & (price <= low)] = PRICE_TIERS[0]
        out[(price > low) & (price <= high)] = PRICE_TIERS[1]
        out[price > high] = PRICE_TIERS[2]
    return out


def resolve_target(target: Target, data: Dataset) -> np.ndarray:
    """Item indices of ``target`` (ascending); raise ``RuleError`` when it matches nothing."""
    return target_indices(target, data.items.ids, lambda: item_attributes(data))


def target_indices(target: Target, item_ids: np.ndarray, attributes: Callable[[], pd.DataFrame]) -> np.ndarray:
    """:func:`resolve_target` over an item id map; ``attributes()`` (read only when the target
    queries the catalog) gives :func:`catalog_attributes` aligned with ``item_ids``."""
    if target.items:
        idx = pd.Index(np.asarray(item_ids).astype(str)).get_indexer(list(target.items))
        unknown = [i for i, j in zip(target.items, idx) if j < 0]
        if unknown:
            raise RuleError(f"unknown target item(s): {', '.join(unknown[:5])}")
        return np.unique(idx).astype(np.int64)
    idx = np.flatnonzero(evaluate(target.clauses(), attributes()))
    if len(idx) == 0:
        raise RuleError(f"no catalog item matches the target {target.describe()}")
    return idx.astype(np.int64)


# ----- eligibility -------------------------------------------------------------------------------

def eligible_customers(rule: SegmentRule, data: Dataset, target_items: np.ndarray, *,
                       n_model_users: int | None = None, as_of: int | None = None) -> tuple[np.ndarray, dict]:
    """Indices of the customers that pass the rule's filters, and the count left after each."""
    n = data.n_users
    keep = np.zeros(n, dtype=bool)
    keep[:min(n, n_model_users if n_model_users is not None else n)] = True
    counts = {"n_customers": int(n), "n_known_to_model": int(keep.sum())}
    if rule.customer_query:
        if data.user_features is None:
            raise RuleError("this dataset has no customer table, so customer filters cannot apply")
        keep &= evaluate(rule.customer_clauses(), data.user_features)
    counts["n_after_attributes"] = int(keep.sum())
    frame = data.frame
    users = frame["user_idx"].to_numpy()
    if rule.min_events:
        keep &= np.bincount(users, minlength=n)[:n] >= int(rule.min_events)
    counts["n_after_activity"] = int(keep.sum())
    if rule.active_days:
        if not data.has_timestamps:
            raise RuleError("'active in the last N days' needs event times, and this dataset has none")
        ts = frame["timestamp"].to_numpy(np.int64)
        ref = int(ts.max()) if as_of is None and len(ts) else int(as_of or 0)
        recent = ts >= ref - float(rule.active_days) * SECONDS_PER_DAY
        keep &= np.bincount(users[recent], minlength=n)[:n] > 0
        counts["as_of"] = ref
    counts["n_after_recency"] = int(keep.sum())
    n_buyers = 0
    if rule.exclude_buyers:
        buyers = target_buyers(data, target_items, rule.buyer_events)
        n_buyers = int((keep & buyers).sum())
        keep &= ~buyers
    counts["n_buyers_excluded"] = n_buyers
    counts["n_eligible"] = int(keep.sum())
    return np.flatnonzero(keep).astype(np.int64), counts


def target_buyers(data: Dataset, target_items: np.ndarray, buyer_events: tuple[str, ...] = ("purchase",)
                  ) -> np.ndarray:
    """Per customer: whether they already bought a target item.

    A purchase is an event whose type is in ``buyer_events``; data without event types
    counts any event on a target item.
    """
    frame = data.frame
    on_target = np.zeros(data.n_items, dtype=bool)
    on_target[target_items] = True
    hit = on_target[frame["item_idx"].to_numpy()]
    if "event_type" in frame:
        types = frame["event_type"].astype("string").str.strip().str.lower()
        hit &= types.isin(list(buyer_events)).fillna(False).to_numpy(bool)
    out = np.zeros(data.n_users, dtype=bool)
    out[frame["user_idx"].to_numpy()[hit]] = True
    return out


# ----- scoring -----------------------------------------------------------------------------------

def affinities(model: Recommender, users: np.ndarray, target_items: np.ndarray, mode: str, *,
               batch_size: int = 1024) -> np.ndarray:
    """Affinity of each of ``users`` for the target, scored ``batch_size`` customers at a time.

    "max" / "mean": over the target items' scores. "rank": 1 + the number of items the
    customer has not interacted with (outside the target) that outrank the best target item;
    equal scores are broken by item index, as in a stable sort of the full list.
    """
    if mode not in ("max", "mean", "rank"):
        raise RuleError(f"unknown affinity mode {mode!r}")
    users = np.asarray(users, dtype=np.int64)
    targets = np.asarray(target_items, dtype=np.int64)
    out = np.empty(len(users), dtype=np.float64)
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        scores = np.asarray(model.score(batch), dtype=np.float32)
        if mode == "rank":
            scores = np.where(np.isnan(scores), -np.inf, scores)
            out[start:start + len(batch)] = best_target_rank(scores, targets, _seen_rows(model, batch))
            continue
        on_target = scores[:, targets]
        on_target[np.isnan(on_target)] = -np.inf
        if mode == "max":
            out[start:start + len(batch)] = on_target.max(axis=1)
        else:
            out[start:start + len(batch)] = on_target.mean(axis=1, dtype=np.float64)
    return out


def _seen_rows(model: Recommender, users: np.ndarray) -> np.ndarray:
    rows = model.history_[users]
    seen = np.zeros(rows.shape, dtype=bool)
    r, c = rows.nonzero()
    seen[r, c] = True
    return seen


def select(values: np.ndarray, user_ids: np.ndarray, rule: SegmentRule) -> np.ndarray:
    """Positions of the kept customers, best first (ties by raw customer id)."""
    higher = rule.affinity != "rank"
    keep = np.isfinite(values)
    if rule.threshold is not None:
        keep &= values >= rule.threshold if higher else values <= rule.threshold
    positions = np.flatnonzero(keep)
    frame = pd.DataFrame({"value": values[positions], "id": np.asarray(user_ids, dtype=object)[positions].astype(str),
                          "pos": positions})
    frame = frame.sort_values(["value", "id"], ascending=[not higher, True], kind="mergesort")
    order = frame["pos"].to_numpy(np.int64)
    return order[:rule.size] if rule.size is not None else order


def random_members(audience: Audience, data: Dataset, *, size: int | None = None, seed: int = 0) -> pd.DataFrame:
    """A random segment of the same size drawn from the same eligible pool (a baseline)."""
    n = audience.size if size is None else int(size)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(audience.pool, size=min(n, len(audience.pool)), replace=False))
    return pd.DataFrame({"user_id": data.users.to_raw(chosen).astype(str), "user_idx": chosen,
                         "affinity": np.nan, "rank": np.arange(1, len(chosen) + 1)}, columns=MEMBER_COLUMNS)


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
