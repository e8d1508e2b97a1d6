"""A profile of an imported dataset: the small summary tables the Data page charts.

Everything here is computed once per dataset fingerprint and is small (bounded by
the number of days, categories and attribute values), so the page never holds
more than summaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Attributes with more distinct values than this are not charted as a breakdown.
MAX_BREAKDOWN_VALUES = 30
# Columns never profiled: personal data stays out of charts.
PERSONAL_COLUMNS = {"email", "phone", "first_name", "last_name", "name", "zip", "address"}


@dataclass(frozen=True)
class DataProfile:
    """Summary statistics and chart-ready tables of one dataset."""

    stats: dict
    events_over_time: pd.DataFrame | None  # period, event_type, events
    item_popularity: pd.DataFrame  # rank, events, share_cumulative
    user_activity: pd.DataFrame  # events per user histogram: events, users
    category_mix: pd.DataFrame | None  # category, items, events
    user_breakdowns: dict[str, pd.DataFrame] = field(default_factory=dict)  # attribute -> value, users, events
    event_types: pd.DataFrame | None = None  # event_type, events


def profile_dataset(tables: dict[str, pd.DataFrame]) -> DataProfile:
    """Profile canonical tables (``interactions`` required, ``items``/``users`` optional)."""
    events = tables["interactions"]
    items, users = tables.get("items"), tables.get("users")
    per_item = events["item_id"].value_counts()
    per_user = events["user_id"].value_counts()
    n_users = max(int(per_user.size), 0)
    n_items_seen = int(per_item.size)
    n_catalog = int(items["item_id"].nunique()) if items is not None else n_items_seen
    pairs = int(events[["user_id", "item_id"]].drop_duplicates().shape[0]) if len(events) else 0
    stats = {
        "events": int(len(events)),
        "customers": n_users,
        "items_with_events": n_items_seen,
        "catalog_items": n_catalog,
        "items_without_events": max(n_catalog - n_items_seen, 0),
        "distinct_pairs": pairs,
        "density": pairs / (n_users * max(n_catalog, 1)) if n_users else 0.0,
        "events_per_customer_median": float(per_user.median()) if n_users else 0.0,
        "events_per_item_median": float(per_item.median()) if n_items_seen else 0.0,
        "single_event_customers": int((per_user == 1).sum()),
        "top_1pct_items_event_share": _head_share(per_item, 0.01),
    }
    stats["sparsity"] = 1.0 - stats["density"]
    if "timestamp" in events and len(events):
        stats["first_event"] = str(events["timestamp"].min())
        stats["last_event"] = str(events["timestamp"].max())
        stats["days_covered"] = int((events["timestamp"].max() - events["timestamp"].min()).days) + 1
    return DataProfile(
        stats=stats,
        events_over_time=_events_over_time(events),
        item_popularity=_long_tail(per_item),
        user_activity=_activity_histogram(per_user),
        category_mix=_category_mix(events, items),
        user_breakdowns=_user_breakdowns(events, users),
        event_types=(events["event_type"].value_counts().rename_axis("event_type").reset_index(name="events")
                     if "event_type" in events else None),
    )


def _head_share(counts: pd.Series, fraction: float) -> float:
    if counts.empty:
        return 0.0
    n_head = max(1, int(round(len(counts) * fraction)))
    return float(counts.iloc[:n_head].sum() / counts.sum())


def _events_over_time(events: pd.DataFrame) -> pd.DataFrame | None:
    if "timestamp" not in events or events.empty:
        return None
    span_days = (events["timestamp"].max() - events["timestamp"].min()).days
    freq = "D" if span_days <= 120 else "W"
    period = events["timestamp"].dt.to_period(freq).dt.start_time
    kind = events["event_type"] if "event_type" in events else pd.Series("event", index=events.index)
    out = (pd.DataFrame({"period": period, "event_type": kind})
           .groupby(["period", "event_type"]).size().rename("events").reset_index())
    return out


def _long_tail(per_item: pd.Series) -> pd.DataFrame:
    counts = per_item.to_numpy()
    total = counts.sum() or 1
    return pd.DataFrame({
        "rank": np.arange(1, len(counts) + 1),
        "events": counts,
        "share_cumulative": np.cumsum(counts) / total,
    })


def _activity_histogram(per_user: pd.Series) -> pd.DataFrame:
    return (per_user.value_counts().sort_index().rename_axis("events").reset_index(name="customers"))


def _category_mix(events: pd.DataFrame, items: pd.DataFrame | None) -> pd.DataFrame | None:
    if items is None or "category" not in items:
        return None
    catalog = items[["item_id", "category"]].drop_duplicates("item_id")
    item_counts = catalog["category"].fillna("(none)").value_counts().rename("items")
    joined = events[["item_id"]].merge(catalog, on="item_id", how="left")
    event_counts = joined["category"].fillna("(unknown item)").value_counts().rename("events")
    mix = pd.concat([item_counts, event_counts], axis=1).fillna(0).astype(int)
    return mix.rename_axis("category").reset_index().sort_values("events", ascending=False)


def _user_breakdowns(events: pd.DataFrame, users: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    if users is None:
        return {}
    per_user = events["user_id"].value_counts().rename("events")
    out: dict[str, pd.DataFrame] = {}
    for col in users.columns:
        if col == "user_id" or col.lower() in PERSONAL_COLUMNS:
            continue
        values = users[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if values.nunique(dropna=True) > MAX_BREAKDOWN_VALUES or values.nunique(dropna=True) < 2:
            continue
        frame = pd.DataFrame({"value": values.fillna("(missing)").astype(str).to_numpy(),
                              "events": per_user.reindex(users["user_id"]).fillna(0).to_numpy()})
        out[col] = (frame.groupby("value").agg(customers=("events", "size"), events=("events", "sum"))
                    .reset_index().sort_values("customers", ascending=False))
    return out
