"""A small interaction log with planted taste groups, for the Spark tests (deterministic)."""

from __future__ import annotations

import numpy as np
import pandas as pd

EVENT_TYPES = np.array(["view", "click", "add_to_cart", "purchase"])


def planted_events(n_users: int = 600, n_items: int = 240, n_groups: int = 6, events_per_user: int = 24,
                   seed: int = 0) -> pd.DataFrame:
    """Users of group g mostly act on items of group g; unique, increasing times per user."""
    rng = np.random.default_rng(seed)
    user_group = rng.integers(0, n_groups, n_users)
    item_group = np.arange(n_items) % n_groups
    by_group = [np.flatnonzero(item_group == g) for g in range(n_groups)]
    users, items = [], []
    for u in range(n_users):
        n = int(rng.integers(events_per_user // 2, events_per_user * 3 // 2))
        own = rng.random(n) < 0.85
        pool = by_group[user_group[u]]
        pop = 1.0 / np.arange(1, len(pool) + 1) ** 0.7
        items += list(np.where(own, rng.choice(pool, n, p=pop / pop.sum()), rng.integers(0, n_items, n)))
        users += [u] * n
    n = len(users)
    start = pd.Timestamp("2024-01-01")
    seconds = rng.permutation(n) * 37 + rng.integers(0, 30, n)  # distinct seconds
    return pd.DataFrame({
        "customer_id": [f"C{u:05d}" for u in users],
        "product_id": [f"P{i:04d}" for i in items],
        "event_time": (start + pd.to_timedelta(seconds, unit="s")).strftime("%Y-%m-%d %H:%M:%S"),
        "event_type": EVENT_TYPES[rng.choice(4, n, p=[0.6, 0.2, 0.1, 0.1])],
    })


def planted_items(n_items: int = 240, n_groups: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"item_id": [f"P{i:04d}" for i in range(n_items)],
                         "title": [f"Product {i}" for i in range(n_items)],
                         "category": [f"Group{i % n_groups}" for i in range(n_items)],
                         "price": [float(5 + (i * 7) % 90) for i in range(n_items)]})


def planted_users(n_users: int = 600, seed: int = 1) -> pd.DataFrame:
    """Customer attributes for segment filters: country, age, loyalty tier (every 50th customer missing)."""
    rng = np.random.default_rng(seed)
    users = pd.DataFrame({"user_id": [f"C{u:05d}" for u in range(n_users)],
                          "country": rng.choice(["France", "Japan", "Brazil"], n_users),
                          "age": rng.integers(18, 80, n_users),
                          "loyalty_tier": rng.choice(["bronze", "silver", "gold"], n_users)})
    return users[np.arange(n_users) % 50 != 7].reset_index(drop=True)
