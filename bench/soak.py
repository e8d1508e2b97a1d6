"""Soak test: N concurrent headless browser sessions against one local dashboard.

Prepares a workspace (the bundled sample plus one Popularity run, so every page has content),
starts ``streamlit run app.py`` on a free loopback port, and drives N Chromium contexts (one
browser, N independent sessions) that loop through the pages Data, Train, Evaluate, Customer,
Fairness, Segments and Replay until the time is up. It records:

* errors: exception boxes, browser console errors, failed navigations or waits, and any request
  to an address other than 127.0.0.1 (all blocked);
* render time per page visit: from the click on the page's link until its heading is visible
  and Streamlit's run has finished (``stApp`` not running, status widget gone);
* memory: the server process's RSS (``/proc``) once a second, and its CPU time.

It stops by itself, prints median/p95 render time, the error count and peak memory, and writes
``bench/results/soak.json``::

    python bench/soak.py [--sessions 10] [--seconds 120] [--workspace DIR] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "soak.json"
PAGES = ("Data", "Train", "Evaluate", "Customer", "Fairness", "Segments", "Replay")
ALLOWED = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage"]
PAGE_TIMEOUT_MS = 180_000
# True once the page's script run has finished and the "running" indicator is gone.
SETTLED_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') === 'running') return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  return !status || status.offsetParent === null || !status.innerText.trim();
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_workspace(root: pathlib.Path) -> str:
    """The bundled sample and one quick run; returns the dataset name."""
    sys.path.insert(0, str(REPO))
    from recsys.data.samples import ensure_default_dataset
    from recsys.runs import list_runs, train_run
    from recsys.workspace import Workspace

    ws = Workspace(root)
    ensure_default_dataset(ws)
    name = ws.list_datasets()[0].name
    if list_runs(ws, name).empty:
        train_run(ws, name, "popularity")
    return name


def start_server(root: pathlib.Path, port: int, log: pathlib.Path) -> subprocess.Popen:
    env = dict(os.environ, RECSYS_WORKSPACE=str(root), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                return proc
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"the dashboard did not start; see {log}")


def rss_bytes(pid: int) -> int:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class Recorder:
    """Render times and errors from every session."""

    def __init__(self):
        self.renders: list[dict] = []
        self.errors: list[dict] = []

    def error(self, session: int, kind: str, detail: str) -> None:
        self.errors.append({"session": session, "kind": kind, "detail": detail[:300], "t": time.time()})


async def open_session(context, url: str, session: int, rec: Recorder):
    page = await context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.on("console", lambda msg: rec.error(session, "console", msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: rec.error(session, "pageerror", str(exc)))
    await page.goto(url)
    await page.get_by_test_id("stSidebarNav").wait_for()
    await page.get_by_test_id("stMain").get_by_role("heading", name=PAGES[0], exact=True).first.wait_for()
    await page.wait_for_function(SETTLED_JS, timeout=PAGE_TIMEOUT_MS, polling=100)
    return page


async def visit(page, title: str, session: int, rec: Recorder) -> None:
    started = time.perf_counter()
    try:
        await page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
        await page.get_by_test_id("stMain").get_by_role("heading", name=title, exact=True).first.wait_for()
        await page.wait_for_timeout(150)  # let the rerun begin before testing that it has finished
        await page.wait_for_function(SETTLED_JS, timeout=PAGE_TIMEOUT_MS, polling=100)
    except Exception as exc:  # noqa: BLE001 - a failed navigation is a recorded error, not a stop
        rec.error(session, "navigation", f"{title}: {type(exc).__name__}: {exc}")
        return
    seconds = time.perf_counter() - started
    boxes = page.get_by_test_id("stException")
    if await boxes.count():
        rec.error(session, "exception", f"{title}: {await boxes.first.inner_text()}")
    rec.renders.append({"session": session, "page": title, "seconds": seconds, "t": time.time()})


async def drive(url: str, n_sessions: int, seconds: float, chromium: str, server_pid: int) -> dict:
    from playwright.async_api import async_playwright

    rec, memory, blocked = Recorder(), [], []
    deadline = float("inf")  # set once every session has loaded the app

    async def sample_memory():
        while time.monotonic() < deadline:
            memory.append({"t": time.time(), "rss": rss_bytes(server_pid)})
            await asyncio.sleep(1.0)

    async def first_load(context, session: int):
        try:
            return await open_session(context, url, session, rec)
        except Exception as exc:  # noqa: BLE001
            rec.error(session, "navigation", f"first load: {type(exc).__name__}: {exc}")
            return None

    async def loop(page, session: int):
        offset = session % len(PAGES)  # sessions start on different pages
        i = 1
        while page is not None and time.monotonic() < deadline:
            await visit(page, PAGES[(offset + i) % len(PAGES)], session, rec)
            i += 1

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=CHROME_ARGS)

        async def route(r):
            if r.request.url.startswith(ALLOWED):
                await r.continue_()
            else:
                blocked.append(r.request.url)
                await r.abort()

        contexts = []
        for _ in range(n_sessions):
            context = await browser.new_context(viewport={"width": 1400, "height": 1000})
            await context.route("**/*", route)
            contexts.append(context)
        # Untimed warm-up: the first session loads the app alone (imports, caches), then the rest.
        pages = [await first_load(contexts[0], 0)]
        pages += await asyncio.gather(*(first_load(c, i) for i, c in enumerate(contexts) if i))
        deadline = time.monotonic() + seconds
        sampler = asyncio.create_task(sample_memory())
        await asyncio.gather(*(loop(page, i) for i, page in enumerate(pages)))
        await sampler
        for context in contexts:
            await context.close()
        await browser.close()
    for url_ in blocked:
        rec.error(-1, "outside-request", url_)
    return {"renders": rec.renders, "errors": rec.errors, "memory": memory}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summarise(raw: dict, args, wall: float, cpu: float, load_before, load_after) -> dict:
    times = [r["seconds"] for r in raw["renders"]]
    by_page = {}
    for title in PAGES:
        page_times = [r["seconds"] for r in raw["renders"] if r["page"] == title]
        by_page[title] = {"visits": len(page_times), "median_s": statistics.median(page_times) if page_times else None,
                          "p95_s": percentile(page_times, 0.95)}
    kinds: dict[str, int] = {}
    for err in raw["errors"]:
        kinds[err["kind"]] = kinds.get(err["kind"], 0) + 1
    peak = max((m["rss"] for m in raw["memory"]), default=0)
    return {
        "sessions": args.sessions, "seconds": args.seconds, "wall_s": round(wall, 1),
        "page_visits": len(times), "median_render_s": statistics.median(times) if times else None,
        "p95_render_s": percentile(times, 0.95), "max_render_s": max(times, default=None),
        "errors": len(raw["errors"]), "errors_by_kind": kinds, "first_errors": raw["errors"][:20],
        "peak_rss_mb": round(peak / 2**20, 1),
        "start_rss_mb": round(raw["memory"][0]["rss"] / 2**20, 1) if raw["memory"] else None,
        "end_rss_mb": round(raw["memory"][-1]["rss"] / 2**20, 1) if raw["memory"] else None,
        "server_cpu_s": round(cpu, 1), "load_avg_before": load_before, "load_avg_after": load_after,
        "by_page": by_page, "memory_series": raw["memory"],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10, help="concurrent browser sessions (default 10)")
    parser.add_argument("--seconds", type=float, default=120, help="how long the sessions loop (default 120)")
    parser.add_argument("--workspace", help="workspace folder (default: a fresh temporary one)")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium executable")
    parser.add_argument("--out", default=str(RESULTS), help="JSON results file")
    args = parser.parse_args(argv)

    root = pathlib.Path(args.workspace or tempfile.mkdtemp(prefix="soak-ws-")).resolve()
    print(f"workspace {root}: preparing the sample and a Popularity run...", flush=True)
    prepare_workspace(root)
    port = free_port()
    log = root.parent / f"soak-streamlit-{port}.log"
    server = start_server(root, port, log)
    url = f"http://127.0.0.1:{port}"
    print(f"dashboard at {url}; {args.sessions} sessions for {args.seconds:.0f} s", flush=True)
    load_before = os.getloadavg()
    cpu_before, started = cpu_seconds(server.pid), time.perf_counter()  # includes the warm-up
    try:
        raw = asyncio.run(drive(url, args.sessions, args.seconds, args.chromium, server.pid))
        wall, cpu = time.perf_counter() - started, cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    result = summarise(raw, args, wall, cpu, load_before, os.getloadavg())
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))

    fmt = lambda v: "n/a" if v is None else f"{v:.2f} s"  # noqa: E731
    print(f"{result['page_visits']} page visits by {args.sessions} sessions in {args.seconds:.0f} s ({wall:.0f} s with warm-up) "
          f"(load average {load_before[0]:.1f} before, {result['load_avg_after'][0]:.1f} after)")
    print(f"render time: median {fmt(result['median_render_s'])}, p95 {fmt(result['p95_render_s'])}, "
          f"max {fmt(result['max_render_s'])}")
    for title, row in result["by_page"].items():
        print(f"  {title:<9} {row['visits']:>4} visits, median {fmt(row['median_s'])}, p95 {fmt(row['p95_s'])}")
    print(f"errors: {result['errors']} {result['errors_by_kind'] or ''}")
    for err in result["first_errors"][:5]:
        print(f"  session {err['session']} {err['kind']}: {err['detail']}")
    print(f"server memory: peak RSS {result['peak_rss_mb']:.0f} MB (start {result['start_rss_mb']} MB, "
          f"end {result['end_rss_mb']} MB); server CPU {cpu:.0f} s")
    print(f"wrote {out}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
