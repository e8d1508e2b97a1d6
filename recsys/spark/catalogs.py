"""Item and customer catalogs: small tables, read on the cluster and checked by the local validation."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd

from recsys.data.checks import check_table
from recsys.spark._deps import SparkSession
from recsys.spark.collect import to_pandas
from recsys.spark.errors import SparkDataError
from recsys.spark.ingest import read_source

# A catalog above this many rows does not belong on the driver; join it on the cluster instead.
MAX_CATALOG_ROWS = 5_000_000


def read_catalog(spark: SparkSession, table: str, paths: Sequence[str], *, mapping: Any = None,
                 fmt: str | None = None, delimiter: str | None = None) -> tuple[pd.DataFrame, list]:
    """The canonical ``items`` or ``users`` table and the local validation's issues about it."""
    raw = read_source(spark, paths, fmt=fmt, delimiter=delimiter)
    n = raw.count()
    if n > MAX_CATALOG_ROWS:
        raise SparkDataError(f"{', '.join(paths)}: the {table} table has {n:,} rows, more than the "
                             f"{MAX_CATALOG_ROWS:,} brought to the driver")
    frame = to_pandas(raw.select(*(raw[f"`{c}`"].cast("string").alias(c) for c in raw.columns)))
    issues: list = []
    check, canon, _ = check_table(table, frame.astype("string"), mapping, ", ".join(paths), issues, 1.0,
                                  pd.Timestamp.now(tz="UTC").tz_localize(None))
    errors = [i for i in issues if i.severity == "error"]
    if errors or canon is None:
        first = errors[0].message if errors else "no rows"
        raise SparkDataError(f"{', '.join(paths)} ({table}): {first}")
    kept = canon.loc[~check.dropped_mask].reset_index(drop=True)
    return kept, issues
