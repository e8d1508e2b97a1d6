"""Contiguous user and item indices in the local engine's order.

Locally, ``Dataset.from_tables`` numbers ids in order of first appearance in the interactions
table, then catalog ids without events in catalog order. The same order here keeps a Spark
run's id maps equal to the ones ``recsys.runs.load_run`` rebuilds from the same data, so the
run's split and pages line up without re-indexing. The first appearances are found on the
cluster; the ordered id lists come to the driver, which stores them with the run anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.spark._deps import DataFrame, F
from recsys.spark.collect import to_pandas
from recsys.spark.ingest import ROW


@dataclass
class IdMaps:
    """Spark tables ``users`` (user_id, user_idx) and ``items`` (item_id, item_idx), and their raw ids in order."""

    users: DataFrame
    items: DataFrame
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def ordered_ids(events: DataFrame, key: str) -> np.ndarray:
    """Distinct ``key`` values by first appearance (``row`` order)."""
    first = events.groupBy(key).agg(F.min(ROW).alias("_first")).orderBy("_first", key)
    return to_pandas(first.select(key))[key].astype(str).to_numpy(dtype=object)


def build_id_maps(events: DataFrame, catalogs: dict[str, pd.DataFrame] | None = None) -> IdMaps:
    """Index users and items by first appearance, then catalog-only ids (catalog order)."""
    catalogs = catalogs or {}
    spark = events.sparkSession
    maps = {}
    for key, table in (("user_id", "users"), ("item_id", "items")):
        ids = ordered_ids(events, key)
        catalog = catalogs.get(table)
        if catalog is not None and key in catalog:
            extra = pd.unique(catalog[key].astype(str).to_numpy(dtype=object))
            ids = np.concatenate([ids, extra[~pd.Index(extra).isin(pd.Index(ids))]])
        index = key.replace("_id", "_idx")
        frame = pd.DataFrame({key: ids.astype(str), index: np.arange(len(ids), dtype=np.int64)})
        maps[table] = (spark.createDataFrame(frame, schema=f"{key} string, {index} long"), ids)
    return IdMaps(maps["users"][0], maps["items"][0], maps["users"][1], maps["items"][1])


def index_events(events: DataFrame, maps: IdMaps) -> DataFrame:
    """``events`` with ``user_idx`` and ``item_idx`` (every event's ids are in the maps)."""
    return events.join(maps.users, "user_id").join(maps.items, "item_id")
