"""The SparkSession factory: a local JVM, a cluster master, or Spark Connect."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from recsys.spark._deps import SparkSession
from recsys.spark.errors import SparkUnavailable
from recsys.spark.settings import SparkSettings


def java_version() -> int | None:
    """Major version of the ``java`` on PATH (or ``$JAVA_HOME``), None when there is none."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in out.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and ("." in token or head == token) and int(head) >= 1:
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    return None


def get_session(settings: SparkSettings | None = None) -> SparkSession:
    """A SparkSession for ``settings`` (default: from the environment), reused if one is running.

    Local masters bind to 127.0.0.1 with the UI off; Spark Connect addresses need no Java here.
    """
    settings = settings or SparkSettings.from_env()
    builder = SparkSession.builder.appName(settings.app_name)
    if settings.is_connect:
        builder = builder.remote(settings.master)
    else:
        version = java_version()
        if version is None:
            raise SparkUnavailable("no Java runtime found (java on PATH or $JAVA_HOME): the Spark engine needs "
                                   "Java 17 (Debian: apt-get install -y openjdk-17-jre-headless)")
        if version < 17:
            raise SparkUnavailable(f"Java {version} found; Spark 4 needs Java 17 or newer")
        builder = builder.master(settings.master)
        if settings.is_local:
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            _local_python_workers()
            builder = (builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                       .config("spark.driver.host", "127.0.0.1")
                       .config("spark.driver.bindAddress", "127.0.0.1"))
        if settings.driver_memory:
            builder = builder.config("spark.driver.memory", settings.driver_memory)
    conf = {"spark.sql.session.timeZone": "UTC", "spark.sql.execution.arrow.pyspark.enabled": "true",
            **({"spark.sql.shuffle.partitions": str(settings.partitions)} if settings.partitions else {}),
            **{str(k): str(v) for k, v in settings.conf.items()}}
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if not settings.is_connect:
        spark.sparkContext.setLogLevel("ERROR")
    for key, value in conf.items():  # a reused session keeps its old runtime settings otherwise
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    return spark


def _local_python_workers() -> None:
    """Local masters: Python workers run this interpreter and can import ``recsys``.

    On a cluster, install the project on the executors (or ship it with ``spark.submit.pyFiles``).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])
