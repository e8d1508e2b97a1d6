"""pyspark imports in one place, so a missing install fails with one clear message."""

from __future__ import annotations

from recsys.spark.errors import SparkUnavailable

try:
    import pyspark  # noqa: F401
    import pyspark.sql.functions as F  # noqa: N812
    import pyspark.sql.types as T  # noqa: N812
    from pyspark.sql import DataFrame, SparkSession, Window
except ImportError as exc:  # pragma: no cover - exercised only without pyspark
    raise SparkUnavailable() from exc

__all__ = ["DataFrame", "F", "SparkSession", "T", "Window"]
