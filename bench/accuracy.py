"""Accuracy on ml-latest-small against the peer libraries (the shared benchmark kit).

Builds the leave-last-out and random-811 splits with ``<repo>/../shared/benchmarks/splits.py``
into a temporary folder, runs ``python -m recsys benchmark`` with every registered model on
each (leave-last-out: train + valid joined as ``--train`` with ``--tune``; random-811:
``--train --valid --test`` with ``--tune``), cross-checks our metrics with the kit's
``score_external.py``, and prints NDCG@10 and train seconds beside the best peer of each
family (``shared/benchmarks/results/*.json``). Writes ``bench/results/accuracy.json``,
merging into an earlier report (models benchmarked before stay unless ``--fresh``).

    .venv/bin/python bench/accuracy.py [--models ease,als] [--protocols llo,811]
                                       [--tune-budget 300] [--keep] [--fresh]

Exits 0 with a message when the shared folder is absent.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
KIT = SHARED / "benchmarks"
RESULTS = REPO / "bench" / "results"
PROTOCOLS = {"llo": ("leave-last-out", "mlsmall-llo"), "811": ("random-811", "mlsmall-811")}
CROSS_CHECK = ("ndcg@10", "recall@10", "precision@10", "map@10", "mrr@10", "hit@10", "ndcg@20", "recall@20")
# Peer model name (after the library prefix) -> our registry key of the same family.
PEER_FAMILY = {"EASE": "ease", "ItemKNN": "itemknn", "Cosine": "itemknn", "ALS": "als", "BPR": "bpr",
               "Pop": "popularity", "MultiVAE": "multvae", "NeuMF": "neumf", "SASRec": "sasrec",
               "GRU4Rec": "gru4rec"}


def python_env() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


def make_splits(work: Path, protocols: list[str]) -> dict[str, Path]:
    folders = {}
    for key in protocols:
        protocol, name = PROTOCOLS[key]
        folder = work / name
        subprocess.run([sys.executable, str(KIT / "splits.py"), protocol, str(folder),
                        "--dataset", "ml-latest-small"], check=True, stdout=subprocess.DEVNULL)
        folders[key] = folder
    return folders


def unusable(models: list[str], folder: Path) -> dict[str, dict]:
    """Requested models that cannot run on this split's files, each with the reason.

    The CLI refuses a request naming such a model (random-811 has no timestamps, no split
    has item text), so they are left out of the run and get an error row instead.
    """
    if models == ["all"]:
        return {}
    sys.path.insert(0, str(REPO))
    from recsys.models.registry import availability, get_spec

    has_timestamps = "timestamp" in pd.read_csv(folder / "train.csv", nrows=0).columns
    out = {}
    for key in models:
        ok, why = availability(get_spec(key), has_timestamps=has_timestamps, has_item_text=False)
        if not ok:
            out[key] = {"error": f"cannot run on {folder.name}: {why}"}
    return out


def run_benchmark(key: str, folder: Path, out: Path, models: list[str], tune_budget: float, device: str) -> dict:
    """Run the CLI on one split folder per the protocol notes; return metrics.json."""
    if key == "llo":
        joined = folder / "train_valid.csv"
        pd.concat([pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "valid.csv")]).to_csv(joined, index=False)
        files = ["--train", str(joined)]
    else:
        files = ["--train", str(folder / "train.csv"), "--valid", str(folder / "valid.csv")]
    cmd = [sys.executable, "-m", "recsys", "benchmark", *files, "--test", str(folder / "test.csv"),
           "--models", ",".join(models), "--k", "20", "--tune", "--tune-budget", str(tune_budget),
           "--device", device, "--out-dir", str(out)]
    print("$", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, cwd=REPO, env=python_env())
    if proc.returncode not in (0, 1):  # 1: some model failed, recorded in metrics.json
        raise SystemExit(f"benchmark failed with exit code {proc.returncode}")
    return json.loads((out / "metrics.json").read_text())


def cross_check(folder: Path, out: Path, model: str, ours: dict) -> dict:
    """Score our list with the kit's scorer; return its test metrics and the largest gap."""
    proc = subprocess.run([sys.executable, str(KIT / "score_external.py"), str(folder), str(out / f"{model}.csv")],
                          capture_output=True, text=True, check=True)
    external = json.loads(proc.stdout)["test"]
    gap = max(abs(external[m] - ours[m]) for m in CROSS_CHECK)
    return {"external": {m: external[m] for m in (*CROSS_CHECK, "coverage@10", "seen_frac@10")}, "max_gap": gap}


def peer_figures(split_name: str) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(str(KIT / "results" / f"{split_name}__*.json"))):
        peer = json.loads(Path(path).read_text())
        name = peer.get("model", Path(path).stem.split("__", 1)[1])
        family = PEER_FAMILY.get(name.split("-", 1)[-1])
        rows.append({"peer": name, "family": family, "ndcg@10": peer["test"]["ndcg@10"],
                     "train_seconds": peer.get("train_seconds")})
    return rows


def best_peer(peers: list[dict], family: str | None) -> dict | None:
    same = [p for p in peers if p["family"] == family]
    return max(same, key=lambda p: p["ndcg@10"]) if same else None


def table(split_name: str, metrics: dict, checks: dict, peers: list[dict]) -> tuple[str, list[dict]]:
    rows = []
    for model, m in metrics.items():
        peer = best_peer(peers, model)
        rows.append({
            "model": model, "ndcg@10": m.get("ndcg@10"), "recall@10": m.get("recall@10"),
            "train_s": m.get("train_seconds"), "tune_s": m.get("tune_seconds"),
            "best_peer": peer["peer"] if peer else None, "peer_ndcg@10": peer["ndcg@10"] if peer else None,
            "peer_train_s": peer["train_seconds"] if peer else None,
            "vs_peer": (m["ndcg@10"] - peer["ndcg@10"]) if peer and m.get("ndcg@10") is not None else None,
            "scorer_gap": checks.get(model, {}).get("max_gap"), "error": m.get("error"),
            "params": m.get("params"),
        })
    frame = pd.DataFrame(rows).drop(columns=["params"])
    with pd.option_context("display.width", 220, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        text = f"\n== {split_name} ==\n" + frame.to_string(index=False)
    return text, rows


def save_split(split_name: str, metrics: dict, checks: dict, tune_budget: float, *, fresh: bool) -> str:
    """Merge one split's results into ``bench/results/accuracy.json``; return its table.

    The report is read right before writing, so models benchmarked by another run of this
    script (earlier, or meanwhile on another protocol) stay in it; ``fresh`` starts anew.
    """
    path = RESULTS / "accuracy.json"
    report = json.loads(path.read_text()) if path.is_file() and not fresh else {"splits": {}}
    old = report["splits"].get(split_name, {})
    metrics = {**old.get("metrics", {}), **metrics}
    checks = {**{m: c for m, c in old.get("cross_check", {}).items() if m in metrics}, **checks}
    peers = peer_figures(split_name)
    text, rows = table(split_name, metrics, checks, peers)
    report["splits"][split_name] = {"rows": rows, "metrics": metrics, "cross_check": checks, "peers": peers}
    report.update(tune_budget_s=tune_budget, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="all", help="comma-separated keys (default: every registered model)")
    parser.add_argument("--protocols", default="llo,811", help="llo, 811 or both (default)")
    parser.add_argument("--tune-budget", type=float, default=300.0, help="tuning seconds per model and split")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--keep", action="store_true", help="keep the temporary split and output folder")
    parser.add_argument("--fresh", action="store_true",
                        help="replace bench/results/accuracy.json instead of merging these models into it")
    args = parser.parse_args(argv)
    if not (KIT / "splits.py").is_file():
        print(f"skipped: the shared benchmark kit is not at {KIT}")
        return 0
    models = ["all"] if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    work = Path(tempfile.mkdtemp(prefix="recsys-accuracy-"))
    try:
        folders = make_splits(work, protocols)
        for n, (key, folder) in enumerate(folders.items()):
            split_name = PROTOCOLS[key][1]
            out = work / f"out-{key}"
            skipped = unusable(models, folder)
            runnable = [m for m in models if m not in skipped]
            metrics = run_benchmark(key, folder, out, runnable, args.tune_budget, args.device) if runnable else {}
            metrics.update(skipped)
            checks = {m: cross_check(folder, out, m, v) for m, v in metrics.items() if "error" not in v}
            bad = {m: c["max_gap"] for m, c in checks.items() if c["max_gap"] > 1e-6}
            text = save_split(split_name, metrics, checks, args.tune_budget, fresh=args.fresh and n == 0)
            print(text, flush=True)
            if bad:
                print(f"WARNING: our metrics differ from score_external.py: {bad}")
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nwrote {RESULTS / 'accuracy.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
