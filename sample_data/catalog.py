"""Items and customers of the synthetic content platform."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from sample_data import planted as P
from sample_data.vocabulary import (AUDIENCES, FIRST_NAMES, LAST_NAMES, SENTENCES,
                                    TITLE_TEMPLATES, TOPICS)

PRICE_LEVEL: dict[str, float] = {
    "Outdoor": 80, "Fitness": 45, "Cooking": 35, "Travel": 350, "Tech": 250, "Finance": 20,
    "Fashion": 70, "Home": 90, "Beauty": 30, "Gaming": 55,
}
DISCOUNTS = np.array([10, 15, 20, 25, 30, 40, 50])


@dataclasses.dataclass
class Catalog:
    """Item table plus the per-item arrays the event simulator needs."""

    items: pd.DataFrame
    topic: np.ndarray  # topic index per item
    ctype: np.ndarray  # content-type index per item
    pub_day: np.ndarray  # publish day relative to START (negative = before the timeline)
    weight: np.ndarray  # base popularity, 0 for new items
    next_part: np.ndarray  # index of the next series part, -1 if none
    series: list[dict]
    new_items: np.ndarray  # indices of new, never-seen items


def _largest_remainder(total: int, shares: np.ndarray, minimum: int) -> np.ndarray:
    """Split `total` into integer counts proportional to `shares`, each at least `minimum`."""
    shares = shares / shares.sum()
    counts = np.full(len(shares), minimum)
    rest = total - counts.sum()
    raw = shares * rest
    counts += np.floor(raw).astype(int)
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def _plan_series(rng: np.random.Generator, topic: np.ndarray,
                 n_items: int) -> list[dict]:
    """Pick series topics, lengths and member items (item indices in part order)."""
    n_series = max(2, round(n_items / P.SERIES_PER_ITEMS))
    free = {t: list(np.flatnonzero(topic == t)) for t in range(len(P.TOPIC_NAMES))}
    share = np.array([P.TOPIC_BASE[t] for t in P.TOPIC_NAMES])  # series follow demand
    used_names: dict[str, int] = {}
    series = []
    for s in range(n_series):
        length = int(rng.integers(P.SERIES_LENGTH[0], P.SERIES_LENGTH[1] + 1))
        ok = np.array([len(free[t]) >= length + 4 for t in range(len(share))])
        if not ok.any():
            break
        p = np.where(ok, share, 0.0)
        t = int(rng.choice(len(share), p=p / p.sum()))
        members = [int(i) for i in free[t][:length]]
        free[t] = free[t][length:]
        names = TOPICS[P.TOPIC_NAMES[t]]["series"]
        k = used_names.get(P.TOPIC_NAMES[t], 0)
        used_names[P.TOPIC_NAMES[t]] = k + 1
        name = names[k % len(names)] + (f" Season {k // len(names) + 1}" if k >= len(names) else "")
        series.append({"series_id": f"SER{s + 1:02d}", "name": name,
                       "topic": P.TOPIC_NAMES[t], "content_type": ["article", "video"][s % 2],
                       "members": members})
    return series


def _fill(template: str, rng: np.random.Generator, topic: str, brand: str, pct: int) -> str:
    """Fill one title or sentence template with words of `topic`."""
    v = TOPICS[topic]
    nouns = rng.choice(len(v["nouns"]), size=2, replace=False)
    tags = rng.choice(len(v["tags"]), size=2, replace=False)
    return template.format(
        n=int(rng.integers(3, 11)), adj=v["adjectives"][rng.integers(len(v["adjectives"]))],
        noun=v["nouns"][nouns[0]], noun2=v["nouns"][nouns[1]],
        audience=AUDIENCES[rng.integers(len(AUDIENCES))], minutes=int(rng.integers(5, 46)),
        pct=pct, brand=brand, tag=v["tags"][tags[0]], tag2=v["tags"][tags[1]])


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _item_text(rng: np.random.Generator, topic: str, ctype: str, brand: str, pct: int,
               series: tuple[str, int, int] | None) -> tuple[str, str, str]:
    """Return (title, description, tags) for one item."""
    v = TOPICS[topic]
    if series is None:
        templates = TITLE_TEMPLATES[ctype]
        title = _capitalise(_fill(templates[rng.integers(len(templates))], rng, topic, brand, pct))
        lead: list[str] = []
    else:
        name, part, total = series
        title = f"{name}, Part {part}"
        lead = [f"Part {part} of {total} in our {name} {ctype} series."]
    n_sent = int(rng.integers(1, 4)) - len(lead)
    picks = rng.choice(len(SENTENCES), size=max(n_sent, 0), replace=False)
    desc = " ".join(lead + [_capitalise(_fill(SENTENCES[i], rng, topic, brand, pct))
                            for i in picks])
    tag_idx = rng.choice(len(v["tags"]), size=int(rng.integers(2, 5)), replace=False)
    tags = [v["tags"][i] for i in sorted(tag_idx)] + (["deal"] if ctype == "offer" else [])
    return title, desc, "|".join(tags)


def _publish_days(rng: np.random.Generator, n: int, series: list[dict],
                  new_idx: np.ndarray) -> np.ndarray:
    """Publish day per item relative to START; series weekly in 2024, new items last week."""
    catalog_start = (dt.date(2023, 1, 1) - P.START).days
    old = rng.integers(catalog_start, 0, size=n)
    during = rng.integers(0, P.N_DAYS - 14, size=n)
    days = np.where(rng.random(n) < 0.72, old, during)
    for s in series:
        first = int(rng.integers((dt.date(2024, 1, 1) - P.START).days, -60))
        days[s["members"]] = first + 7 * np.arange(len(s["members"]))
    days[new_idx] = P.N_DAYS - 1 - rng.integers(0, P.NEW_ITEM_DAYS, size=len(new_idx))
    return days


def _popularity(rng: np.random.Generator, topic: np.ndarray) -> np.ndarray:
    """Zipf-like weight per item from a random rank inside its topic."""
    weight = np.zeros(len(topic))
    for t, name in enumerate(P.TOPIC_NAMES):
        idx = np.flatnonzero(topic == t)
        rank = rng.permutation(len(idx)) + 1
        weight[idx] = rank ** -P.ZIPF_EXPONENT_BY_TOPIC.get(name, P.ZIPF_EXPONENT)
    return weight


def _prices(rng: np.random.Generator, topic: np.ndarray,
            ctype: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(price, discount percent) per item; articles and videos are free."""
    level = np.array([PRICE_LEVEL[t] for t in P.TOPIC_NAMES])[topic]
    base = np.maximum(np.round(level * np.exp(rng.normal(0, 0.5, len(topic)))), 2) - 0.01
    pct = DISCOUNTS[rng.integers(len(DISCOUNTS), size=len(topic))]
    price = np.where(ctype == 2, np.round(base * (1 - pct / 100), 2), base)
    return np.where(ctype <= 1, 0.0, price), pct


def make_catalog(rng: np.random.Generator, n_items: int) -> Catalog:
    """Build the item table: topics, series, new items, popularity, text and prices."""
    shares = np.array([P.CATALOG_TOPIC_SHARE[t] for t in P.TOPIC_NAMES])
    topic = rng.permutation(np.repeat(np.arange(len(shares)),
                                      _largest_remainder(n_items, shares, 4)))
    ctype = rng.choice(4, size=n_items, p=P.CATALOG_TYPE_SHARE)
    series = _plan_series(rng, topic, n_items)
    in_series = np.zeros(n_items, bool)
    part = np.zeros(n_items, int)
    next_part = np.full(n_items, -1)
    for s in series:
        m = s["members"]
        ctype[m] = P.CONTENT_TYPES.index(s["content_type"])
        in_series[m] = True
        part[m] = np.arange(1, len(m) + 1)
        next_part[m[:-1]] = m[1:]
    n_new = max(1, round(n_items * P.NEW_ITEM_SHARE))
    new_idx = np.sort(rng.choice(np.flatnonzero(~in_series), size=n_new, replace=False))
    pub_day = _publish_days(rng, n_items, series, new_idx)
    weight = _popularity(rng, topic)
    weight[in_series & (part == 1)] *= P.SERIES_ENTRY_WEIGHT
    weight[in_series & (part > 1)] *= P.SERIES_LATER_PART_WEIGHT
    weight[new_idx] = 0.0
    price, pct = _prices(rng, topic, ctype)

    # Item ids follow publish order, like an auto-increment key.
    order = np.lexsort((rng.random(n_items), pub_day))
    new_pos = np.empty(n_items, int)
    new_pos[order] = np.arange(n_items)
    topic, ctype, pub_day, weight, price, pct = (a[order] for a in
                                                 (topic, ctype, pub_day, weight, price, pct))
    next_part = np.where(next_part[order] >= 0, new_pos[next_part[order]], -1)
    series_of = {}
    for s in series:
        s["members"] = [int(new_pos[i]) for i in s["members"]]
        for k, i in enumerate(s["members"]):
            series_of[i] = (s["name"], k + 1, len(s["members"]))
    ids = np.array([f"I{i + 1:05d}" for i in range(n_items)], dtype=object)

    rows, series_brand = [], {}
    for i in range(n_items):
        tname, cname = P.TOPIC_NAMES[topic[i]], P.CONTENT_TYPES[ctype[i]]
        brands = TOPICS[tname]["brands"]
        brand = brands[rng.integers(len(brands))]
        if i in series_of:  # one publisher per series
            brand = series_brand.setdefault(series_of[i][0], brand)
        title, desc, tags = _item_text(rng, tname, cname, brand, int(pct[i]), series_of.get(i))
        rows.append((ids[i], title, desc, cname, tname, tags, brand, price[i],
                     (P.START + dt.timedelta(days=int(pub_day[i]))).isoformat()))
    items = pd.DataFrame(rows, columns=["item_id", "title", "description", "content_type",
                                        "category", "tags", "brand", "price", "publish_date"])
    for s in series:
        s["item_ids"] = [str(ids[i]) for i in s["members"]]
    return Catalog(items, topic, ctype, pub_day, weight, next_part, series,
                   np.sort(new_pos[new_idx]))


@dataclasses.dataclass
class Customers:
    """Customer table plus the per-customer arrays the event simulator needs."""

    customers: pd.DataFrame
    age: np.ndarray
    country: np.ndarray
    tier: np.ndarray
    device: np.ndarray
    signup_day: np.ndarray  # relative to START
    active: np.ndarray  # False for the few customers with no events
    taste: np.ndarray  # (n, topics) personal topic probabilities


def _segment_weights(age: np.ndarray, country: np.ndarray) -> np.ndarray:
    """Topic weights implied by each customer's age group and country."""
    base = np.array([P.TOPIC_BASE[t] for t in P.TOPIC_NAMES])
    age_m = np.ones((len(P.AGE_GROUPS), len(base)))
    for a, group in enumerate(P.AGE_GROUPS):
        for t in P.AGE_TOPICS[group]:
            age_m[a, P.TOPIC_NAMES.index(t)] *= P.AGE_TOPIC_BOOST
    cty_m = np.ones((len(P.COUNTRIES), len(base)))
    for c, name in enumerate(P.COUNTRIES):
        for t in P.COUNTRY_TOPICS[name]:
            cty_m[c, P.TOPIC_NAMES.index(t)] *= P.COUNTRY_TOPIC_BOOST
    u = P.COUNTRIES.index(P.UNDERSERVED["value"])
    cty_m[u, P.TOPIC_NAMES.index(P.UNDERSERVED["favourite_topic"])] = P.UNDERSERVED["topic_boost"]
    return base * age_m[age] * cty_m[country]


def _emails(rng: np.random.Generator, gender: np.ndarray) -> list[str]:
    """Unique synthetic firstname.lastnameNNN@example.com addresses."""
    emails, seen = [], set()
    for i, g in enumerate(gender):
        pool = FIRST_NAMES["female" if g == 0 else "male" if g == 1 else
                           ("female", "male")[rng.integers(2)]]
        local = (f"{pool[rng.integers(len(pool))]}.{LAST_NAMES[rng.integers(len(LAST_NAMES))]}"
                 f"{rng.integers(10, 1000)}")
        if local in seen:
            local = f"{local}{i}"
        seen.add(local)
        emails.append(f"{local}@example.com")
    return emails


def make_customers(rng: np.random.Generator, n_users: int) -> Customers:
    """Build customers with segment-driven personal topic tastes."""
    age = rng.choice(len(P.AGE_GROUPS), size=n_users, p=P.AGE_SHARE)
    gender = rng.choice(len(P.GENDERS), size=n_users, p=P.GENDER_SHARE)
    country = rng.choice(len(P.COUNTRIES), size=n_users, p=P.COUNTRY_SHARE)
    tier = rng.choice(len(P.LOYALTY_TIERS), size=n_users, p=P.LOYALTY_SHARE)
    young = np.array([0.50, 0.30, 0.12, 0.08])
    older = np.array([0.35, 0.38, 0.17, 0.10])
    u = rng.random(n_users)
    cum = np.where((age >= 4)[:, None], older.cumsum(), young.cumsum())
    device = (cum < u[:, None]).sum(1)
    active = rng.random(n_users) >= P.ZERO_EVENT_CUSTOMER_SHARE
    first_signup = (dt.date(2019, 1, 1) - P.START).days
    signup = np.where(rng.random(n_users) < 0.7, rng.integers(first_signup, 0, n_users),
                      rng.integers(0, P.N_DAYS - 30, n_users))
    signup = np.where(active, signup, P.N_DAYS - 1 - rng.integers(0, 14, n_users))
    taste = _segment_weights(age, country) * np.exp(
        rng.normal(0, P.PERSONAL_TASTE_SIGMA, (n_users, len(P.TOPIC_NAMES))))
    taste /= taste.sum(1, keepdims=True)
    df = pd.DataFrame({
        "customer_id": [f"C{i + 1:06d}" for i in range(n_users)],
        "age_group": np.array(P.AGE_GROUPS, dtype=object)[age],
        "gender": np.array(P.GENDERS, dtype=object)[gender],
        "country": np.array(P.COUNTRIES, dtype=object)[country],
        "loyalty_tier": np.array(P.LOYALTY_TIERS, dtype=object)[tier],
        "preferred_device": np.array(P.DEVICES, dtype=object)[device],
        "signup_date": [(P.START + dt.timedelta(days=int(d))).isoformat() for d in signup],
        "email": _emails(rng, gender),
    })
    return Customers(df, age, country, tier, device, signup, active, taste)
