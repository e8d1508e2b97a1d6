"""The analyst's whole journey in a real browser (Debian's Chromium driven by Playwright).

Starts the dashboard on a free loopback port with a fresh workspace, blocks every
request that is not to 127.0.0.1 (and asserts none was attempted), and walks:
upload the sample CSVs -> confirm mapping -> import -> train two models as
background jobs -> compare them -> open a customer and two explanation methods ->
fairness -> build a segment and download the Customer Match file. Screenshots of
every page go to ``$E2E_SCREENSHOTS`` (default: a temporary folder, printed).
"""

from __future__ import annotations

import csv
import io
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

pytestmark = pytest.mark.browser

REPO = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SAMPLE = REPO / "sample_data" / "content_platform"
ALLOWED = ("http://127.0.0.1:", "ws://127.0.0.1:", "data:", "blob:")
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    env = dict(os.environ, RECSYS_WORKSPACE=str(tmp_path_factory.mktemp("workspace")))
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the dashboard did not start within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def shots() -> pathlib.Path:
    folder = pathlib.Path(os.environ.get("E2E_SCREENSHOTS") or tempfile.mkdtemp(prefix="e2e-shots-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def browser_page(server):
    blocked: list[str] = []
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data_dir=tempfile.mkdtemp(), executable_path=CHROMIUM, headless=True, args=CHROME_ARGS,
            viewport={"width": 1400, "height": 1600}, accept_downloads=True)

        def route(request_route):
            url = request_route.request.url
            if url.startswith(ALLOWED):
                request_route.continue_()
            else:
                blocked.append(url)
                request_route.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(120_000)
        yield page, blocked
        context.close()


def wait_idle(page, timeout: float = 300) -> None:
    """Wait until Streamlit has finished the current script run (twice in a row, 0.3 s apart)."""
    page.wait_for_timeout(600)
    deadline, calm = time.time() + timeout, 0
    while time.time() < deadline:
        state = page.get_by_test_id("stApp").get_attribute("data-test-script-state")
        calm = calm + 1 if state == "notRunning" else 0
        if calm >= 2:
            return
        page.wait_for_timeout(300)
    raise AssertionError("the app kept running for too long")


def no_exception(page) -> None:
    boxes = page.get_by_test_id("stException")
    assert boxes.count() == 0, boxes.first.inner_text()


def open_page(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_idle(page)
    page.get_by_role("heading", name=title).first.wait_for()
    no_exception(page)


def shot(page, folder: pathlib.Path, name: str) -> None:
    page.get_by_test_id("stMain").screenshot(path=str(folder / f"{name}.png"))


def test_the_whole_journey(server, browser_page, shots):
    page, blocked = browser_page
    page.goto(server)
    page.get_by_text("Events", exact=True).first.wait_for(timeout=240_000)
    wait_idle(page)
    no_exception(page)
    page.get_by_test_id("stPlotlyChart").nth(3).wait_for()
    shot(page, shots, "01-data-profile")

    # Upload the sample CSVs, confirm the detected mapping, import.
    page.get_by_role("tab", name="Import data").click()
    wait_idle(page)
    uploads = page.get_by_test_id("stFileUploaderDropzoneInput")
    uploads.nth(0).set_input_files(str(SAMPLE / "events.csv.gz"))
    wait_idle(page)
    uploads.nth(1).set_input_files(str(SAMPLE / "items.csv"))
    wait_idle(page)
    uploads.nth(2).set_input_files(str(SAMPLE / "customers.csv"))
    wait_idle(page)
    no_exception(page)
    page.get_by_text("Validation passed").first.wait_for()
    name = page.get_by_role("textbox", name="Dataset name").first
    name.fill("e2e-upload")
    name.press("Enter")
    wait_idle(page)
    shot(page, shots, "02-data-import")
    page.get_by_role("button", name="Import", exact=True).click()
    wait_idle(page)
    page.get_by_text("Imported e2e-upload").first.wait_for()
    no_exception(page)

    # Train two models as background jobs and wait for both.
    open_page(page, "Train")
    models = page.get_by_test_id("stMain").get_by_test_id("stMultiSelect").first
    models.click()
    page.keyboard.type("SASRec")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    budget = page.get_by_role("spinbutton", name=re.compile("Time budget"))
    budget.fill("1")
    budget.press("Tab")
    page.get_by_role("button", name="Start training").click()
    wait_idle(page)
    page.get_by_text("Started 3 training job(s)").first.wait_for()
    deadline = time.time() + 900
    while time.time() < deadline and page.get_by_text(re.compile(r"— succeeded")).count() < 3:
        assert page.get_by_text(re.compile(r"— failed")).count() == 0, "a training job failed"
        page.wait_for_timeout(2000)
    assert page.get_by_text(re.compile(r"— succeeded")).count() >= 3
    # a finished job redraws the page, so the Runs table lists the new runs
    page.get_by_text("No finished runs for this dataset yet.").wait_for(state="detached", timeout=120_000)
    wait_idle(page)
    no_exception(page)
    shot(page, shots, "03-train")

    open_page(page, "Evaluate")
    page.get_by_text("Leaderboard by").first.wait_for()
    page.get_by_test_id("stPlotlyChart").nth(1).wait_for()
    shot(page, shots, "04-evaluate")

    open_customer_with_two_methods(page, shots)

    open_page(page, "Fairness")
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_idle(page)
    no_exception(page)
    shot(page, shots, "06-fairness")

    check_segment_download(page, shots)

    for title in ("Data", "Train", "Evaluate", "Customer", "Fairness", "Segments", "Replay"):
        if page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).count():
            open_page(page, title)
            shot(page, shots, f"10-{title.lower()}")
    assert blocked == [], f"requests to outside addresses were attempted: {blocked[:5]}"


def pick(page, label: str, option: str | re.Pattern, attempts: int = 6) -> None:
    """Choose ``option`` in the select box labelled ``label``.

    Under load a click can land while a rerun replaces the widget, and the list never opens:
    wait for the app to settle, open the list, wait for the option; otherwise close and retry.
    """
    choice = page.get_by_role("option", name=option).first
    for _ in range(attempts):
        wait_idle(page)
        box = page.get_by_test_id("stMain").get_by_label(label, exact=True)
        visible = box.filter(visible=True)
        target = (visible if visible.count() else box).first
        target.scroll_into_view_if_needed()
        target.click()
        try:
            choice.wait_for(state="visible", timeout=20_000)
            choice.click()
            break
        except playwright.TimeoutError:
            page.keyboard.press("Escape")
    else:
        raise AssertionError(f"the {label!r} list never offered {option!r}")
    wait_idle(page)


def open_customer_with_two_methods(page, shots) -> None:
    open_page(page, "Customer")
    pick(page, "Run", re.compile("SASRec"))
    no_exception(page)
    shot(page, shots, "05-customer")
    for method in ("Attention weights", "Integrated Gradients (Captum)"):
        pick(page, "Method", method)
        page.get_by_test_id("stPlotlyChart").first.wait_for()
        no_exception(page)
        shot(page, shots, f"05-customer-{method.split()[0].lower()}")


def check_segment_download(page, shots) -> None:
    open_page(page, "Segments")
    page.get_by_role("button", name="Build segment").click()
    wait_idle(page)
    no_exception(page)
    shot(page, shots, "07-segments")
    pick(page, "Format", re.compile("Customer Match", re.I))
    prepare = page.get_by_role("button", name=re.compile("^Export|^Prepare the export", re.I))
    if prepare.count():
        prepare.first.click()
        wait_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"Download .*\.csv")).first.click()
    data = pathlib.Path(download.value.path()).read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[0] == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert len(rows) > 100
    assert all(re.fullmatch(r"[0-9a-f]{64}", row[0]) for row in rows[1:]), "emails are SHA-256 hex"
    no_exception(page)
