"""Speed of the full fairness report for 100,000 customers with 20 recommendations each.

Everything is generated directly with a fixed seed (no model is trained): a catalog
with categories, brands and publish dates, customers with age group, country,
loyalty tier and sign-up date, Zipf-skewed training histories, one to three
held-out items per customer, and popularity-skewed top-20 lists. The report covers
six customer groupings (three attributes, activity, tenure and an intersection),
six per-customer metrics and four item groupings. Target: under 30 s on 2 cores.
Prints the time per stage and writes ``bench/results/fairness_speed.json``.

    .venv/bin/python bench/fairness_speed.py [--customers 100000] [--k 20] [--sweep-customers 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BY = ["age_group", "country", "loyalty_tier", "activity", "tenure", "age_group+country"]
ITEM_BY = ["category", "brand", "item_age", "popularity_tier"]
TARGET_S = 30.0


def _unique_prefix(draws: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` distinct items of each row (rows need at least k distinct)."""
    order = np.argsort(draws, axis=1, kind="stable")
    ordered = np.take_along_axis(draws, order, 1)
    duplicate = np.zeros_like(draws, dtype=bool)
    np.put_along_axis(duplicate, order[:, 1:], ordered[:, 1:] == ordered[:, :-1], 1)
    keep = np.argsort(duplicate, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(draws, keep, 1)


def generate(n_users: int, n_items: int, k: int, seed: int = 0):
    """A ``RunInputs`` with synthetic features, histories, held-out items and top-k lists."""
    sys.path.insert(0, str(REPO))
    from recsys.data.dataset import Dataset, IdMap
    from recsys.fairness.report import RunInputs

    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-01").value // 10**9
    year = 365 * 86_400
    items = pd.DataFrame({
        "item_id": [f"i{i}" for i in range(n_items)],
        "category": rng.choice([f"cat{c:02d}" for c in range(20)], n_items),
        "brand": rng.choice([f"brand{b:03d}" for b in range(40)], n_items),
        "publish_date": pd.to_datetime(rng.integers(start - 3 * year, start + year, n_items), unit="s"),
    })
    users = pd.DataFrame({
        "user_id": [f"u{u}" for u in range(n_users)],
        "age_group": rng.choice(["18-24", "25-34", "35-44", "45-54", "55-64", "65+"], n_users),
        "country": rng.choice([f"country{c}" for c in range(10)], n_users, p=np.r_[[0.2] * 3, [0.4 / 7] * 7]),
        "loyalty_tier": rng.choice(["bronze", "silver", "gold", "platinum"], n_users, p=[0.5, 0.3, 0.15, 0.05]),
        "signup_date": pd.to_datetime(rng.integers(start - 5 * year, start + year, n_users), unit="s"),
    })
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    pop = rng.permutation(pop / pop.sum())
    lengths = np.clip(rng.lognormal(2.5, 0.8, n_users).astype(np.int64), 3, 300)
    user_idx = np.repeat(np.arange(n_users), lengths)
    frame = pd.DataFrame({"user_idx": user_idx, "item_idx": rng.choice(n_items, len(user_idx), p=pop),
                          "weight": np.ones(len(user_idx), np.float32),
                          "timestamp": np.sort(rng.integers(start, start + year, len(user_idx)))})
    data = Dataset(IdMap(users["user_id"].to_numpy(object)), IdMap(items["item_id"].to_numpy(object)),
                   frame, items.set_index(pd.RangeIndex(n_items)), users.set_index(pd.RangeIndex(n_users)))
    n_rel = rng.integers(1, 4, n_users)
    rel_items = _unique_prefix(rng.choice(n_items, (n_users, 6), p=pop), 3)
    mask = np.arange(3)[None, :] < n_rel[:, None]
    rows = np.broadcast_to(np.arange(n_users)[:, None], mask.shape)
    relevant = sp.csr_matrix((np.ones(mask.sum()), (rows[mask], rel_items[mask])), shape=(n_users, n_items))
    # Lists lean on popular items; 30% of them hold a held-out item at a random rank.
    draws = rng.choice(n_items, (n_users, 3 * k), p=pop)
    hit = np.flatnonzero(rng.random(n_users) < 0.3)
    draws[hit, rng.integers(0, k, len(hit))] = rel_items[hit, 0]
    lists = _unique_prefix(draws, k)
    scores = np.sort(rng.random((n_users, k)), axis=1)[:, ::-1].copy()
    return RunInputs(data, data, np.arange(n_users), relevant, lists, scores,
                     {"run_id": "synthetic", "model": "synthetic", "dataset": f"synthetic-{n_users}"})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--sweep-customers", type=int, default=10_000,
                        help="customers in the timed re-ranking of 100 candidates (0 skips it)")
    parser.add_argument("--out", default=str(RESULTS / "fairness_speed.json"))
    args = parser.parse_args(argv)

    started = time.perf_counter()
    inputs = generate(args.customers, args.items, args.k)
    generate_s = time.perf_counter() - started
    from recsys.fairness.report import build_report, write_report

    started, cpu = time.perf_counter(), time.process_time()
    report = build_report(inputs, BY, k=args.k, item_by=ITEM_BY)
    report_s, report_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_report(report, tmp)
        html_mb = os.path.getsize(Path(tmp) / "report.html") / 2**20
    write_s = time.perf_counter() - started
    rerank = _time_rerankers(args.sweep_customers, args.items) if args.sweep_customers else {}

    print(f"data generation (not timed against the target): {generate_s:.2f} s")
    print("report stages (wall):")
    for stage, seconds in report.meta["timings_s"].items():
        print(f"  {stage:<28} {seconds:7.2f} s")
    print(f"full report for {args.customers:,} customers x {args.k}: {report_s:.2f} s wall, "
          f"{report_cpu:.2f} s CPU (target < {TARGET_S:.0f} s wall: {'ok' if report_s < TARGET_S else 'MISSED'}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"write CSV tables + HTML ({html_mb:.1f} MB): {write_s:.2f} s")
    for method, seconds in rerank.items():
        print(f"re-rank {args.sweep_customers:,} customers x 100 candidates -> top {args.k} ({method}): {seconds:.2f} s")
    result = {"customers": args.customers, "items": args.items, "k": args.k, "groupings": BY,
              "item_groupings": ITEM_BY, "n_group_rows": int(len(report.groups)),
              "report_seconds": round(report_s, 3), "report_cpu_seconds": round(report_cpu, 3),
              "stages_seconds": report.meta["timings_s"],
              "write_seconds": round(write_s, 3), "html_mb": round(html_mb, 2),
              "rerank_seconds": {m: round(s, 3) for m, s in rerank.items()},
              "rerank_customers": args.sweep_customers, "target_seconds": TARGET_S,
              "passed": report_s < TARGET_S, "cpu_count": os.cpu_count(),
              "load_average": os.getloadavg()[0], "python": platform.python_version(), "numpy": np.__version__}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0 if report_s < TARGET_S else 1


def _time_rerankers(n_users: int, n_items: int, width: int = 100, k: int = 20) -> dict[str, float]:
    from recsys.fairness.calibration import genre_matrix, history_distribution
    from recsys.fairness.rerank import CalibratedReranker, ExposureReranker, MMRReranker

    rng = np.random.default_rng(1)
    cats = rng.choice([f"cat{c:02d}" for c in range(20)], n_items).astype(object)
    candidates = np.argsort(rng.random((n_users, n_items)), axis=1)[:, :width] if n_users * n_items <= 5e7 \
        else _unique_prefix(rng.integers(0, n_items, (n_users, 2 * width)), width)
    scores = np.sort(rng.random((n_users, width)), axis=1)[:, ::-1].copy()
    history = sp.random(n_users, n_items, density=20 / n_items, random_state=2, format="csr")
    genres, _ = genre_matrix(cats)
    rerankers = {"calibrated": CalibratedReranker(genres, history_distribution(history, genres), 0.5),
                 "exposure": ExposureReranker(rng.random(n_items) < 0.3, 0.3, 0.5),
                 "mmr": MMRReranker(cats, lam=0.5)}
    out = {}
    for method, reranker in rerankers.items():
        started = time.perf_counter()
        reranker.rerank(candidates, scores, k)
        out[method] = time.perf_counter() - started
    return out


if __name__ == "__main__":
    sys.exit(main())
