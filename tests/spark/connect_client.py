"""Import, ALS training, lists and a segment over a Spark Connect address, in a process of its own.

Spark Connect mode is process-wide in PySpark (``pyspark.sql.functions`` switches to the
Connect client once a remote session exists), so ``test_connect.py`` runs this script in a
subprocess next to the tests' classic local[2] session:

    python -m tests.spark.connect_client sc://127.0.0.1:15002 WORKDIR

It writes ``WORKDIR/result.json``: the run id, the session class, the lists and segment paths.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.spark.planted import planted_events, planted_items

PARAMS = {"factors": 16, "iterations": 8, "regularization": 0.1, "alpha": 1.0, "weighting": "log"}
SHAPE = {"n_users": 300, "n_items": 120}  # smaller than the local[2] tests': a Connect round trip per job


def main(address: str, workdir: str) -> int:
    from recsys.spark.exports import spark_lists, write_export
    from recsys.spark.importer import import_spark_dataset
    from recsys.spark.runs import train_spark_run
    from recsys.spark.segments import spark_segment
    from recsys.spark.session import get_session
    from recsys.spark.settings import SparkSettings
    from recsys.workspace import Workspace

    folder = Path(workdir)
    planted_events(**SHAPE).to_csv(folder / "events.csv", index=False)
    planted_items(SHAPE["n_items"]).to_csv(folder / "items.csv", index=False)
    settings = SparkSettings(master=address, shuffle_partitions=4, als_blocks=2)
    spark = get_session(settings)
    ws = Workspace(folder / "workspace")
    import_spark_dataset(ws, "planted", [str(folder / "events.csv")], items=[str(folder / "items.csv")],
                         out=str(folder / "cluster" / "planted"), settings=settings)
    record = train_spark_run(ws, "planted", PARAMS, settings=settings)
    write_export(spark, spark_lists(spark, ws, record["id"], n=5), str(folder / "lists"), "parquet",
                 kind="lists", workspace=ws, run_id=record["id"])
    members, _ = spark_segment(spark, ws, record["id"], category="Group0", affinity="max", size=30,
                               min_events=5, exclude_buyers=True)
    write_export(spark, members, str(folder / "segment"), "parquet", kind="segment", workspace=ws,
                 run_id=record["id"], rule={"target": "category=Group0", "size": 60})
    result = {"run_id": record["id"], "session": type(spark).__module__, "workspace": str(ws.root),
              "lists": str(folder / "lists"), "segment": str(folder / "segment")}
    (folder / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
