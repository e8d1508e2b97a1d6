"""The Spark engine: the same import, validation, ALS, evaluation and exports on a Spark cluster.

A dataset's ``engine`` (``local`` by default, or ``spark``) says where its heavy work runs. This
package imports without pyspark; its modules that need Spark raise :class:`SparkUnavailable`
with the install hint when imported without it.

Modules, one job each:

``settings``  where the cluster is and the session settings that matter (master / Spark Connect)
``session``   the SparkSession factory (and the Java check)
``ingest``    read Parquet/CSV paths, map columns to roles, validate into canonical events
``profile``   the data profile as small pandas tables
``importer``  record a Spark dataset in the workspace (engine="spark")
``indexing``  contiguous user/item indices, built on the cluster
``split``     leave-last-out on the cluster
``als``       implicit ALS on Spark ML with the local ALS's hyper-parameters
``scoring``   top-K by factor dot products on the executors (float32, as locally)
``metrics``   NDCG/Recall/... per user and averaged, in Spark SQL
``runs``      train + evaluate + save the factors as an ordinary ``als`` run
``exports``   per-customer lists and segments written to cluster storage with a manifest
"""

from recsys.spark.errors import SparkDataError, SparkUnavailable
from recsys.spark.settings import ENGINES, SparkSettings, check_engine

__all__ = ["ENGINES", "SparkDataError", "SparkSettings", "SparkUnavailable", "check_engine"]
