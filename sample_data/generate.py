"""Generate the synthetic digital-marketing content platform dataset.

    python -m sample_data.generate --users 5000 --items 1500 --events 150000 --seed 42 \
        --out sample_data/content_platform

Writes items.csv, customers.csv, events.csv.gz and planted.json into --out. All
randomness comes from one seeded numpy Generator, and gzip headers carry no
timestamp, so the same arguments always give byte-identical files.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import io
import json
import pathlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sample_data import planted as P
from sample_data.catalog import make_catalog, make_customers
from sample_data.events import simulate_events

DEFAULT_ARGS = {"users": 5000, "items": 1500, "events": 150_000, "seed": 42}
DEFAULT_DIR = pathlib.Path(__file__).resolve().parent / "content_platform"


@dataclasses.dataclass
class Dataset:
    """The three tables plus the planted ground truth."""

    items: pd.DataFrame
    customers: pd.DataFrame
    events: pd.DataFrame
    planted: dict


def _rules_json() -> list[dict]:
    return [{k: v for k, v in rule.items()} for rule in P.DEVICE_TIME_RULES]


def planted_truth(args: dict, series: list[dict], new_item_ids: list[str]) -> dict:
    """Machine-readable description of every structure planted in the data."""
    return {
        "generator": {**args, "start": P.START.isoformat(), "end": P.END.isoformat(),
                      "timezone": "UTC"},
        "topics": P.TOPIC_NAMES,
        "segment_topic_preferences": {
            "base_topic_weights": P.TOPIC_BASE,
            "age_group": {"multiplier": P.AGE_TOPIC_BOOST, "topics": P.AGE_TOPICS},
            "country": {"multiplier": P.COUNTRY_TOPIC_BOOST, "topics": P.COUNTRY_TOPICS},
            "loyalty_tier": {"content_type_multipliers": dict(zip(
                P.LOYALTY_TIERS, [dict(zip(P.CONTENT_TYPES, m)) for m in P.LOYALTY_TYPE_MULT])),
                "purchase_funnel_multiplier": dict(zip(P.LOYALTY_TIERS, P.LOYALTY_BUY_MULT)),
                "activity_multiplier": dict(zip(P.LOYALTY_TIERS, P.LOYALTY_ACTIVITY))},
            "personal_taste_lognormal_sigma": P.PERSONAL_TASTE_SIGMA,
        },
        "series": [{"series_id": s["series_id"], "name": s["name"], "category": s["topic"],
                    "content_type": s["content_type"], "item_ids": s["item_ids"]}
                   for s in series],
        "series_continuation": {"same_session": P.SERIES_CONTINUE_SAME_SESSION,
                                "next_session": P.SERIES_CONTINUE_NEXT_SESSION,
                                "later_part_entry_weight": P.SERIES_LATER_PART_WEIGHT},
        "promotion": {"start": P.PROMOTION["start"].isoformat(),
                      "end": P.PROMOTION["end"].isoformat(),
                      "categories": P.PROMOTION["categories"],
                      "content_type": P.PROMOTION["content_type"],
                      "multiplier": P.PROMOTION["multiplier"],
                      "funnel_multiplier": P.PROMOTION["funnel_multiplier"]},
        "trend_shift": {"date": P.TREND_SHIFT["date"].isoformat(),
                        "rising": P.TREND_SHIFT["rising"], "falling": P.TREND_SHIFT["falling"]},
        "new_items": {"item_ids": new_item_ids, "published_within_last_days": P.NEW_ITEM_DAYS,
                      "events": 0},
        "underserved_group": {**P.UNDERSERVED, "reason": (
            "their favourite topic is niche for everyone else and has flat item popularity, "
            "so globally popular items rarely match what they consume")},
        "device_time_effects": {"rules": _rules_json(), "hour_buckets": P.HOUR_BUCKETS,
                                "hour_weights": P.HOUR_WEIGHTS,
                                "device_by_hour_bucket": P.DEVICE_BY_BUCKET,
                                "channel_by_device": P.CHANNEL_BY_DEVICE,
                                "midday_email_multiplier": P.MIDDAY_EMAIL_MULT},
        "popularity": {"zipf_exponent": P.ZIPF_EXPONENT,
                       "zipf_exponent_by_category": P.ZIPF_EXPONENT_BY_TOPIC},
        "funnel": {"steps": P.EVENT_TYPES, "probabilities_by_content_type": P.FUNNEL},
        "activity": {"lognormal_sigma": P.ACTIVITY_SIGMA,
                     "zero_event_customer_share": P.ZERO_EVENT_CUSTOMER_SHARE,
                     "mean_interactions_per_session": P.MEAN_SESSION_INTERACTIONS,
                     "min_gap_between_sessions_s": P.SESSION_GAP_S},
    }


def generate(users: int, items: int, events: int, seed: int) -> Dataset:
    """Build the whole dataset in memory from one seeded generator."""
    if users < 10 or items < 100 or events < 2 * users:
        raise ValueError("need users >= 10, items >= 100 and events >= 2 * users")
    rng = np.random.default_rng(seed)
    cat = make_catalog(rng, items)
    cust = make_customers(rng, users)
    ev = simulate_events(rng, cat, cust, events)
    new_ids = [str(cat.items["item_id"].iat[i]) for i in cat.new_items]
    args = {"users": users, "items": items, "events": events, "seed": seed}
    return Dataset(cat.items, cust.customers, ev, planted_truth(args, cat.series, new_ids))


def _csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n", float_format="%.2f")
    return buf.getvalue().encode("utf-8")


def write(ds: Dataset, out: pathlib.Path) -> None:
    """Write the dataset; gzip with mtime=0 and no file name keeps bytes reproducible."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "items.csv").write_bytes(_csv_bytes(ds.items))
    (out / "customers.csv").write_bytes(_csv_bytes(ds.customers))
    with open(out / "events.csv.gz", "wb") as fh, gzip.GzipFile(
            filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
        gz.write(_csv_bytes(ds.events))
    (out / "planted.json").write_text(json.dumps(ds.planted, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_data.generate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=DEFAULT_ARGS["users"])
    parser.add_argument("--items", type=int, default=DEFAULT_ARGS["items"])
    parser.add_argument("--events", type=int, default=DEFAULT_ARGS["events"])
    parser.add_argument("--seed", type=int, default=DEFAULT_ARGS["seed"])
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_DIR)
    a = parser.parse_args(argv)
    ds = generate(a.users, a.items, a.events, a.seed)
    write(ds, a.out)
    print(f"wrote {len(ds.customers)} customers, {len(ds.items)} items, "
          f"{len(ds.events)} events to {a.out}")


if __name__ == "__main__":
    main()
