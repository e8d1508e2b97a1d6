"""Incremental update speed on the bundled sample (150,000 events): ALS, SASRec and the deep families.

Each model is fitted on all but the last 10,000 events, then the last 10,000 are
applied at once (``update_model``), and single customers' events one customer at a
time (time per customer). NeuMF, Hybrid and ContentNeural re-fit the customers'
embedding rows (``FoldInSettings``: 30 Adam steps); with ``--finetune-epochs N`` the torch models also
time a warm-start fine-tune of N epochs on old + new events. Wall and CPU (process)
seconds are both recorded, with the load average (the machine may be shared).
Target: under 0.1 s per customer on CPU for ALS. Writes ``bench/results/update_speed.json``.

    .venv/bin/python bench/update_speed.py [--new-events 10000] [--customers 50] [--threads 1]
        [--models als,sasrec,neumf,hybrid,content_neural] [--finetune-epochs 0]
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
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.adapt.update import update_model  # noqa: E402
from recsys.data.dataset import Dataset  # noqa: E402
from recsys.models.registry import create  # noqa: E402
from recsys.training.options import FitOptions  # noqa: E402

RESULTS = REPO / "bench" / "results"
MODELS = {"als": {"factors": 64, "iterations": 10},
          "sasrec": {"max_len": 50, "hidden_size": 64, "n_blocks": 2, "epochs": 1},
          "neumf": {"factors": 32, "epochs": 1},
          "hybrid": {"epochs": 1},
          "content_neural": {"epochs": 1}}


def load_sample() -> Dataset:
    folder = REPO / "sample_data" / "content_platform"
    events = pd.read_csv(folder / "events.csv.gz").rename(columns={"customer_id": "user_id",
                                                                   "event_time": "timestamp"})
    events["timestamp"] = pd.to_datetime(events["timestamp"])
    users = pd.read_csv(folder / "customers.csv").rename(columns={"customer_id": "user_id"})
    return Dataset.from_tables(events, pd.read_csv(folder / "items.csv"), users)


class Clock:
    """Wall and CPU (this process) seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def bench(key: str, params: dict, data: Dataset, n_new: int, n_customers: int, finetune_epochs: int) -> dict:
    is_new = np.arange(data.n_events) >= data.n_events - n_new  # the frame is time-ordered
    old, new = data.subset(~is_new), data.subset(is_new)
    with Clock() as fit:
        model = create(key, **params).fit(old, options=FitOptions(device="cpu", seed=0))
    with Clock() as batch:
        _, method = update_model(model, new)
    users = np.unique(new.frame["user_idx"].to_numpy())[:n_customers]
    wall, cpu = [], []
    for u in users:
        one = new.subset(new.frame["user_idx"].to_numpy() == u)
        with Clock() as c:
            update_model(model, one)
        wall.append(c.wall)
        cpu.append(c.cpu)
    row = {"model": key, "params": params, "method": method, "fit_events": old.n_events,
           "fit_seconds": round(fit.wall, 2), "fit_cpu_seconds": round(fit.cpu, 2),
           "new_events": new.n_events, "customers_in_batch": int(new.frame["user_idx"].nunique()),
           "batch_update_seconds": round(batch.wall, 4), "batch_update_cpu_seconds": round(batch.cpu, 4),
           "per_customer_seconds_median": round(float(np.median(wall)), 5),
           "per_customer_seconds_p95": round(float(np.percentile(wall, 95)), 5),
           "per_customer_cpu_seconds_median": round(float(np.median(cpu)), 5), "customers_timed": len(wall)}
    if finetune_epochs and hasattr(model, "fine_tune"):
        with Clock() as ft:
            update_model(model, new, method="finetune", epochs=finetune_epochs, full=data,
                         options=FitOptions(device="cpu", seed=0))
        row.update(finetune_epochs=finetune_epochs, finetune_seconds=round(ft.wall, 2),
                   finetune_cpu_seconds=round(ft.cpu, 2))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-events", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--finetune-epochs", type=int, default=0, help="also time a fine-tune (torch models)")
    args = parser.parse_args()
    keys = [k.strip() for k in args.models.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    torch.set_num_threads(args.threads)
    data = load_sample()
    load_before = os.getloadavg()
    rows = []
    for key in keys:
        r = bench(key, MODELS[key], data, args.new_events, args.customers, args.finetune_epochs)
        rows.append(r)
        line = (f"{r['model']:14s} fit {r['fit_seconds']:7.2f} s (cpu {r['fit_cpu_seconds']:.2f}) on "
                f"{r['fit_events']:,} events | {r['new_events']:,} new events ({r['customers_in_batch']:,} "
                f"customers) in {r['batch_update_seconds']:.3f} s (cpu {r['batch_update_cpu_seconds']:.3f}) | "
                f"per customer median {r['per_customer_seconds_median'] * 1000:.1f} ms "
                f"(cpu {r['per_customer_cpu_seconds_median'] * 1000:.1f}), p95 {r['per_customer_seconds_p95'] * 1000:.1f} ms")
        if "finetune_seconds" in r:
            line += f" | fine-tune {r['finetune_epochs']} epoch(s) {r['finetune_seconds']:.1f} s (cpu {r['finetune_cpu_seconds']:.1f})"
        print(line, flush=True)
    load_after = os.getloadavg()
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"device": "cpu", "threads": args.threads, "platform": platform.platform(), "cpus": os.cpu_count(),
           "torch": torch.__version__, "load_average_before": load_before, "load_average_after": load_after,
           "results": rows}
    (RESULTS / "update_speed.json").write_text(json.dumps(out, indent=2))
    print(f"wrote {RESULTS / 'update_speed.json'}")


if __name__ == "__main__":
    main()
