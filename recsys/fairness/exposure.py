"""Exposure of item groups in ranked lists, its inequality, and popularity bias.

Exposure is position-weighted: a slot at rank r gets 1/log2(r+1), the browsing
model behind DCG that Singh & Joachims (2018, "Fairness of exposure in rankings",
Eq. 2) use for exposure. An item group's exposure share is compared with its share
of the catalog and of the interactions (what a calibrated or an
interaction-proportional ranking would give it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.dataset import SECONDS_PER_DAY, Dataset
from recsys.fairness.groups import MISSING, MAX_LEVELS

POPULARITY_TIER = "popularity_tier"
ITEM_AGE = "item_age"
DERIVED_ITEM = (POPULARITY_TIER, ITEM_AGE)
NOT_ITEM_GROUPS = frozenset({"item_id", "title", "description", "tags", "image_path"})
TIERS = ("head", "mid", "tail")
ITEM_AGE_DAYS = (30, 365)


@dataclass(frozen=True)
class ItemGroups:
    """One label per catalog item (index-aligned)."""

    name: str
    labels: np.ndarray
    description: str = ""


def position_weights(k: int, kind: str = "log") -> np.ndarray:
    """Attention paid to ranks 1..k: ``1/log2(r+1)`` ("log") or 1 ("uniform")."""
    if kind == "log":
        return 1.0 / np.log2(np.arange(2, k + 2))
    if kind == "uniform":
        return np.ones(k)
    raise ValueError(f"position weighting must be 'log' or 'uniform', not {kind!r}")


def item_exposure(ranked: np.ndarray, n_items: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Total exposure of each catalog item over all lists (-1 slots are empty)."""
    ranked = np.asarray(ranked, dtype=np.int64)
    w = position_weights(ranked.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    slot_weights = np.broadcast_to(w[: ranked.shape[1]], ranked.shape)
    valid = ranked >= 0
    return np.bincount(ranked[valid], weights=slot_weights[valid], minlength=n_items)[:n_items]


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative amounts: 0 when equal, (n-1)/n when one holds all."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    if len(x) == 0 or x.sum() <= 0:
        return 0.0
    n = len(x)
    ranks = np.arange(1, n + 1)
    return float(((2 * ranks - n - 1) * x).sum() / (n * x.sum()))


def lorenz_curve(values: np.ndarray, n_points: int = 201) -> pd.DataFrame:
    """Cumulative share of exposure held by the least-exposed share of items."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    cum = np.concatenate([[0.0], np.cumsum(x)])
    total = cum[-1] if cum[-1] > 0 else 1.0
    at = np.unique(np.linspace(0, len(x), min(n_points, len(x) + 1)).round().astype(np.int64))
    return pd.DataFrame({"item_share": at / max(len(x), 1), "exposure_share": cum[at] / total})


def exposure_by_group(ranked: np.ndarray, groups: ItemGroups, interactions: np.ndarray,
                      weights: np.ndarray | None = None) -> pd.DataFrame:
    """Per item group: items, catalog share, interaction share, slot and exposure shares.

    ``exposure_vs_catalog`` is exposure share / catalog share (1 = exposed in
    proportion to its size) and ``exposure_vs_interactions`` the same against the
    group's share of interactions.
    """
    labels = np.asarray(groups.labels, dtype=object)
    n_items = len(labels)
    exposure = item_exposure(ranked, n_items, weights)
    slots = item_exposure(ranked, n_items, np.ones(np.asarray(ranked).shape[1]))
    frame = pd.DataFrame({"group": labels, "items": 1, "interactions": np.asarray(interactions, np.float64),
                          "slots": slots, "exposure": exposure})
    out = frame.groupby("group", sort=True).sum()
    totals = out.sum()
    for column in ("items", "interactions", "slots", "exposure"):
        out[f"{column}_share"] = out[column] / totals[column] if totals[column] > 0 else 0.0
    out = out.rename(columns={"items_share": "catalog_share"})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["exposure_vs_catalog"] = out["exposure_share"] / out["catalog_share"]
        out["exposure_vs_interactions"] = out["exposure_share"] / out["interactions_share"].replace(0, np.nan)
    out = out.reset_index().sort_values("exposure_share", ascending=False, kind="stable")
    out.insert(0, "grouping", groups.name)
    return out.reset_index(drop=True)


def popularity_tiers(interactions: np.ndarray, head: float = 0.2, tail: float = 0.2) -> np.ndarray:
    """Head / mid / tail by cumulative share of interactions.

    Items sorted by popularity: the head holds the most popular items that together
    account for the first ``head`` share of interactions, the tail the least popular
    items that account for the last ``tail`` share (including items never
    interacted with), the mid the rest (Abdollahpouri et al. 2021, "User-centered
    evaluation of popularity bias in recommender systems").
    """
    pop = np.asarray(interactions, dtype=np.float64)
    order = np.argsort(-pop, kind="stable")
    total = pop.sum()
    labels = np.full(len(pop), TIERS[1], dtype=object)
    if total <= 0:
        labels[:] = TIERS[2]
        return labels
    before = (np.cumsum(pop[order]) - pop[order]) / total  # share held by more popular items
    labels[order[before < head]] = TIERS[0]
    labels[order[before >= 1.0 - tail]] = TIERS[2]
    return labels


def item_age_groups(published: np.ndarray, now: int, bins_days: tuple[int, int] = ITEM_AGE_DAYS) -> np.ndarray:
    """Items by age at ``now`` (Unix seconds) from their publish dates."""
    stamps = pd.to_datetime(pd.Series(published), errors="coerce")
    known = stamps.notna().to_numpy()
    seconds = np.zeros(len(stamps), np.int64)
    seconds[known] = stamps[known].astype("datetime64[s]").astype(np.int64).to_numpy()
    days = (int(now) - seconds) / SECONDS_PER_DAY
    short, long = bins_days
    names = np.asarray([f"≤ {short} days", f"{short}-{long} days", f"> {long} days"], dtype=object)
    labels = names[np.searchsorted([short, long], days, side="left")]
    labels[~known] = MISSING
    return labels


def groupable_item_attributes(data: Dataset, *, max_levels: int = MAX_LEVELS) -> list[str]:
    """Catalog columns usable as item groups (categorical, 2..``max_levels`` values)."""
    features = data.item_features
    if features is None:
        return []
    out = []
    for column in features.columns:
        if column in NOT_ITEM_GROUPS or pd.api.types.is_datetime64_any_dtype(features[column]) \
                or pd.api.types.is_float_dtype(features[column]):
            continue
        if 2 <= features[column].nunique(dropna=True) <= max_levels:
            out.append(str(column))
    return out


def available_item_groupings(data: Dataset) -> list[str]:
    """Catalog attributes, then the derived item groups this dataset supports."""
    derived = [POPULARITY_TIER]
    if data.item_features is not None and "publish_date" in data.item_features and data.has_timestamps:
        derived.append(ITEM_AGE)
    return groupable_item_attributes(data) + derived


def item_groups(data: Dataset, spec: str, *, interactions: np.ndarray | None = None,
                now: int | None = None) -> ItemGroups:
    """Resolve an item grouping: a catalog attribute, ``popularity_tier`` or ``item_age``.

    ``interactions`` (events per item, default from ``data``) defines the tiers;
    ``now`` (default: the latest event) the item ages.
    """
    features = data.item_features
    if spec == POPULARITY_TIER and (features is None or spec not in features):
        pop = interactions if interactions is not None else \
            np.bincount(data.frame["item_idx"].to_numpy(), minlength=data.n_items)
        return ItemGroups(spec, popularity_tiers(pop),
                          "head: most popular items with the first 20% of interactions; tail: the least "
                          "popular with the last 20%; mid: the rest")
    if spec == ITEM_AGE and (features is None or spec not in features):
        if features is None or "publish_date" not in features:
            raise KeyError("item age needs a publish_date column in the catalog")
        if now is None:
            if not data.has_timestamps or data.n_events == 0:
                raise KeyError("item age needs event timestamps to know 'now'")
            now = int(data.frame["timestamp"].max())
        return ItemGroups(spec, item_age_groups(features["publish_date"].to_numpy(), now),
                          "days from publishing to the latest event")
    if features is None or spec not in features:
        known = ", ".join(available_item_groupings(data)) or "none"
        raise KeyError(f"no item attribute {spec!r}; item groupings available: {known}")
    series = pd.Series(features[spec].to_numpy(dtype=object), dtype=object)
    labels = series.where(series.notna(), MISSING).astype(str).to_numpy(dtype=object)
    return ItemGroups(spec, labels, f"catalog attribute '{spec}'")


def aggregate_diversity(ranked: np.ndarray, n_items: int) -> dict[str, float]:
    """Distinct items recommended to anyone, and their share of the catalog."""
    ranked = np.asarray(ranked, dtype=np.int64)
    n_distinct = int(np.count_nonzero(np.bincount(ranked[ranked >= 0], minlength=n_items)))
    return {"n_distinct_items": n_distinct, "catalog_coverage": n_distinct / max(n_items, 1)}


def popularity_bias(ranked: np.ndarray, interactions: np.ndarray, tail_mask: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per list: average recommendation popularity (ARP) and long-tail share (APLT).

    Abdollahpouri et al. (2019, "Managing popularity bias in recommender systems
    with personalized re-ranking"): ARP is the mean interaction count of the listed
    items, APLT the share of listed items in the long tail. Empty lists are NaN.
    """
    ranked = np.asarray(ranked, dtype=np.int64)
    valid = ranked >= 0
    safe = np.where(valid, ranked, 0)
    n = valid.sum(axis=1)
    pop = np.asarray(interactions, dtype=np.float64)[safe]
    tail = np.asarray(tail_mask, bool)[safe]
    with np.errstate(invalid="ignore", divide="ignore"):
        arp = np.where(n > 0, np.where(valid, pop, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)
        aplt = np.where(n > 0, (valid & tail).sum(axis=1) / np.maximum(n, 1), np.nan)
    return arp, aplt
