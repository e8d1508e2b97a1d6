"""Training speed and peak memory per model on a generated 1,000,000-event dataset.

The data (~50,000 users, ~3,000 items, Zipf-skewed item popularity, timestamps) is
generated once with a fixed seed; each model then trains in a fresh subprocess with its
default parameters, so one model's memory never counts against the next. Reported per
model: fit seconds (wall and CPU), the 1-minute load average before and after the fit (wall
time on a shared machine means little without it), peak resident memory of the process (and
its growth during fit), and peak GPU memory when training on CUDA. Writes ``bench/results/train_speed.json``.

    .venv/bin/python bench/train_speed.py [--models ease,als] [--events 1000000]
                                          [--device auto] [--time-budget 600]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def generate(n_events: int, n_users: int, n_items: int, seed: int = 0) -> pd.DataFrame:
    """Events with Zipf-like item popularity and user activity, over one year."""
    rng = np.random.default_rng(seed)
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.9
    user_p = 1.0 / np.arange(1, n_users + 1) ** 0.6
    users = rng.choice(n_users, size=n_events, p=user_p / user_p.sum())
    items = rng.choice(n_items, size=n_events, p=item_p / item_p.sum())
    times = np.sort(rng.integers(1_700_000_000, 1_700_000_000 + 365 * 86_400, size=n_events))
    return pd.DataFrame({"user_id": np.char.add("u", users.astype(str)).astype(object),
                         "item_id": np.char.add("i", items.astype(str)).astype(object),
                         "timestamp": pd.to_datetime(times, unit="s")})


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS).
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(model_key: str, data_path: str, device: str, time_budget: float | None) -> dict:
    """Fit one model in this (fresh) process and measure it."""
    sys.path.insert(0, str(REPO))
    import torch

    from recsys.data.dataset import Dataset
    from recsys.models.registry import get_spec
    from recsys.training.device import describe_device, resolve_device
    from recsys.training.options import FitOptions

    start = time.monotonic()
    data = Dataset.from_tables(pd.read_parquet(data_path))
    build_seconds = time.monotonic() - start
    resolved = resolve_device(device)
    before = _peak_rss_mb()
    if resolved.type == "cuda":
        torch.cuda.reset_peak_memory_stats(resolved)
    model = get_spec(model_key).create()
    epochs = []
    load_before = os.getloadavg()[0]
    start, cpu_start = time.monotonic(), time.process_time()
    model.fit(data, options=FitOptions(device=str(resolved), seed=0, time_budget_s=time_budget,
                                       callbacks=(lambda e: epochs.append(e.step) if e.total else None,)))
    if resolved.type == "cuda":
        torch.cuda.synchronize(resolved)
    fit_seconds, fit_cpu_seconds = time.monotonic() - start, time.process_time() - cpu_start
    start = time.monotonic()
    model.recommend(np.arange(min(1000, data.n_users)), 20)
    score_seconds_1k = time.monotonic() - start
    out = {"model": model_key, "fit_seconds": fit_seconds, "fit_cpu_seconds": fit_cpu_seconds,
           "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
           "build_dataset_seconds": build_seconds,
           "score_1000_users_seconds": score_seconds_1k, "peak_rss_mb": _peak_rss_mb(),
           "rss_before_fit_mb": before, "epochs_run": max(epochs) if epochs else None,
           "budget_hit": bool(time_budget and fit_seconds >= time_budget * 0.98),
           "device": describe_device(resolved), "params": model.get_params(),
           "n_users": data.n_users, "n_items": data.n_items, "n_events": data.n_events}
    if resolved.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(resolved) / 2**20
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="all", help="comma-separated keys (default: every model that can run)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=3_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--time-budget", type=float, default=600.0,
                        help="fit budget per model in seconds (iterative models stop early; 0 = none)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="kill a model's process after this long")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    budget = args.time_budget or None
    if args.child:
        print(json.dumps(child(args.child, args.data, args.device, budget)))
        return 0

    sys.path.insert(0, str(REPO))
    from recsys.models.registry import REGISTRY, availability

    models = [k for k, s in REGISTRY.items() if availability(s, has_item_text=False)[0]] \
        if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="recsys-speed-") as tmp:
        path = Path(tmp) / "events.parquet"
        start = time.monotonic()
        generate(args.events, args.users, args.items).to_parquet(path, index=False)
        print(f"generated {args.events:,} events in {time.monotonic() - start:.1f}s", file=sys.stderr)
        rows = []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        for key in models:
            cmd = [sys.executable, __file__, "--child", key, "--data", str(path), "--device", args.device,
                   "--time-budget", str(args.time_budget)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
            except subprocess.TimeoutExpired:
                rows.append({"model": key, "error": f"timed out after {args.timeout:.0f}s"})
            else:
                if proc.returncode == 0:
                    rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                else:
                    tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                    rows.append({"model": key, "error": tail[0]})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    shown = [c for c in ("model", "fit_seconds", "fit_cpu_seconds", "load_avg_1m", "epochs_run", "budget_hit", "peak_rss_mb", "rss_before_fit_mb",
                         "peak_gpu_mb", "score_1000_users_seconds", "device", "error") if c in frame]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.2f}".format):
        print(frame[shown].to_string(index=False))
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"events": args.events, "users": args.users, "items": args.items, "time_budget_s": budget,
              "cpu_count": os.cpu_count(), "results": rows}
    (RESULTS / "train_speed.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {RESULTS / 'train_speed.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
