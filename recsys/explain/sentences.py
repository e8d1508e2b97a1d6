"""One plain-language sentence per explanation, for analysts and customer-facing copy.

"Recommended because they viewed A and B this week; customers on mobile in the
evening favour this category." The sentence only says what the explanation supports:
history items with positive contributions, the feature groups that raised the score,
and the context clause only when the model uses the context and it helped.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from recsys.data.dataset import SECONDS_PER_DAY, Dataset
from recsys.explain.record import Explanation, item_labels

VERBS = {"purchase": "bought", "add_to_cart": "added to their cart", "wishlist": "saved", "like": "liked",
         "share": "shared", "rating": "rated", "click": "clicked on", "view": "viewed", "impression": "saw"}
# Strongest first: the verb for an item is that of the customer's strongest event on it.
_STRENGTH = ("purchase", "add_to_cart", "wishlist", "like", "share", "rating", "click", "view", "impression")
GROUP_PHRASES = {
    "collaborative": "their past activity matches it",
    "customer": "customers with their profile{detail} tend to engage with it",
    "item": "its attributes{detail} suit them",
    "text": "its title and description resemble what they engage with",
}
_DAYPART_PHRASES = {"night": "at night", "morning": "in the morning", "midday": "around midday",
                    "afternoon": "in the afternoon", "evening": "in the evening"}


def sentence(e: Explanation, data: Dataset, *, max_items: int = 2, now: int | None = None) -> str:
    """The plain-language reason for ``e`` (history items, feature groups, context)."""
    if e.kind in ("history_items", "attention"):
        text = _history_sentence(e, data, max_items, now)
    elif e.model == "neumf":
        top = e.top(1)
        text = ("Recommended because their learned taste profile matches this item's"
                if len(top) and top["group"].iloc[0] == "customer" else
                "Recommended mainly because this item is broadly appealing to customers like them")
    else:
        text = _feature_sentence(e)
    return f"{text}."


def _history_sentence(e: Explanation, data: Dataset, max_items: int, now: int | None) -> str:
    per_item = e.contributions.groupby("item_idx", sort=False)["value"].sum()
    positive = per_item[per_item > 0].sort_values(ascending=False).head(max_items)
    lead = "The model looked most at" if e.method == "attention" else "Recommended because"
    if positive.empty:
        return "No single history item stands out: the score comes from many small contributions"
    items = positive.index.to_numpy(np.int64)
    verbs, when = _events(data, e.user_idx, items, now)
    names = item_labels(data, items)["title"].tolist()
    if e.method == "attention":
        return f"{lead} {_join(names)} (where it looked, not why)"
    if len(set(verbs)) == 1:
        text = f"{lead} they {verbs[0]} {_join(names)}"
    else:
        text = f"{lead} they " + _join([f"{v} {n}" for v, n in zip(verbs, names)])
    return f"{text} {when}" if when else text


def _feature_sentence(e: Explanation) -> str:
    frame = e.contributions
    per_group = frame.groupby("group", sort=False)["value"].sum()
    labels = dict(zip(frame["group"], frame["label"])) if e.kind == "groups" else {}
    clauses = []
    for group, value in per_group.sort_values(ascending=False).items():
        if value <= 0 or group == "context" or group not in GROUP_PHRASES:
            continue
        detail = _detail(group, labels.get(group), frame)
        clauses.append(GROUP_PHRASES[group].format(detail=f" ({detail})" if detail else ""))
        if len(clauses) == 2:
            break
    text = "Recommended because " + " and ".join(clauses) if clauses else \
        "Recommended although no feature group raises the score much"
    context = e.meta.get("context_values") or {}
    if per_group.get("context", 0.0) > 0 and any(v for v in context.values()):
        text += "; customers " + _context_phrase(context) + " favour this kind of item"
    return text


def _detail(group: str, label: str | None, frame: pd.DataFrame) -> str:
    if group not in ("customer", "item"):
        return ""
    if label is None:  # per-field (Captum) rows: the group's strongest positive fields
        rows = frame[(frame["group"] == group) & (frame["value"] > 0)].nlargest(2, "value")
        parts = [str(lbl).split(" = ", 1)[-1] for lbl in rows["label"]]
    else:
        parts = [p.split("=", 1)[-1] for p in label.split(", ")][:3]
    return ", ".join(p for p in parts if p and p != "unknown")


def _context_phrase(context: dict) -> str:
    parts = []
    if context.get("device"):
        parts.append(f"on {context['device']}")
    if context.get("channel"):
        parts.append(f"via {context['channel']}")
    if context.get("daypart"):
        parts.append(_DAYPART_PHRASES.get(str(context["daypart"]), f"in the {context['daypart']}"))
    if context.get("weekday"):
        parts.append(f"on {context['weekday']}s")
    return " ".join(parts) if parts else "in this context"


def _events(data: Dataset, user_idx: int, items: np.ndarray, now: int | None) -> tuple[list[str], str]:
    """Each item's strongest event verb, and when the most recent of them happened."""
    f = data.frame
    mine = f[(f["user_idx"] == user_idx) & f["item_idx"].isin(items)]
    verbs = []
    for item in items:
        types = mine.loc[mine["item_idx"] == item, "event_type"].astype(str).str.lower().tolist() \
            if "event_type" in mine else []
        strongest = next((t for t in _STRENGTH if t in types), None)
        verbs.append(VERBS.get(strongest, "engaged with"))
    if "timestamp" not in mine or mine.empty:
        return verbs, ""
    ref = int(f["timestamp"].max()) if now is None else int(now)
    return verbs, recency(int(mine["timestamp"].max()), ref)


def recency(ts: int, now: int) -> str:
    """"today", "this week", "this month" or "in March 2025" for Unix seconds ``ts``."""
    age = (now - ts) / SECONDS_PER_DAY
    if age < 1:
        return "today"
    if age < 7:
        return "this week"
    if age < 31:
        return "this month"
    return "in " + dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%B %Y")


def _join(parts: list[str]) -> str:
    parts = [str(p) for p in parts]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]

