"""Train implicit ALS on Spark, evaluate it on the cluster, and store it as an ordinary ``als`` run.

The stored run is what ``recsys.runs.train_run`` writes for a local ALS (model folder with the
factors and training history, id maps, per-user metrics, record), so ``load_run`` returns an
``ALS`` model and the Customer, Fairness and Segments pages use it unchanged. The record adds
``engine: "spark"`` and the Spark settings under ``spark``.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.spark._deps import F
from recsys.spark.collect import to_pandas
from recsys.spark.als import ALSParams, SparkFactors, fit_als, summed_weights
from recsys.spark.errors import SparkDataError
from recsys.spark.importer import dataset_events
from recsys.spark.indexing import IdMaps, build_id_maps, index_events
from recsys.spark.metrics import per_user_metrics, summarize
from recsys.spark.scoring import factors_frame, top_k, with_exclusions
from recsys.spark.session import get_session
from recsys.spark.settings import SparkSettings
from recsys.spark.split import PROTOCOL, leave_last_out

KIND = "runs"
DEFAULT_KS = (10, 20)


@dataclass
class SparkTraining:
    """Everything one Spark training produced (before or without saving)."""

    factors: SparkFactors
    maps: IdMaps
    history: sp.csr_matrix
    metrics: dict
    per_user: pd.DataFrame
    split_params: dict
    fit_seconds: float
    eval_seconds: float
    n_fit_events: int


def train_on_spark(spark: Any, events: Any, params: ALSParams, *, catalogs: Mapping[str, pd.DataFrame] | None = None,
                   event_weights: Mapping[str, float] | None = None, settings: SparkSettings | None = None,
                   min_events: int = 2, ks: tuple[int, ...] = DEFAULT_KS, seed: int = 0,
                   split: bool = True) -> SparkTraining:
    """Index, split (leave-last-out), fit ALS on the train part and evaluate on the held-out items."""
    started = time.perf_counter()
    maps = build_id_maps(events, dict(catalogs or {}))
    indexed = index_events(events, maps)
    parts = leave_last_out(indexed, min_events=min_events) if split else None
    train = parts.train if parts is not None else indexed
    cells = summed_weights(train, event_weights).persist()
    factors = fit_als(cells, maps.n_users, maps.n_items, params, settings=settings, seed=seed)
    history = _history(cells, maps)
    n_fit_events = parts.params["n_train_events"] if parts is not None else int(train.count())
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    metrics, per_user = {}, pd.DataFrame()
    if parts is not None:
        test_users = parts.test.select("user_idx").distinct()
        users = test_users.join(factors_frame(spark, factors.user_factors), "user_idx")
        lists = top_k(with_exclusions(users, cells.select("user_idx", "item_idx")), factors.item_factors,
                      max(ks)).persist()
        per_user_frame = per_user_metrics(lists, parts.test, ks).persist()
        metrics = summarize(per_user_frame)
        covered = lists.agg(*(F.countDistinct(F.when(F.col("rank") <= k, F.col("item_idx"))).alias(str(k))
                              for k in ks)).first()
        metrics.update({f"coverage@{k}": int(covered[str(k)]) / max(maps.n_items, 1) for k in ks})
        per_user = to_pandas(per_user_frame).sort_values("user_idx").reset_index(drop=True)
        per_user_frame.unpersist()
        lists.unpersist()
        parts.unpersist()
    cells.unpersist()
    return SparkTraining(factors, maps, history, metrics, per_user, parts.params if parts else {},
                         fit_seconds, time.perf_counter() - started, n_fit_events)


def train_spark_run(workspace: Any, dataset: str, params: ALSParams | Mapping | None = None, *,
                    settings: SparkSettings | None = None, min_events: int = 2, k: int = 10, seed: int = 0,
                    split: str = PROTOCOL) -> dict:
    """Train on workspace dataset ``dataset`` with Spark and store the run; returns the stored record."""
    from recsys.models.registry import get_spec
    from recsys.runs import RunRecord, software_versions

    if split not in (PROTOCOL, "none"):
        raise SparkDataError(f"the Spark engine splits by {PROTOCOL} or none, not {split!r}")
    params = params if isinstance(params, ALSParams) else ALSParams(**dict(params or {}))
    settings = settings or SparkSettings.from_env()
    spark = get_session(settings)
    info = workspace.dataset_info(dataset)
    events = dataset_events(spark, info)
    catalogs = {t: workspace.load_table(dataset, t) for t in ("items", "users") if t in info.columns}
    weights = info.metadata.get("event_weights")
    ks = tuple(sorted({10, 20, int(k)}))
    result = train_on_spark(spark, events, params, catalogs=catalogs,
                            event_weights=weights if isinstance(weights, dict) else None, settings=settings,
                            min_events=min_events, ks=ks, seed=seed, split=split == PROTOCOL)
    run_id = workspace.new_id(KIND)
    run_dir = workspace.artifact_dir(KIND, run_id)
    try:
        save_model(run_dir, result)
        spark_info = {**settings.describe(), "spark_version": spark.version, "als": result.factors.spark_params}
        record = RunRecord(
            id=run_id, dataset=info.name, dataset_fingerprint=info.fingerprint, model_key="als",
            display_name="ALS (Spark)", family=get_spec("als").family, params=params.to_dict(),
            split={"protocol": split, "args": {"with_valid": False, "min_events": int(min_events)}
                   if split == PROTOCOL else {}, "params": result.split_params},
            metrics=result.metrics, device="spark", device_description=f"Spark {spark.version} ({spark_info['master']})",
            fit_seconds=result.fit_seconds, eval_seconds=result.eval_seconds,
            created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), seed=int(seed), k=int(k),
            n_users=result.maps.n_users, n_items=result.maps.n_items, n_fit_events=result.n_fit_events,
            software={**software_versions(), "pyspark": spark.version})
        stored = record.to_dict() | {"engine": "spark", "spark": spark_info}
        workspace.put_record(KIND, run_id, stored)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return workspace.get_record(KIND, run_id)


def save_model(run_dir: Path, result: SparkTraining) -> None:
    """The run folder as ``recsys.runs`` writes it: model/, id maps, per-user metrics."""
    from recsys.data.dataset import IdMap
    from recsys.models.als import ALS
    from recsys.runs import ITEM_IDS_FILE, MODEL_DIR, PER_USER_FILE, USER_IDS_FILE, _write_ids, _write_parquet
    from recsys.storage.atomic import atomic_dir

    model = ALS(**result.factors.params.to_dict())
    model.n_users_, model.n_items_ = result.maps.n_users, result.maps.n_items
    model.history_ = result.history
    model.user_factors_ = result.factors.user_factors
    model.item_factors_ = result.factors.item_factors
    model.loss_history_ = np.zeros(0, np.float64)  # Spark ML does not report the objective
    with atomic_dir(run_dir / MODEL_DIR) as tmp:
        model.save(tmp)
    _write_ids(run_dir / USER_IDS_FILE, "user_id", IdMap(result.maps.user_ids))
    _write_ids(run_dir / ITEM_IDS_FILE, "item_id", IdMap(result.maps.item_ids))
    if len(result.per_user):
        per_user = result.per_user.copy()
        per_user.insert(0, "user_id", result.maps.user_ids[per_user["user_idx"].to_numpy(np.int64)].astype(str))
        _write_parquet(run_dir / PER_USER_FILE, per_user)


def _history(cells: Any, maps: IdMaps) -> sp.csr_matrix:
    """The train matrix of summed event weights (``Dataset.matrix()``), collected to the driver."""
    frame = to_pandas(cells)
    m = sp.csr_matrix((frame["weight"].to_numpy(np.float32),
                       (frame["user_idx"].to_numpy(np.int64), frame["item_idx"].to_numpy(np.int64))),
                      shape=(maps.n_users, maps.n_items), dtype=np.float32)
    m.sum_duplicates()
    return m
