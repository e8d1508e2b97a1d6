"""Speed of building and exporting a 10,000-customer segment from 100,000 customers and 5,000 items.

Everything is generated directly with a fixed seed: a catalog with 20 categories and prices,
customers with country, loyalty tier, age group, e-mail and (for half) a phone number, about
two million Zipf-skewed funnel events driven by planted category tastes, and an ALS model
fitted on them (two sweeps; its fit time is reported but not counted). The timed part builds
the segment (every eligible customer scored in batches, buyers excluded, top 10,000 by max
affinity) and exports it as a Google Customer Match upload and an analyst CSV, each with its
manifest. Target: under 20 s on 2 cores. Peak memory is measured in a second, traced pass
(tracemalloc sees numpy buffers) so tracing does not slow the timed one. Prints the figures
and writes ``bench/results/segment_speed.json``.

    .venv/bin/python bench/segment_speed.py [--customers 100000] [--items 5000] [--size 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGET_S = 20.0
N_CATEGORIES = 20


def generate(n_users: int, n_items: int, seed: int = 0):
    """A ``Dataset`` with customers, catalog and events from planted category tastes."""
    sys.path.insert(0, str(REPO))
    from recsys.data.dataset import Dataset, IdMap

    rng = np.random.default_rng(seed)
    categories = np.array([f"Category{c:02d}" for c in range(N_CATEGORIES)], dtype=object)
    item_category = rng.integers(0, N_CATEGORIES, n_items)
    items = pd.DataFrame({"item_id": [f"I{i:05d}" for i in range(n_items)],
                          "title": [f"Item {i} of {categories[c]}" for i, c in enumerate(item_category)],
                          "category": categories[item_category],
                          "price": np.round(rng.lognormal(3.0, 0.8, n_items), 2)})
    countries = np.array(["United States", "United Kingdom", "Germany", "France", "Japan", "Spain", "Italy",
                          "Canada", "Australia", "Netherlands"], dtype=object)
    user_country = rng.integers(0, len(countries), n_users)
    phones = np.where(rng.random(n_users) < 0.5, [f"0{rng.integers(100_000_000, 999_999_999)}" for _ in range(n_users)],
                      None)
    users = pd.DataFrame({"user_id": [f"C{u:06d}" for u in range(n_users)], "country": countries[user_country],
                          "loyalty_tier": rng.choice(["bronze", "silver", "gold", "platinum"], n_users,
                                                     p=[0.5, 0.3, 0.15, 0.05]),
                          "age_group": rng.choice(["18-24", "25-34", "35-44", "45-54", "55+"], n_users),
                          "email": [f"customer.{u}@example.com" for u in range(n_users)], "phone": phones})
    taste = rng.dirichlet(np.full(N_CATEGORIES, 0.3), n_users)
    lengths = np.clip(rng.lognormal(2.6, 0.9, n_users).astype(np.int64), 1, 400)
    user_idx = np.repeat(np.arange(n_users), lengths)
    # Each event: a category from the customer's taste, then a Zipf-popular item of that category.
    cum = np.cumsum(taste, axis=1)
    chosen_cat = np.minimum((rng.random(len(user_idx))[:, None] > cum[user_idx]).sum(axis=1), N_CATEGORIES - 1)
    by_cat = [np.flatnonzero(item_category == c) for c in range(N_CATEGORIES)]
    item_idx = np.empty(len(user_idx), np.int64)
    for c, members in enumerate(by_cat):
        hit = np.flatnonzero(chosen_cat == c)
        pop = 1.0 / np.arange(1, len(members) + 1) ** 1.0
        item_idx[hit] = members[rng.choice(len(members), len(hit), p=pop / pop.sum())]
    kind = rng.choice(np.array(["view", "click", "purchase"], dtype=object), len(user_idx), p=[0.8, 0.15, 0.05])
    start = pd.Timestamp("2025-01-01").value // 10**9
    frame = pd.DataFrame({"user_idx": user_idx, "item_idx": item_idx,
                          "weight": pd.Series(kind).map({"view": 1.0, "click": 2.0, "purchase": 8.0}).to_numpy(np.float32),
                          "timestamp": np.sort(rng.integers(start, start + 365 * 86_400, len(user_idx))),
                          "event_type": kind})
    return Dataset(IdMap(users["user_id"].to_numpy(object)), IdMap(items["item_id"].to_numpy(object)), frame,
                   items.set_index(pd.RangeIndex(n_items)), users.set_index(pd.RangeIndex(n_users)))


def build_and_export(model, data, size: int) -> dict:
    """The timed work: build the segment, write the Customer Match file, the analyst CSV and manifests."""
    from recsys.segments.audience import build_audience
    from recsys.segments.formats import contact_table, customer_match_file, segment_table, table_file
    from recsys.segments.manifest import build_manifest
    from recsys.segments.rules import SegmentRule, Target

    rule = SegmentRule("bench", "bench-run", Target(category="Category03"), size=size, min_events=1)
    times = {}
    t = time.perf_counter()
    audience = build_audience(rule, model, data)
    times["build"] = time.perf_counter() - t
    t = time.perf_counter()
    users = audience.members["user_idx"].to_numpy()
    upload = customer_match_file(contact_table(data, users))
    times["customer_match"] = time.perf_counter() - t
    t = time.perf_counter()
    analyst = table_file(segment_table(audience.members, data), "csv")
    times["analyst_csv"] = time.perf_counter() - t
    t = time.perf_counter()
    manifests = [build_manifest(kind="segment", fmt=f.format, file_name=f"bench{f.extension}", data=f.data,
                                row_count=f.row_count, run_id="bench-run", dataset="bench", dataset_fingerprint="-",
                                model="ALS", rule=rule.to_dict(), stats={**audience.stats, **f.stats}).to_bytes()
                 for f in (upload, analyst)]
    times["manifests"] = time.perf_counter() - t
    return {"audience": audience, "upload": upload, "analyst": analyst, "manifests": manifests, "times": times}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--factors", type=int, default=32)
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the JSON result")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    data = generate(args.customers, args.items)
    gen_s = time.perf_counter() - t
    print(f"generated {data.n_users:,} customers, {data.n_items:,} items, {data.n_events:,} events in {gen_s:.1f}s")

    from recsys.models.als import ALS
    from recsys.training.options import FitOptions

    t = time.perf_counter()
    model = ALS(factors=args.factors, iterations=2).fit(data, options=FitOptions(device="cpu", seed=0))
    fit_s = time.perf_counter() - t
    print(f"fitted ALS ({args.factors} factors, 2 sweeps) in {fit_s:.1f}s (not counted)")

    wall, cpu = time.perf_counter(), time.process_time()
    out = build_and_export(model, data, args.size)
    total_s, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    audience, times = out["audience"], out["times"]
    print(f"segment: {audience.size:,} of {audience.stats['n_eligible']:,} eligible customers "
          f"({audience.stats['n_buyers_excluded']:,} buyers excluded), {audience.stats['n_batches']} batches of "
          f"{audience.stats['batch_size']:,} customers x {data.n_items:,} items")
    for stage, seconds in times.items():
        print(f"  {stage:<16}{seconds:7.2f}s")
    print(f"build + export: {total_s:.2f}s wall, {cpu_s:.2f}s CPU (target {TARGET_S:.0f}s) -> "
          f"{'PASS' if total_s < TARGET_S else 'FAIL'}")

    # Peak memory of the same work, traced (tracemalloc slows allocation-heavy code, so not timed).
    tracemalloc.start()
    build_and_export(model, data, args.size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dense_mb = data.n_users * data.n_items * 4 / 2**20
    print(f"peak traced memory of build + export: {peak / 2**20:.0f} MB (a dense customers x items float32 matrix "
          f"would be {dense_mb:,.0f} MB); process peak RSS {rss_mb:,.0f} MB")

    result = {
        "customers": data.n_users, "items": data.n_items, "events": data.n_events, "segment_size": audience.size,
        "eligible": audience.stats["n_eligible"], "batch_size": audience.stats["batch_size"],
        "n_batches": audience.stats["n_batches"], "affinity": "max", "model": f"ALS ({args.factors} factors)",
        "generate_seconds": round(gen_s, 2), "fit_seconds": round(fit_s, 2),
        "stages_seconds": {k: round(v, 3) for k, v in times.items()},
        "build_and_export_seconds": round(total_s, 3), "build_and_export_cpu_seconds": round(cpu_s, 3),
        "target_seconds": TARGET_S, "passed": total_s < TARGET_S,
        "peak_traced_mb": round(peak / 2**20, 1), "process_peak_rss_mb": round(rss_mb, 1),
        "dense_matrix_mb": round(dense_mb, 1),
        "upload_rows": out["upload"].row_count, "upload_bytes": len(out["upload"].data),
        "analyst_csv_bytes": len(out["analyst"].data),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "segment_speed.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS / 'segment_speed.json'}")
    return result


if __name__ == "__main__":
    main()
