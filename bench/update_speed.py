"""Incremental update speed on the bundled sample (150,000 events): ALS and SASRec.

Each model is fitted on all but the last 10,000 events, then the last 10,000 are
applied at once (``update_model``), and single customers' events one customer at a
time (time per customer). Target: under 0.1 s per customer on CPU for ALS.
Writes ``bench/results/update_speed.json``.

    .venv/bin/python bench/update_speed.py [--new-events 10000] [--customers 50] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.adapt.update import update_model  # noqa: E402
from recsys.data.dataset import Dataset  # noqa: E402
from recsys.models.registry import create  # noqa: E402
from recsys.training.options import FitOptions  # noqa: E402

RESULTS = REPO / "bench" / "results"
MODELS = {"als": {"factors": 64, "iterations": 10},
          "sasrec": {"max_len": 50, "hidden_size": 64, "n_blocks": 2, "epochs": 1}}


def load_sample() -> Dataset:
    folder = REPO / "sample_data" / "content_platform"
    events = pd.read_csv(folder / "events.csv.gz").rename(columns={"customer_id": "user_id",
                                                                   "event_time": "timestamp"})
    events["timestamp"] = pd.to_datetime(events["timestamp"])
    return Dataset.from_tables(events, pd.read_csv(folder / "items.csv"))


def bench(key: str, params: dict, data: Dataset, n_new: int, n_customers: int) -> dict:
    is_new = np.arange(data.n_events) >= data.n_events - n_new  # the frame is time-ordered
    old, new = data.subset(~is_new), data.subset(is_new)
    t0 = time.perf_counter()
    model = create(key, **params).fit(old, options=FitOptions(device="cpu", seed=0))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    update_model(model, new)
    batch_s = time.perf_counter() - t0
    users = np.unique(new.frame["user_idx"].to_numpy())[:n_customers]
    per = []
    for u in users:
        one = new.subset(new.frame["user_idx"].to_numpy() == u)
        t0 = time.perf_counter()
        update_model(model, one)
        per.append(time.perf_counter() - t0)
    return {"model": key, "params": params, "fit_events": old.n_events, "fit_seconds": round(fit_s, 2),
            "new_events": new.n_events, "customers_in_batch": int(new.frame["user_idx"].nunique()),
            "batch_update_seconds": round(batch_s, 4),
            "per_customer_seconds_median": round(float(np.median(per)), 5),
            "per_customer_seconds_p95": round(float(np.percentile(per, 95)), 5), "customers_timed": len(per)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-events", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_sample()
    rows = [bench(key, params, data, args.new_events, args.customers) for key, params in MODELS.items()]
    for r in rows:
        print(f"{r['model']:7s} fit {r['fit_seconds']:7.2f} s on {r['fit_events']:,} events | "
              f"{r['new_events']:,} new events ({r['customers_in_batch']:,} customers) in "
              f"{r['batch_update_seconds']:.3f} s | per customer median {r['per_customer_seconds_median']*1000:.1f} ms, "
              f"p95 {r['per_customer_seconds_p95']*1000:.1f} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"device": "cpu", "threads": args.threads, "platform": platform.platform(),
           "torch": torch.__version__, "results": rows}
    (RESULTS / "update_speed.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / 'update_speed.json'}")


if __name__ == "__main__":
    main()
