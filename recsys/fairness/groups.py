"""Customer groups for fairness breakdowns: attributes, derived groups and intersections.

A grouping gives every customer exactly one label, so group sizes add up to the
total: customers without a value are labelled ``MISSING``, never dropped.
Spell a grouping as an attribute (``"country"``), a derived group
(``"activity"``, ``"tenure"``) or an intersection of two (``"country+age_group"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data.dataset import SECONDS_PER_DAY, Dataset

MISSING = "(missing)"
ACTIVITY = "activity"
TENURE = "tenure"
DERIVED = (ACTIVITY, TENURE)
SEPARATORS = ("+", "×")
# Identifiers and contact details are never groups; too many levels make groups meaningless.
NOT_GROUPS = frozenset({"user_id", "email", "phone"})
MAX_LEVELS = 50
ACTIVITY_LEVELS = ("new", "light", "heavy")
TENURE_DAYS = (90, 365)


@dataclass(frozen=True)
class Groups:
    """One label per customer (aligned with the ``users`` it was built for)."""

    name: str
    labels: np.ndarray
    description: str = ""

    def counts(self) -> pd.Series:
        """Customers per group, largest first."""
        return pd.Series(self.labels).value_counts(sort=True)


def groupable_attributes(data: Dataset, *, max_levels: int = MAX_LEVELS) -> list[str]:
    """Customer-table columns usable as groups: categorical, 2..``max_levels`` values."""
    features = data.user_features
    if features is None:
        return []
    out = []
    for column in features.columns:
        if column in NOT_GROUPS or pd.api.types.is_datetime64_any_dtype(features[column]) \
                or pd.api.types.is_float_dtype(features[column]):
            continue
        if 2 <= features[column].nunique(dropna=True) <= max_levels:
            out.append(str(column))
    return out


def available_groupings(data: Dataset) -> list[str]:
    """Attributes, then the derived groups this dataset supports."""
    derived = [ACTIVITY]
    if data.user_features is not None and "signup_date" in data.user_features:
        derived.append(TENURE)
    return groupable_attributes(data) + derived


def parse_spec(spec: str) -> list[str]:
    """``"a+b"`` (or ``"a × b"``) -> ``["a", "b"]``; a plain name -> ``[name]``."""
    text = spec
    for sep in SEPARATORS[1:]:
        text = text.replace(sep, SEPARATORS[0])
    parts = [p.strip() for p in text.split(SEPARATORS[0]) if p.strip()]
    if not 1 <= len(parts) <= 2:
        raise ValueError(f"a grouping is one attribute or an intersection of two, not {spec!r}")
    return parts


def attribute_groups(data: Dataset, users: np.ndarray, column: str) -> Groups:
    """Groups by a customer-table column."""
    if data.user_features is None or column not in data.user_features:
        known = ", ".join(available_groupings(data)) or "none"
        raise KeyError(f"no customer attribute {column!r}; groupings available: {known}")
    values = data.user_features[column].to_numpy(dtype=object)[np.asarray(users, dtype=np.int64)]
    return Groups(column, _labels(values), f"customer attribute '{column}'")


def activity_groups(event_counts: np.ndarray, thresholds: tuple[float, float] | None = None) -> Groups:
    """New / light / heavy customers by event count.

    ``thresholds`` ``(a, b)``: new has at most ``a`` events, light at most ``b``,
    heavy more. By default ``a`` and ``b`` are the terciles of ``event_counts``
    (ties make the groups unequal: a count on a cut-off goes to the lower group).
    """
    counts = np.asarray(event_counts, dtype=np.float64)
    if thresholds is None:
        low, high = (np.quantile(counts, [1 / 3, 2 / 3]) if len(counts) else (0.0, 0.0))
        how = "terciles of training events"
    else:
        low, high = thresholds
        how = "given thresholds"
    if high < low:
        raise ValueError("activity thresholds must be ascending")
    level = np.searchsorted([low, high], counts, side="left")
    labels = np.asarray(ACTIVITY_LEVELS, dtype=object)[level]
    description = (f"activity by {how}: new ≤ {low:g} events, light ≤ {high:g}, heavy > {high:g}")
    return Groups(ACTIVITY, labels, description)


def tenure_groups(signup: np.ndarray, now: int, bins_days: tuple[int, int] = TENURE_DAYS) -> Groups:
    """Customers by time since sign-up at ``now`` (Unix seconds), in ``bins_days`` bands."""
    stamps = pd.to_datetime(pd.Series(signup), errors="coerce")
    known = stamps.notna().to_numpy()
    seconds = np.zeros(len(stamps), np.int64)
    seconds[known] = stamps[known].astype("datetime64[s]").astype(np.int64).to_numpy()
    days = (int(now) - seconds) / SECONDS_PER_DAY
    short, long = bins_days
    names = np.asarray([f"≤ {short} days", f"{short}-{long} days", f"> {long} days"], dtype=object)
    labels = names[np.searchsorted([short, long], days, side="left")]
    labels[~known] = MISSING
    return Groups(TENURE, labels, f"days from sign-up to the latest event, bands at {short} and {long} days")


def intersect(a: Groups, b: Groups) -> Groups:
    """The intersection of two groupings: one group per pair of labels seen."""
    labels = pd.Series(a.labels, dtype=str).str.cat(pd.Series(b.labels, dtype=str), sep=" × ")
    labels = labels.to_numpy(dtype=object)
    return Groups(f"{a.name}+{b.name}", labels, f"intersection of {a.name} and {b.name}")


def customer_groups(data: Dataset, users: np.ndarray, spec: str, *, history: Dataset | None = None,
                    activity_thresholds: tuple[float, float] | None = None) -> Groups:
    """Resolve a grouping ``spec`` for ``users``.

    ``history`` holds the events that count for activity (the run's training data;
    default ``data``); tenure is measured at its latest event.
    """
    users = np.asarray(users, dtype=np.int64)
    parts = [_one(data, users, name, history or data, activity_thresholds) for name in parse_spec(spec)]
    return parts[0] if len(parts) == 1 else intersect(*parts)


def _one(data: Dataset, users: np.ndarray, name: str, history: Dataset,
         thresholds: tuple[float, float] | None) -> Groups:
    if name == ACTIVITY:
        counts = np.bincount(history.frame["user_idx"].to_numpy(), minlength=data.n_users)
        return activity_groups(counts[users], thresholds)
    features = data.user_features
    if name == TENURE and (features is None or TENURE not in features):
        if features is None or "signup_date" not in features:
            raise KeyError("tenure needs a signup_date column in the customer table")
        if not history.has_timestamps or history.n_events == 0:
            raise KeyError("tenure needs event timestamps to know 'now'")
        now = int(history.frame["timestamp"].max())
        return tenure_groups(features["signup_date"].to_numpy()[users], now)
    return attribute_groups(data, users, name)


def _labels(values: np.ndarray) -> np.ndarray:
    series = pd.Series(values, dtype=object)
    return series.where(series.notna(), MISSING).astype(str).to_numpy(dtype=object)
