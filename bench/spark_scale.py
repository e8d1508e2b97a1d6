"""Import, ALS training and list export on generated 1M / 5M / 20M events: Spark local[2] vs the local engine.

For each size the events are generated in 1M-row chunks straight into one Parquet file (the
driver never holds all rows). Spark runs in this process against one local[2] session:
``import_spark_dataset`` (validation + profile + write, no local copy), ``train_spark_run``
(index, leave-last-out split, ALS, distributed evaluation) and ``spark_lists`` +
``write_export`` (top-10 per customer, Parquet). The local engine runs the same three steps
(``load_and_validate`` + ``import_dataset``, ``train_run`` "als", ``customer_lists`` + Parquet)
in a fresh subprocess per size under a memory cap (``RLIMIT_AS``, default 6 GB) and a time
cap; a failure is recorded, not raised. Peak memory: the local subprocess's peak RSS; for
Spark, the Python driver's peak RSS and the driver JVM's peak RSS (``VmHWM``, since start).
CPU time is recorded beside wall time, with the load average (the machine is shared).

    .venv/bin/python bench/spark_scale.py                       # 1e6,5e6,2e7
    .venv/bin/python bench/spark_scale.py --sizes 1e6,5e6 --local-mem-gb 6 --local-timeout 1800
    .venv/bin/python bench/spark_scale.py --sizes 2e7 --merge  # add 20M to the earlier sizes

``--merge`` keeps the sizes already in the results file (same settings and parameters) and
replaces only the sizes run now, so one long size can run on its own; ``sizes_run`` records
which sizes each merged invocation ran.

Needs the Spark extra (requirements-spark.txt) and Java 17. Writes bench/results/spark_scale.json.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "spark_scale.json"
CHUNK = 1_000_000
PARAMS = {"factors": 32, "iterations": 5, "regularization": 0.1, "alpha": 1.0, "weighting": "log"}
EVENT_TYPES = np.array(["view", "click", "add_to_cart", "purchase"])


def shape(n_events: int) -> tuple[int, int]:
    """Customers and items for a size: 25 events per customer, 1 item per 500 events (>= 2,000)."""
    return max(n_events // 25, 100), max(n_events // 500, 2000)


def generate(path: Path, n_events: int, seed: int = 0) -> None:
    """Write ``n_events`` events to one Parquet file, a million rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_users, n_items = shape(n_events)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    cdf = np.cumsum(pop / pop.sum())
    start = np.datetime64("2024-01-01T00:00:00", "s")
    writer = None
    for first in range(0, n_events, CHUNK):
        n = min(CHUNK, n_events - first)
        users = rng.integers(0, n_users, n)
        # taste: a customer's items cluster around a customer-specific offset in the popularity order
        items = (np.searchsorted(cdf, rng.random(n)) + (users % 50) * (n_items // 50)) % n_items
        seconds = first + np.arange(n) + rng.integers(0, 1, n)
        table = pa.table({
            "user_id": pa.array(np.char.add("U", users.astype(str)).astype(object), pa.string()),
            "item_id": pa.array(np.char.add("I", items.astype(str)).astype(object), pa.string()),
            "timestamp": pa.array((start + seconds.astype("timedelta64[s]")).astype("datetime64[us]")),
            "event_type": pa.array(EVENT_TYPES[rng.choice(4, n, p=[0.6, 0.2, 0.1, 0.1])].astype(object), pa.string()),
        })
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    writer.close()


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def jvm_stats(pid: int | None) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB) of the driver JVM from /proc; zeros when unknown."""
    if not pid:
        return 0.0, 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        hwm = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmHWM"))
        return cpu, hwm / 1024
    except (OSError, StopIteration, IndexError, ValueError):
        return 0.0, 0.0


def run_spark(spark, settings, data: Path, workdir: Path, n_events: int) -> dict:
    from recsys.spark.exports import spark_lists, write_export
    from recsys.spark.importer import import_spark_dataset
    from recsys.spark.runs import train_spark_run
    from recsys.workspace import Workspace

    pid = getattr(getattr(spark.sparkContext._gateway, "proc", None), "pid", None)
    ws = Workspace(workdir / "ws-spark")
    out: dict = {}
    steps = [
        ("import", lambda: import_spark_dataset(ws, "bench", [str(data)], settings=settings, local_copy=False,
                                                out=str(workdir / "spark-events"), overwrite=True)),
        ("train", lambda: out.setdefault("_run", train_spark_run(ws, "bench", PARAMS, settings=settings))),
        ("export", lambda: write_export(spark, spark_lists(spark, ws, out["_run"]["id"], n=10),
                                        str(workdir / "spark-lists"), "parquet", kind="lists", workspace=ws,
                                        run_id=out["_run"]["id"])),
    ]
    for name, step in steps:
        cpu0, (jcpu0, _) = cpu_self(), jvm_stats(pid)
        t0 = time.perf_counter()
        step()
        jcpu1, hwm = jvm_stats(pid)
        out[name] = {"wall_s": round(time.perf_counter() - t0, 2), "cpu_s": round(cpu_self() - cpu0 + jcpu1 - jcpu0, 2),
                     "driver_python_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                     "driver_jvm_peak_mb": round(hwm, 1)}
        print(f"  spark {name:6s} {out[name]}", flush=True)
    out["ndcg@10"] = out.pop("_run")["metrics"].get("ndcg@10")
    return out


LOCAL_SCRIPT = r"""
import json, resource, sys, time
mem_gb, data, workdir = float(sys.argv[1]), sys.argv[2], sys.argv[3]
cap = int(mem_gb * 2**30)
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
sys.path.insert(0, sys.argv[4])
import torch; torch.set_num_threads(2)
out = {}
def step(name, fn):
    r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
    value = fn()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    out[name] = {"wall_s": round(time.perf_counter() - t0, 2),
                 "cpu_s": round(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, 2),
                 "peak_rss_mb": round(r1.ru_maxrss / 1024, 1)}
    print(json.dumps({name: out[name]}), flush=True)
    return value
from recsys.data.importer import import_dataset
from recsys.data.validation import load_and_validate
from recsys.runs import load_run, train_run
from recsys.segments.lists import ListOptions, customer_lists
from recsys.workspace import Workspace
ws = Workspace(workdir + "/ws-local")
def do_import():
    report = load_and_validate({"interactions": data})
    return import_dataset(report, "bench", ws, overwrite=True)
step("import", do_import)
params = json.loads(sys.argv[5])
run = step("train", lambda: train_run(ws, "bench", "als", params, split="leave_last_out",
                                      split_params={"with_valid": False, "min_events": 2}, device="cpu"))
out["ndcg@10"] = run.metrics.get("ndcg@10")
def do_export():
    loaded = load_run(ws, run.id)
    customer_lists(loaded.model, loaded.data, ListOptions(n=10)).frame.to_parquet(workdir + "/local-lists.parquet")
step("export", do_export)
print("RESULT " + json.dumps(out), flush=True)
"""


def run_local(data: Path, workdir: Path, mem_gb: float, timeout: float) -> dict:
    cmd = [sys.executable, "-c", LOCAL_SCRIPT, str(mem_gb), str(data), str(workdir), str(ROOT), json.dumps(PARAMS)]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        partial = _steps(exc.stdout or "")
        return {**partial, "failed": f"time cap {timeout:.0f} s reached", "wall_s": round(time.perf_counter() - t0, 1)}
    result = next((json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")), None)
    if result is not None:
        return result
    tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
    reason = "out of memory (cap %.0f GB)" % mem_gb if "MemoryError" in proc.stderr or proc.returncode in (-9, 137) \
        else tail[0][:200]
    return {**_steps(proc.stdout), "failed": reason, "stderr_tail": (proc.stderr or "").strip().splitlines()[-3:]}


def _steps(stdout: str | bytes) -> dict:
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    out = {}
    for line in text.splitlines():
        if line.startswith("{"):
            out.update(json.loads(line))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e6,5e6,2e7", help="comma-separated event counts, e.g. 1e6,5e6")
    parser.add_argument("--local-mem-gb", type=float, default=6.0, help="memory cap of the local engine subprocess")
    parser.add_argument("--local-timeout", type=float, default=3600.0, help="time cap of the local engine per size (s)")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--merge", action="store_true", help="keep the other sizes already in the results file")
    parser.add_argument("--table-only", action="store_true", help="print the table of the results file, run nothing")
    args = parser.parse_args(argv)
    if args.table_only:
        _print_table(json.loads(RESULTS.read_text()))
        return 0
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]

    from recsys.spark.session import get_session
    from recsys.spark.settings import SparkSettings

    settings = SparkSettings(master="local[2]", shuffle_partitions=4, als_blocks=2, driver_memory=args.driver_memory)
    t0 = time.perf_counter()
    spark = get_session(settings)
    results = {"settings": settings.describe() | {"driver_memory": args.driver_memory}, "params": PARAMS,
               "session_start_s": round(time.perf_counter() - t0, 1), "sizes": {}}
    if args.merge:
        results = _merged(results, sizes)
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="spark-scale-") as tmp:
            workdir = Path(tmp)
            data = workdir / "events.parquet"
            t0 = time.perf_counter()
            generate(data, n)
            users, items = shape(n)
            entry = {"n_users": users, "n_items": items, "generate_s": round(time.perf_counter() - t0, 1),
                     "load_before": os.getloadavg()}
            print(f"{n:,} events ({users:,} customers, {items:,} items)", flush=True)
            entry["spark"] = run_spark(spark, settings, data, workdir, n)
            if not args.skip_local:
                entry["local"] = run_local(data, workdir, args.local_mem_gb, args.local_timeout)
                print(f"  local  {entry['local']}", flush=True)
            entry["load_after"] = os.getloadavg()
            results["sizes"][str(n)] = entry
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2))
    _print_table(results)
    return 0


def _merged(fresh: dict, sizes: list[int]) -> dict:
    """``fresh`` on top of the results file's other sizes; refuses to mix settings or parameters."""
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for key in ("settings", "params"):
        if old and old.get(key) != fresh[key]:
            raise SystemExit(f"--merge: {RESULTS} was measured with other {key} ({old.get(key)}); "
                             "rerun every size instead")
    kept = {n: e for n, e in old.get("sizes", {}).items() if int(n) not in sizes}
    history = (old.get("sizes_run") or [sorted(int(n) for n in kept)]) if kept else []
    return {**fresh, "sizes": kept, "sizes_run": [*history, sizes]}


def _print_table(results: dict) -> None:
    rows = []
    results["sizes"] = dict(sorted(results["sizes"].items(), key=lambda kv: int(kv[0])))
    for n, entry in results["sizes"].items():
        for engine in ("spark", "local"):
            part = entry.get(engine)
            if not part:
                continue
            row = {"events": int(n), "engine": engine}
            for step in ("import", "train", "export"):
                s = part.get(step, {})
                row[f"{step}_wall_s"], row[f"{step}_cpu_s"] = s.get("wall_s"), s.get("cpu_s")
            peaks = [s.get("peak_rss_mb") or s.get("driver_jvm_peak_mb") for s in part.values() if isinstance(s, dict)]
            row["peak_mb"] = max([p for p in peaks if p] or [None]) if any(peaks) else None
            row["ndcg@10"], row["failed"] = part.get("ndcg@10"), part.get("failed", "")
            rows.append(row)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    for engine in ("spark", "local"):
        sub = table[(table["engine"] == engine) & (table["failed"] == "")] if len(table) else table
        if len(sub) >= 2:
            a, b = sub.iloc[0], sub.iloc[-1]
            factor = b["events"] / a["events"]
            total_a = sum(a[f"{s}_wall_s"] or 0 for s in ("import", "train", "export"))
            total_b = sum(b[f"{s}_wall_s"] or 0 for s in ("import", "train", "export"))
            growth = (total_b / total_a) ** (1 / np.log10(factor)) if total_a and factor > 1 else float("nan")
            cpu_a = sum(a[f"{s}_cpu_s"] or 0 for s in ("import", "train", "export"))
            cpu_b = sum(b[f"{s}_cpu_s"] or 0 for s in ("import", "train", "export"))
            cpu_growth = (cpu_b / cpu_a) ** (1 / np.log10(factor)) if cpu_a and factor > 1 else float("nan")
            print(f"{engine}: wall time x{growth:.2f}, CPU time x{cpu_growth:.2f} per 10x events "
                  f"({a['events']:,} -> {b['events']:,})")
            results[f"{engine}_growth_per_10x"] = round(float(growth), 2)
            results[f"{engine}_cpu_growth_per_10x"] = round(float(cpu_growth), 2)
            results[f"{engine}_growth_span"] = [int(a["events"]), int(b["events"])]
    failed = table[table["failed"] != ""] if len(table) else table
    for row in failed.itertuples():
        print(f"{row.engine} at {row.events:,} events: {row.failed}")
    RESULTS.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
