"""Check that every torch model trains on CUDA as it does on CPU: speed per epoch and accuracy.

For each registered model with ``uses_torch`` (read from the registry, so models added
later are included), train a few epochs on one generated dataset with planted taste
groups, first on CPU and then on CUDA, and report the seconds per epoch on each device
and the validation NDCG@10 of each fit, which must agree within ``--tolerance`` (random
streams differ between devices, and CUDA runs in bfloat16 autocast, so scores are close,
not equal). Prints a table and writes ``bench/results/gpu_check.json``. Without a CUDA
GPU it says so and exits 0 (``--cpu-only`` runs the CPU half, to check the script).
Exit status 1 when a model fails or disagrees.

    .venv/bin/python bench/gpu_check.py [--epochs 3] [--models neumf,multvae] [--tolerance 0.05]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from recsys.data.dataset import Dataset  # noqa: E402
from recsys.models.registry import REGISTRY, ModelSpec, availability  # noqa: E402
from recsys.models.validation import RankingValidator  # noqa: E402
from recsys.training.device import describe_device  # noqa: E402
from recsys.training.options import FitOptions  # noqa: E402

RESULTS = REPO / "bench" / "results" / "gpu_check.json"
EPOCH_PARAMS = ("epochs", "iterations")


def generate(n_users: int = 3000, n_items: int = 1200, n_groups: int = 8, per_user: int = 30,
             seed: int = 0) -> tuple[Dataset, Dataset]:
    """Train and validation parts of a dataset where each user mostly picks from one item group.

    Items have Zipf-like popularity within their group, users draw 85% of their events from
    their group and the rest from the whole catalog; each user's last two events (by time)
    are validation. Items carry a title and category naming their group, so content models
    can run too.
    """
    rng = np.random.default_rng(seed)
    item_group = np.arange(n_items) % n_groups
    popularity = 1.0 / (1.0 + np.arange(n_items) // n_groups) ** 0.8
    rows = []
    for u in range(n_users):
        group = u % n_groups
        inside = np.flatnonzero(item_group == group)
        p_in = popularity[inside] / popularity[inside].sum()
        n_in = int(round(per_user * 0.85))
        picks = np.concatenate([rng.choice(inside, n_in, replace=False, p=p_in),
                                rng.choice(n_items, per_user - n_in, replace=False)])
        picks = rng.permutation(pd.unique(picks))  # time order independent of the group
        times = np.sort(rng.integers(1_700_000_000, 1_700_000_000 + 90 * 86_400, len(picks)))
        rows.append(pd.DataFrame({"user_id": f"u{u}", "item_id": [f"i{i}" for i in picks], "timestamp": times}))
    events = pd.concat(rows, ignore_index=True)
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(n_items)],
                          "title": [f"group {g} item {i}" for i, g in enumerate(item_group)],
                          "category": [f"group {g}" for g in item_group]})
    data = Dataset.from_tables(events, items=items)
    f = data.frame
    from_end = f.groupby("user_idx").cumcount(ascending=False).to_numpy()
    return data.subset(from_end >= 2), data.subset(from_end < 2)


def torch_models(keys: list[str] | None) -> list[ModelSpec]:
    specs = [s for s in REGISTRY.values() if s.uses_torch]
    if keys:
        unknown = sorted(set(keys) - {s.key for s in specs})
        if unknown:
            raise SystemExit(f"not registered torch models: {', '.join(unknown)}; "
                             f"torch models: {', '.join(s.key for s in specs)}")
        specs = [s for s in specs if s.key in keys]
    return [s for s in specs if availability(s, has_timestamps=True, has_item_text=True)[0]]


def epoch_params(spec: ModelSpec, epochs: int) -> dict:
    names = {p.name for p in spec.params}
    return {name: epochs for name in EPOCH_PARAMS if name in names}


def fit_once(spec: ModelSpec, train: Dataset, valid: Dataset, device: str, epochs: int, seed: int) -> dict:
    """Fit ``spec`` on ``device``; seconds per epoch (after the first) and validation NDCG@10."""
    model = spec.create(**epoch_params(spec, epochs))
    stamps: list[float] = []

    def on_event(event) -> None:
        if event.stage == "epoch":
            stamps.append(time.perf_counter())

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    model.fit(train, options=FitOptions(device=device, seed=seed, callbacks=(on_event,)))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    fit_seconds = time.perf_counter() - start
    # The first epoch carries one-off costs (allocations, kernel selection): time the others.
    gaps = np.diff([start, *stamps])
    per_epoch = float(gaps[1:].mean()) if len(gaps) > 1 else fit_seconds
    validator = RankingValidator(model.history_, valid, k=10, seed=seed)
    ndcg = validator.ndcg(lambda users: model.score(users))
    return {"fit_seconds": fit_seconds, "epochs_run": max(len(stamps), 1),
            "seconds_per_epoch": per_epoch, "ndcg@10": ndcg, "device": describe_device(torch.device(device))}


def warm_up(spec: ModelSpec, train: Dataset, valid: Dataset, device: str) -> None:
    """One tiny fit, so one-off library start-up costs do not count as a model's epoch time."""
    users = train.frame["user_idx"].to_numpy() < 50
    fit_once(spec, train.subset(users), valid, device, 1, 0)


def check(spec: ModelSpec, train: Dataset, valid: Dataset, devices: list[str], epochs: int, seed: int,
          tolerance: float) -> dict:
    row: dict = {"model": spec.key, "params": epoch_params(spec, epochs)}
    for device in devices:
        try:
            warm_up(spec, train, valid, device)
            row[device] = fit_once(spec, train, valid, device, epochs, seed)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next model
            row[device] = {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
    results = [row.get(d, {}) for d in devices]
    if any("error" in r for r in results):
        row["status"] = "error"
    elif len(devices) == 2:
        row["ndcg_difference"] = abs(results[0]["ndcg@10"] - results[1]["ndcg@10"])
        row["speedup"] = results[0]["seconds_per_epoch"] / max(results[1]["seconds_per_epoch"], 1e-9)
        row["status"] = "ok" if row["ndcg_difference"] <= tolerance else "disagree"
    else:
        row["status"] = "ok (cpu only)"
    return row


def table(rows: list[dict], devices: list[str]) -> str:
    head = ["model"] + [f"{d} s/epoch" for d in devices] + [f"{d} ndcg@10" for d in devices]
    if len(devices) == 2:
        head += ["speedup", "|diff|"]
    lines = [head]
    for row in rows:
        cells = [row["model"]]
        for d in devices:
            r = row.get(d, {})
            cells.append("error" if "error" in r else f"{r['seconds_per_epoch']:.3f}")
        for d in devices:
            r = row.get(d, {})
            cells.append("error" if "error" in r else f"{r['ndcg@10']:.4f}")
        if len(devices) == 2:
            cells += [f"{row['speedup']:.1f}x" if "speedup" in row else "-",
                      f"{row['ndcg_difference']:.4f}" if "ndcg_difference" in row else "-"]
        lines.append(cells + [row["status"]])
    lines[0].append("status")
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="epochs (or iterations) per fit")
    parser.add_argument("--models", default="", help="comma-separated torch model keys (default: all)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="largest absolute difference of validation NDCG@10 between devices")
    parser.add_argument("--users", type=int, default=3000, help="users in the generated data")
    parser.add_argument("--items", type=int, default=1200, help="items in the generated data")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cpu-only", action="store_true", help="run the CPU half even without a GPU")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON file to write (default {RESULTS.relative_to(REPO)}; --cpu-only writes only here)")
    args = parser.parse_args(argv)

    has_cuda = torch.cuda.is_available()
    if not has_cuda and not args.cpu_only:
        print("gpu_check: CUDA is not available on this machine; nothing to compare (skipped).")
        return 0
    devices = ["cpu", "cuda"] if has_cuda else ["cpu"]
    specs = torch_models([k.strip().lower() for k in args.models.split(",") if k.strip()])
    train, valid = generate(args.users, args.items, seed=args.seed)
    print(f"gpu_check: {len(specs)} torch model(s), {args.epochs} epoch(s) each; {train.n_users:,} users, "
          f"{train.n_items:,} items, {train.n_events:,} train events; devices: {', '.join(devices)}", flush=True)
    rows = []
    for spec in specs:
        rows.append(check(spec, train, valid, devices, args.epochs, args.seed, args.tolerance))
        print(f"  {spec.key}: {rows[-1]['status']}", flush=True)
    print(table(rows, devices))
    payload = {"devices": {d: describe_device(torch.device(d)) for d in devices},
               "torch": torch.__version__, "python": platform.python_version(), "epochs": args.epochs,
               "tolerance": args.tolerance, "seed": args.seed,
               "data": {"users": train.n_users, "items": train.n_items, "train_events": train.n_events,
                        "valid_events": valid.n_events},
               "results": rows}
    out = args.out or (RESULTS if has_cuda else None)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2))
        print(f"wrote {out}")
    return 0 if all(r["status"].startswith("ok") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
