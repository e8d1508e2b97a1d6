"""Spark tests: skipped cleanly without pyspark or Java 17; one local[2] session for the whole run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark", reason="pyspark not installed (pip install -r requirements-spark.txt)")
    from recsys.spark.session import get_session, java_version
    from recsys.spark.settings import SparkSettings

    version = java_version()
    if version is None or version < 17:
        pytest.skip(f"the Spark tests need Java 17 (found {version or 'none'})")
    session = get_session(SparkSettings(master="local[2]", shuffle_partitions=4, als_blocks=2))
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_settings():
    from recsys.spark.settings import SparkSettings

    return SparkSettings(master="local[2]", shuffle_partitions=4, als_blocks=2)
