"""Time to explain one recommendation, per model and method, on the bundled sample (CPU).

Imports the content-platform sample into a scratch workspace, trains small runs of the
explainable models (``--epochs`` for the neural ones; explanation cost depends on the
network's shape, not on how long it trained), loads each run as the dashboard does,
then times ``explain`` on the top recommendation of ``--customers`` customers. The
first call of each method is reported apart ("cold": Captum/SHAP imports); the targets
apply to the warm median: exact and attention under 0.2 s, Captum and SHAP under 3 s.
Prints a table and writes ``bench/results/explain_speed.json``.

    .venv/bin/python bench/explain_speed.py [--customers 20] [--threads 1] [--workspace DIR]

One torch thread by default: explaining one recommendation is a string of small tensor
operations, and on a shared CPU a second OpenMP thread waiting for a busy core makes
each of them stall (SASRec attention: about 20 ms with one thread, 0.4 s with two on the
2-core development machine under load). ``--workspace`` reuses runs trained there before.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
TARGETS = {"exact": 0.2, "attention": 0.2, "captum": 3.0, "shap": 3.0}
DATASET = "sample-content-platform"


def runs_to_train(epochs: int) -> dict[str, tuple[dict, tuple[str, ...]]]:
    """Model key -> (parameters, methods timed)."""
    return {
        "ease": ({}, ("exact",)),
        "itemknn": ({}, ("exact",)),
        "als": ({"iterations": 5}, ("exact",)),
        "sasrec": ({"epochs": epochs, "max_len": 50, "batch_size": 256}, ("attention", "captum")),
        "gru4rec": ({"epochs": epochs, "max_len": 50, "batch_size": 256}, ("captum",)),
        "multvae": ({"epochs": epochs}, ("captum",)),
        "neumf": ({"epochs": epochs}, ("captum",)),
        "hybrid": ({"epochs": epochs}, ("shap", "captum")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20, help="recommendations explained per method")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of the neural runs")
    parser.add_argument("--models", default=None, help="comma-separated subset of the model keys")
    parser.add_argument("--workspace", default=None, help="scratch workspace (default: a temporary folder)")
    parser.add_argument("--out", default=str(RESULTS / "explain_speed.json"))
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    import numpy as np
    import torch

    from recsys.data.samples import import_sample
    from recsys.explain import explain
    from recsys.runs import list_runs, load_run, train_run
    from recsys.workspace import Workspace

    torch.set_num_threads(args.threads)
    ws = Workspace(args.workspace or tempfile.mkdtemp(prefix="explain-speed-"))
    if not ws.has_dataset(DATASET):
        import_sample("content-platform", ws)
    plan = runs_to_train(args.epochs)
    if args.models:
        plan = {k: v for k, v in plan.items() if k in args.models.split(",")}
    rows = []
    existing = list_runs(ws, dataset=DATASET)
    for key, (params, methods) in plan.items():
        started = time.perf_counter()
        earlier = existing[existing["model"] == key]["run_id"].tolist()
        run_id = earlier[0] if earlier else train_run(ws, DATASET, key, params, split="none", device="cpu").id
        run = load_run(ws, run_id)
        print(f"{key}: {'loaded' if earlier else 'trained and loaded'} in {time.perf_counter() - started:.1f} s",
              flush=True)
        model, data = run.model, run.data
        active = np.flatnonzero(np.diff(model.history_.indptr) > 0)
        users = np.random.default_rng(0).choice(active, size=min(args.customers, len(active)), replace=False)
        items = model.recommend(users, 1).item_idx
        for method in methods:
            t = time.perf_counter()
            explain(model, data, int(users[0]), int(items[0]), method)
            cold = time.perf_counter() - t
            times = []
            for u, i in zip(users, items):
                t = time.perf_counter()
                explain(model, data, int(u), int(i), method)
                times.append(time.perf_counter() - t)
            median = statistics.median(times)
            rows.append({"model": key, "method": method, "n": len(times), "cold_seconds": cold,
                         "median_seconds": median, "p90_seconds": float(np.quantile(times, 0.9)),
                         "max_seconds": max(times), "target_seconds": TARGETS[method],
                         "meets_target": median < TARGETS[method]})
            print(f"  {method:<9} median {median * 1000:7.1f} ms  p90 {rows[-1]['p90_seconds'] * 1000:7.1f} ms  "
                  f"cold {cold:6.2f} s  target < {TARGETS[method]} s: {'yes' if rows[-1]['meets_target'] else 'NO'}",
                  flush=True)
    report = {"dataset": DATASET, "customers": args.customers, "torch_threads": args.threads,
              "cpu_count": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
              "torch": torch.__version__, "epochs": args.epochs, "results": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return 0 if all(r["meets_target"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
