"""Bringing a small Spark result to the driver as pandas, the same over Spark Connect."""

from __future__ import annotations

import pandas as pd

from recsys.spark._deps import DataFrame


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """``frame`` as a pandas DataFrame with empty ``attrs``.

    A Spark Connect client puts its query's plan metrics in ``attrs``; pandas writes ``attrs``
    into Parquet metadata as JSON, which those objects are not.
    """
    result = frame.toPandas()
    result.attrs.clear()
    return result
