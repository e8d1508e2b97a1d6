"""Vectorised simulation of sessions and funnel events on the content platform."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sample_data import planted as P
from sample_data.catalog import Catalog, Customers

DAY_S = 86_400
N_TOPICS = len(P.TOPIC_NAMES)
N_TYPES = len(P.CONTENT_TYPES)
HOUR_TO_BUCKET = np.zeros(24, int)
for _b, _hours in enumerate(P.HOUR_BUCKETS.values()):
    HOUR_TO_BUCKET[_hours] = _b
BUCKET_MIDDAY = list(P.HOUR_BUCKETS).index("midday")
# Oversample interactions a little, then trim to the exact event count.
EVENTS_PER_INTERACTION = 1.5
OVERSAMPLE = 1.1


def _choose_rows(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of one category per row of unnormalised `weights`."""
    cum = np.cumsum(weights, axis=1)
    return (cum <= (u * cum[:, -1])[:, None]).sum(axis=1)


def _group_starts(keys: np.ndarray) -> np.ndarray:
    """Index of the first row of each row's group, for keys sorted in groups."""
    first = np.r_[True, keys[1:] != keys[:-1]]
    return np.maximum.accumulate(np.where(first, np.arange(len(keys)), 0))


def _exclusive_cumsum(x: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Cumulative sum of `x` before each row, restarting in every group of `keys`."""
    cs = np.cumsum(x) - x
    return cs - cs[_group_starts(keys)]


def _interaction_counts(rng: np.random.Generator, cust: Customers, n_inter: int) -> np.ndarray:
    """Heavy-tailed number of item interactions per customer (0 for inactive ones)."""
    act = np.flatnonzero(cust.active)
    w = np.exp(rng.normal(0, P.ACTIVITY_SIGMA, len(act)))
    w *= np.array(P.LOYALTY_ACTIVITY)[cust.tier[act]]
    minimum = 2 if n_inter >= 3 * len(act) else 1
    counts = np.zeros(len(cust.active), int)
    counts[act] = minimum + rng.multinomial(max(n_inter - minimum * len(act), 0), w / w.sum())
    return counts


def _day_weights() -> np.ndarray:
    """Daily traffic: slow growth over the year and busier weekends."""
    d = np.arange(P.N_DAYS)
    weekday = (np.datetime64(P.START.isoformat()) + d).astype("datetime64[D]").view("int64")
    weekend = ((weekday + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    return (1 + 0.4 * d / (P.N_DAYS - 1)) * np.where(weekend, 1.15, 1.0)


def _session_context(rng: np.random.Generator, cust: Customers,
                     sess_cust: np.ndarray) -> dict[str, np.ndarray]:
    """Day, second of day, device and channel of every session."""
    n = len(sess_cust)
    cdf = np.r_[0, np.cumsum(_day_weights())]
    cdf /= cdf[-1]
    lo = np.maximum(cust.signup_day[sess_cust], 0)
    u = cdf[lo] + rng.random(n) * (1 - cdf[lo])
    day = np.clip(np.searchsorted(cdf, u, side="right") - 1, lo, P.N_DAYS - 1)
    hw = np.array(P.HOUR_WEIGHTS)
    hour = rng.choice(24, size=n, p=hw / hw.sum())
    sec = hour * 3600 + rng.integers(0, 3600, n)
    bucket = HOUR_TO_BUCKET[hour]
    other = _choose_rows(rng.random(n), np.array(list(P.DEVICE_BY_BUCKET.values()))[bucket])
    device = np.where(rng.random(n) < P.PREFERRED_DEVICE_PROB, cust.device[sess_cust], other)
    cw = np.array([P.CHANNEL_BY_DEVICE[d] for d in P.DEVICES])[device]
    cw[bucket == BUCKET_MIDDAY, P.CHANNELS.index("email")] *= P.MIDDAY_EMAIL_MULT
    channel = _choose_rows(rng.random(n), cw)
    return {"day": day, "sec": sec, "hour": hour, "device": device, "channel": channel}


def _type_multipliers(ctx: dict[str, np.ndarray], tier: np.ndarray) -> np.ndarray:
    """(sessions, content types) weights from loyalty tier and device/time/channel rules."""
    m = np.array(P.TYPE_BASE_WEIGHT)[None, :] * np.array(P.LOYALTY_TYPE_MULT)[tier]
    for rule in P.DEVICE_TIME_RULES:
        hit = np.ones(len(tier), bool)
        if rule["devices"] is not None:
            hit &= np.isin(ctx["device"], [P.DEVICES.index(d) for d in rule["devices"]])
        if rule["hours"] is not None:
            hit &= np.isin(ctx["hour"], rule["hours"])
        if rule["channels"] is not None:
            hit &= np.isin(ctx["channel"], [P.CHANNELS.index(c) for c in rule["channels"]])
        m[hit, P.CONTENT_TYPES.index(rule["content_type"])] *= rule["multiplier"]
    return m


def _promo_mask(day: np.ndarray) -> np.ndarray:
    lo = (P.PROMOTION["start"] - P.START).days
    hi = (P.PROMOTION["end"] - P.START).days
    return (day >= lo) & (day <= hi)


def _topic_multipliers(day: np.ndarray) -> np.ndarray:
    """(sessions, topics) trend-shift multipliers, 1 before the shift date."""
    m = np.ones((len(day), N_TOPICS))
    after = day >= (P.TREND_SHIFT["date"] - P.START).days
    for name, x in {**P.TREND_SHIFT["rising"], **P.TREND_SHIFT["falling"]}.items():
        m[after, P.TOPIC_NAMES.index(name)] = x
    return m


def _available_counts(cat: Catalog, cell: np.ndarray) -> np.ndarray:
    """(cells, days) number of eventable items published by each day."""
    live = cat.weight > 0
    first = np.clip(cat.pub_day[live], 0, P.N_DAYS - 1)
    hist = np.zeros((N_TOPICS * N_TYPES, P.N_DAYS))
    np.add.at(hist, (cell[live], first), 1)
    return np.cumsum(hist, axis=1)


def _session_cell_weights(cat: Catalog, cust: Customers, sess_cust: np.ndarray,
                          ctx: dict[str, np.ndarray]) -> np.ndarray:
    """(sessions, topic*type) weights of what a session's interactions are about."""
    topic_w = cust.taste[sess_cust] * _topic_multipliers(ctx["day"])
    w = topic_w[:, :, None] * _type_multipliers(ctx, cust.tier[sess_cust])[:, None, :]
    promo_topics = [P.TOPIC_NAMES.index(t) for t in P.PROMOTION["categories"]]
    promo = _promo_mask(ctx["day"])
    offer = P.CONTENT_TYPES.index(P.PROMOTION["content_type"])
    for t in promo_topics:
        w[promo, t, offer] *= P.PROMOTION["multiplier"]
    w = w.reshape(len(sess_cust), -1)
    avail = _available_counts(cat, cat.topic * N_TYPES + cat.ctype)
    return w * (avail[:, ctx["day"]].T > 0)


def _pick_items(rng: np.random.Generator, cat: Catalog, cell: np.ndarray,
                day: np.ndarray) -> np.ndarray:
    """Draw an item per interaction from its cell by popularity, among published items."""
    item_cell = cat.topic * N_TYPES + cat.ctype
    u = rng.random(len(cell))
    item = np.full(len(cell), -1)
    for c in np.unique(cell):
        idx = np.flatnonzero(cell == c)
        members = np.flatnonzero((item_cell == c) & (cat.weight > 0))
        members = members[np.argsort(cat.pub_day[members], kind="stable")]
        cw = np.cumsum(cat.weight[members])
        k = np.searchsorted(cat.pub_day[members], day[idx], side="right")
        pick = np.searchsorted(cw, u[idx] * cw[k - 1], side="right")
        item[idx] = members[np.minimum(pick, k - 1)]
    return item


def _follow_series(rng: np.random.Generator, cat: Catalog, item: np.ndarray,
                   int_cust: np.ndarray, int_sess: np.ndarray) -> np.ndarray:
    """After series part k, usually move on to part k+1 (rows are in time order)."""
    u = rng.random(len(item))
    pos = np.arange(len(item)) - _group_starts(int_cust)
    by_pos = np.argsort(pos, kind="stable")
    bounds = np.searchsorted(pos[by_pos], np.arange(pos.max() + 2))
    item = item.copy()
    for p in range(1, pos.max() + 1):
        r = by_pos[bounds[p]:bounds[p + 1]]
        nxt = cat.next_part[item[r - 1]]
        prob = np.where(int_sess[r] == int_sess[r - 1], P.SERIES_CONTINUE_SAME_SESSION,
                        P.SERIES_CONTINUE_NEXT_SESSION)
        hit = (nxt >= 0) & (u[r] < prob)
        item[r[hit]] = nxt[hit]
    return item


def _funnel_depth(rng: np.random.Generator, cat: Catalog, item: np.ndarray,
                  promo: np.ndarray, tier: np.ndarray) -> np.ndarray:
    """Number of funnel events (1 = view only ... 4 = purchase) per interaction."""
    probs = np.array([P.FUNNEL[t] for t in P.CONTENT_TYPES])[cat.ctype[item]]
    promo_cats = [P.TOPIC_NAMES.index(t) for t in P.PROMOTION["categories"]]
    on_promo = promo & np.isin(cat.topic[item], promo_cats) & (
        cat.ctype[item] == P.CONTENT_TYPES.index(P.PROMOTION["content_type"]))
    buy = np.array(P.LOYALTY_BUY_MULT)[tier]
    buy = buy * np.where(on_promo, P.PROMOTION["funnel_multiplier"], 1)
    probs[:, 1:] = np.minimum(probs[:, 1:] * buy[:, None], 0.95)
    passed = np.cumprod(rng.random((len(item), 3)) < probs, axis=1)
    return 1 + passed.sum(axis=1)


def _place_sessions(start: np.ndarray, dur: np.ndarray, sess_cust: np.ndarray) -> np.ndarray:
    """Delay sessions so a customer's sessions never overlap (gap >= SESSION_GAP_S)."""
    d = _exclusive_cumsum(dur + P.SESSION_GAP_S, sess_cust)
    offset = sess_cust.astype(np.int64) * 10**10  # keeps the running max inside each customer
    return d + np.maximum.accumulate(start - d + offset) - offset


def _trim(rng: np.random.Generator, depth: np.ndarray, int_sess: np.ndarray,
          keep_sess: np.ndarray, sess_cust: np.ndarray, n_events: int) -> None:
    """Drop random sessions of regular users, then last funnel steps, to hit `n_events`."""
    per_sess = np.bincount(int_sess, weights=depth, minlength=len(keep_sess)).astype(int)
    excess = int(per_sess[keep_sess].sum()) - n_events
    if excess <= 0:
        return
    n_sess = np.bincount(sess_cust[keep_sess], minlength=sess_cust.max() + 1)
    cand = rng.permutation(np.flatnonzero(keep_sess & (n_sess[sess_cust] >= 3)))
    n_drop = np.searchsorted(np.cumsum(per_sess[cand]), excess, side="right")
    keep_sess[cand[:n_drop]] = False
    excess -= int(per_sess[cand[:n_drop]].sum())
    deep = np.flatnonzero((depth >= 2) & keep_sess[int_sess])
    depth[rng.choice(deep, size=min(excess, len(deep)), replace=False)] -= 1


def simulate_events(rng: np.random.Generator, cat: Catalog, cust: Customers,
                    n_events: int) -> pd.DataFrame:
    """Simulate sessions of item interactions and expand them into funnel events."""
    n_inter = int(np.ceil(n_events * OVERSAMPLE / EVENTS_PER_INTERACTION))
    int_cust = np.repeat(np.arange(len(cust.active)), _interaction_counts(rng, cust, n_inter))
    new_sess = (_group_starts(int_cust) == np.arange(len(int_cust))) | (
        rng.random(len(int_cust)) < 1 / P.MEAN_SESSION_INTERACTIONS)
    sess_first = np.flatnonzero(new_sess)
    length = np.diff(np.r_[sess_first, len(int_cust)])
    sess_cust = int_cust[sess_first]
    ctx = _session_context(rng, cust, sess_cust)
    order = np.lexsort((ctx["sec"], ctx["day"], sess_cust))
    sess_cust, length = sess_cust[order], length[order]
    ctx = {k: v[order] for k, v in ctx.items()}

    int_sess = np.repeat(np.arange(len(sess_cust)), length)
    int_cust = sess_cust[int_sess]
    cum = np.cumsum(_session_cell_weights(cat, cust, sess_cust, ctx), axis=1)
    u = rng.random(len(int_sess)) * cum[int_sess, -1]
    cell = (cum[int_sess] <= u[:, None]).sum(axis=1)
    item = _pick_items(rng, cat, cell, ctx["day"][int_sess])
    item = _follow_series(rng, cat, item, int_cust, int_sess)
    depth = _funnel_depth(rng, cat, item, _promo_mask(ctx["day"][int_sess]),
                          cust.tier[int_cust])

    gaps = np.stack([rng.integers(3, 91, len(item)), rng.integers(10, 181, len(item)),
                     rng.integers(20, 301, len(item))], axis=1)
    step_off = np.c_[np.zeros(len(item), int), np.cumsum(gaps, axis=1)]
    span = step_off[np.arange(len(item)), depth - 1] + rng.integers(15, 301, len(item))
    int_off = _exclusive_cumsum(span, int_sess)
    dur = np.bincount(int_sess, weights=span).astype(np.int64)
    start = _place_sessions(ctx["day"] * DAY_S + ctx["sec"], dur, sess_cust)
    keep_sess = start + dur < P.N_DAYS * DAY_S
    _trim(rng, depth, int_sess, keep_sess, sess_cust, n_events)

    keep_int = np.flatnonzero(keep_sess[int_sess])
    ev_int = np.repeat(keep_int, depth[keep_int])
    step = np.arange(len(ev_int)) - _group_starts(ev_int)
    t = start[int_sess[ev_int]] + int_off[ev_int] + step_off[ev_int, step]
    sess_rank = np.empty(len(start), int)
    kept = np.flatnonzero(keep_sess)
    sess_rank[kept[np.lexsort((sess_cust[kept], start[kept]))]] = np.arange(len(kept))
    ev_sess = int_sess[ev_int]
    ev_order = np.lexsort((step, int_cust[ev_int], t))
    return _events_frame(cat, cust, ctx, t, item[ev_int], int_cust[ev_int], step, ev_sess,
                         sess_rank, ev_order)


def _events_frame(cat: Catalog, cust: Customers, ctx: dict[str, np.ndarray], t: np.ndarray,
                  item: np.ndarray, ev_cust: np.ndarray, step: np.ndarray, ev_sess: np.ndarray,
                  sess_rank: np.ndarray, order: np.ndarray) -> pd.DataFrame:
    """Assemble the sorted events table with string ids and ISO timestamps."""
    base = np.datetime64(f"{P.START.isoformat()}T00:00:00", "s")
    ev_sess = ev_sess[order]
    return pd.DataFrame({
        "customer_id": cust.customers["customer_id"].to_numpy(dtype=object)[ev_cust[order]],
        "item_id": cat.items["item_id"].to_numpy(dtype=object)[item[order]],
        "event_time": (base + t[order].astype("timedelta64[s]")).astype(str).astype(object),
        "event_type": np.array(P.EVENT_TYPES, dtype=object)[step[order]],
        "device": np.array(P.DEVICES, dtype=object)[ctx["device"][ev_sess]],
        "channel": np.array(P.CHANNELS, dtype=object)[ctx["channel"][ev_sess]],
        "session_id": np.char.add("S", np.char.zfill(
            (sess_rank[ev_sess] + 1).astype(str), 7)).astype(object),
    })
