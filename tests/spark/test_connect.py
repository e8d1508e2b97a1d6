"""The Spark engine over Spark Connect: a real Connect server (local[2]) and an ``sc://`` client.

The server is PySpark's own ``SparkConnectServer`` started with ``spark-submit`` on a free
loopback port, with this checkout on its Python workers' path (as a cluster's executors need
``recsys`` installed). The client runs in a subprocess (``connect_client.py``): Connect mode
is process-wide in PySpark and this process holds the classic local[2] session of the other
tests. The checks then read what the client left in its workspace with the local engine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark
ROOT = Path(__file__).resolve().parents[2]
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def connect_address(tmp_path_factory):
    """``sc://127.0.0.1:PORT`` of a Spark Connect server this fixture starts and stops."""
    pyspark = pytest.importorskip("pyspark", reason="pyspark not installed (pip install -r requirements-spark.txt)")
    for module in ("grpc", "grpc_status", "zstandard"):
        pytest.importorskip(module, reason="Spark Connect client not installed (pip install -r requirements-spark.txt)")
    from recsys.spark.session import java_version

    version = java_version()
    if version is None or version < 17:
        pytest.skip(f"the Spark tests need Java 17 (found {version or 'none'})")
    port = _free_port()
    log = tmp_path_factory.mktemp("connect-server") / "server.log"
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    command = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--class", SERVER_CLASS,
               "--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}",
               "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", "spark.ui.enabled=false",
               "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1"]
    with open(log, "wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 240
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                pytest.fail(f"the Spark Connect server did not start on port {port}:\n{tail}")
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def connect_result(connect_address, tmp_path_factory):
    """What ``connect_client.py`` produced over ``connect_address``."""
    workdir = tmp_path_factory.mktemp("connect-client")
    proc = subprocess.run([sys.executable, "-m", "tests.spark.connect_client", connect_address, str(workdir)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((workdir / "result.json").read_text())


def test_connect_runs_import_train_lists_and_segment(connect_result):
    from recsys.evaluation.evaluate import evaluate_model
    from recsys.models.als import ALS
    from recsys.runs import load_run
    from recsys.segments.audience import build_audience
    from recsys.segments.lists import ListOptions, customer_lists
    from recsys.segments.rules import SegmentRule, Target
    from recsys.workspace import Workspace
    from tests.spark.connect_client import SHAPE
    from tests.spark.planted import planted_events

    assert connect_result["session"].startswith("pyspark.sql.connect")  # really a Connect client
    ws = Workspace(connect_result["workspace"])
    info = ws.dataset_info("planted")
    assert info.engine == "spark" and info.metadata["spark"]["master"].startswith("sc://127.0.0.1:")
    assert len(ws.load_table("planted", "interactions")) == len(planted_events(**SHAPE))

    loaded = load_run(ws, connect_result["run_id"], with_split=True)
    assert isinstance(loaded.model, ALS) and loaded.notes == ()
    # the distributed evaluation over Connect equals the local evaluation of the same factors
    metrics = evaluate_model(loaded.model, loaded.split, ks=(10,)).summary
    assert metrics["ndcg@10"] > 0.2  # the planted groups are learnt (random lists: about 0.02)
    for name in ("ndcg@10", "recall@10", "mrr@10"):
        assert loaded.record.metrics[name] == pytest.approx(metrics[name], rel=1e-12, abs=1e-12), name

    plain = load_run(ws, connect_result["run_id"])
    want = customer_lists(plain.model, plain.data, ListOptions(n=5)).frame.sort_values(["user_id", "rank"])
    got = pd.read_parquet(connect_result["lists"]).sort_values(["user_id", "rank"])
    assert got["item_id"].astype(str).tolist() == want["item_id"].astype(str).tolist()
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-6)

    rule = SegmentRule(name="g0", run_id=connect_result["run_id"], target=Target.parse("category=Group0"),
                       affinity="max", size=30, min_events=5, exclude_buyers=True, min_size=1)
    local = build_audience(rule, plain.model, plain.data).members
    segment = pd.read_parquet(connect_result["segment"]).sort_values("rank")
    assert segment["user_id"].astype(str).tolist() == local["user_id"].tolist()
