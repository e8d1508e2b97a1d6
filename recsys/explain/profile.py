"""The customer drill-down's data side: find customers, their masked profile, activity and timeline.

Personal data (e-mail, phone, names, addresses) is never returned in full: ``mask``
keeps just enough to recognise a record ("o***@example.com", "*** ** 1234").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.dataset import Dataset
from recsys.explain.record import item_labels

PERSONAL = {"email", "phone", "mobile", "name", "first_name", "last_name", "full_name", "address", "street",
            "postcode", "zip", "ip", "ip_address"}
MAX_SEGMENT_VALUES = 50


def mask(column: str, value) -> str | None:
    """A masked rendering of a personal value (None stays None)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value)
    if "email" in column.lower() and "@" in text:
        local, domain = text.split("@", 1)
        return f"{local[:1]}***@{domain}"
    if "phone" in column.lower() or "mobile" in column.lower():
        digits = re.sub(r"\D", "", text)
        return f"*** {digits[-2:]}" if len(digits) >= 6 else "***"
    return f"{text[:1]}***" if text else text


def is_personal(column: str) -> bool:
    return str(column).lower() in PERSONAL


def segment_columns(data: Dataset) -> dict[str, list[str]]:
    """Customer attributes usable as filters: non-personal, few distinct values -> sorted values."""
    users = data.user_features
    if users is None:
        return {}
    out = {}
    for col in users.columns:
        if col == "user_id" or is_personal(col) or pd.api.types.is_datetime64_any_dtype(users[col]):
            continue
        values = users[col].dropna().astype(str).unique()
        if 2 <= len(values) <= MAX_SEGMENT_VALUES:
            out[str(col)] = sorted(values)
    return out


def find_customers(data: Dataset, *, query: str = "", filters: dict[str, list[str]] | None = None,
                   limit: int = 500) -> pd.DataFrame:
    """Customers with events whose id contains ``query`` and whose attributes match ``filters``.

    Columns: user_idx, user_id, events, then the filter columns; most active first.
    """
    counts = np.bincount(data.frame["user_idx"].to_numpy(), minlength=data.n_users)
    frame = pd.DataFrame({"user_idx": np.arange(data.n_users), "user_id": data.users.ids.astype(str),
                          "events": counts})
    keep = counts > 0
    if query:
        keep &= frame["user_id"].str.contains(query.strip(), case=False, regex=False).to_numpy()
    for col, values in (filters or {}).items():
        if values and data.user_features is not None and col in data.user_features:
            column = data.user_features[col].astype(str).to_numpy()
            keep &= np.isin(column, [str(v) for v in values])
            frame[col] = data.user_features[col].to_numpy()
    return frame[keep].sort_values(["events", "user_idx"], ascending=[False, True]).head(limit)\
        .reset_index(drop=True)


@dataclass(frozen=True)
class CustomerProfile:
    """Masked attributes, activity figures and top categories of one customer."""

    user_id: str
    attributes: dict
    activity: dict
    top_categories: pd.DataFrame


def customer_profile(data: Dataset, user_idx: int, *, n_categories: int = 5) -> CustomerProfile:
    u = int(user_idx)
    attributes = {}
    if data.user_features is not None:
        row = data.user_features.iloc[u]
        for col, value in row.items():
            if col == "user_id":
                continue
            attributes[str(col)] = mask(str(col), value) if is_personal(str(col)) else _plain(value)
    events = timeline(data, u)
    activity = {"events": int(len(events)), "items": int(events["item_id"].nunique()) if len(events) else 0}
    if "time" in events and len(events):
        activity.update(first_seen=str(events["time"].min())[:10], last_seen=str(events["time"].max())[:10])
    if "event_type" in events and len(events):
        activity.update({f"{k}": int(v) for k, v in events["event_type"].value_counts().items()})
    top = (events["category"].fillna("unknown").value_counts().head(n_categories)
           .rename_axis("category").reset_index(name="events")) if len(events) else \
        pd.DataFrame({"category": [], "events": []})
    return CustomerProfile(str(data.users.to_raw([u])[0]), attributes, activity, top)


def timeline(data: Dataset, user_idx: int) -> pd.DataFrame:
    """The customer's events, oldest first: time (UTC), event_type, item labels, context columns."""
    f = data.frame
    mine = f[f["user_idx"] == int(user_idx)]
    out = item_labels(data, mine["item_idx"].to_numpy())
    out.insert(0, "item_idx", mine["item_idx"].to_numpy())
    if "timestamp" in mine:
        out.insert(0, "time", pd.to_datetime(mine["timestamp"].to_numpy(), unit="s", utc=True))
    for col in ("event_type", "weight", *data.context_columns):
        if col in mine:
            out[col] = mine[col].to_numpy()
    return out.reset_index(drop=True)


def _plain(value):
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        return str(value.date())
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value
