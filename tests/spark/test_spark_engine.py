"""The Spark engine against the local engine on the same data (local[2]; marked ``spark``).

Tolerance: Spark ML's ALS and the local ALS optimise the same objective (same confidence,
weighting and per-row penalty) from different initialisations with different solvers (exact
per sweep vs conjugate gradient), so their NDCG@10 on the same leave-last-out split may
differ a little: the test allows ``NDCG_TOLERANCE`` = 0.03 absolute (observed: 0.0002).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.spark.planted import planted_events, planted_items, planted_users

pytestmark = pytest.mark.spark

NDCG_TOLERANCE = 0.03
PARAMS = {"factors": 16, "iterations": 8, "regularization": 0.1, "alpha": 1.0, "weighting": "log"}


@pytest.fixture(scope="module")
def trained(spark, spark_settings, tmp_path_factory):
    """A planted dataset imported through Spark and an ALS run trained on Spark."""
    from recsys.spark.importer import import_spark_dataset
    from recsys.spark.runs import train_spark_run
    from recsys.workspace import Workspace

    folder = tmp_path_factory.mktemp("spark-data")
    planted_events().to_csv(folder / "events.csv", index=False)
    planted_items().to_csv(folder / "items.csv", index=False)
    planted_users().to_csv(folder / "users.csv", index=False)
    ws = Workspace(folder / "workspace")
    info, report = import_spark_dataset(ws, "planted", [str(folder / "events.csv")], items=[str(folder / "items.csv")],
                                        users=[str(folder / "users.csv")], settings=spark_settings)
    record = train_spark_run(ws, "planted", PARAMS, settings=spark_settings)
    return ws, info, report, record


def test_import_records_a_spark_dataset(trained):
    from recsys.workspace import Workspace

    ws, info, report, _ = trained
    assert info.engine == "spark" and Workspace(ws.root).dataset_info("planted").engine == "spark"
    assert info.metadata["spark"]["local_copy"] is True
    local = ws.load_table("planted", "interactions")
    source = planted_events()
    assert len(local) == len(source) == report.stats["n_rows_kept"]
    assert local["user_id"].tolist() == source["customer_id"].tolist()  # source order kept
    stats = ws.load_table("planted", "profile_stats").set_index("stat")["value"]
    assert stats["events"] == len(source) and stats["users"] == source["customer_id"].nunique()
    per_user = ws.load_table("planted", "profile_events_per_user")
    assert per_user["users"].sum() == source["customer_id"].nunique()
    assert per_user["events"].sum() == len(source)


def test_spark_run_loads_as_an_als_run_with_the_same_split(trained):
    from recsys.evaluation.evaluate import evaluate_model
    from recsys.models.als import ALS
    from recsys.runs import list_runs, load_run

    ws, _, _, record = trained
    assert record["engine"] == "spark" and record["model_key"] == "als"
    loaded = load_run(ws, record["id"], with_split=True)
    assert isinstance(loaded.model, ALS) and loaded.notes == ()
    assert loaded.split.params["n_test_users"] == record["split"]["params"]["n_test_users"]
    # the local evaluation of the Spark factors on the locally rebuilt split gives the Spark figures
    local = evaluate_model(loaded.model, loaded.split, ks=(10, 20)).summary
    for metric in ("ndcg@10", "recall@10", "precision@10", "map@10", "mrr@10", "hit@10", "ndcg@20", "coverage@10"):
        assert record["metrics"][metric] == pytest.approx(local[metric], rel=1e-12, abs=1e-12), metric
    listed = list_runs(ws).set_index("run_id")
    assert record["id"] in listed.index and listed.loc[record["id"], "engine"] == "spark"


def test_spark_als_matches_local_als_on_the_same_split(trained):
    from recsys.evaluation.evaluate import evaluate_model
    from recsys.models.als import ALS
    from recsys.runs import load_run
    from recsys.training.options import FitOptions

    ws, _, _, record = trained
    loaded = load_run(ws, record["id"], with_split=True)
    local = ALS(**PARAMS).fit(loaded.split.fit_data(), options=FitOptions(device="cpu", seed=0))
    local_ndcg = evaluate_model(local, loaded.split, ks=(10,)).summary["ndcg@10"]
    spark_ndcg = record["metrics"]["ndcg@10"]
    assert spark_ndcg > 0.2  # the planted groups are learnt (random lists: about 0.02)
    assert abs(spark_ndcg - local_ndcg) <= NDCG_TOLERANCE, (spark_ndcg, local_ndcg)
    # same history (summed event weights of the train part) as the local model would keep
    assert (abs(loaded.model.history_ - loaded.split.fit_data().matrix()) > 1e-5).nnz == 0


def test_spark_lists_equal_local_lists(trained, spark, tmp_path):
    import json

    from recsys.runs import load_run
    from recsys.segments.lists import ListOptions, customer_lists
    from recsys.spark.exports import manifest_digest, spark_lists, write_export

    ws, _, _, record = trained
    loaded = load_run(ws, record["id"])
    local = customer_lists(loaded.model, loaded.data, ListOptions(n=5)).frame
    frame = spark_lists(spark, ws, record["id"], n=5)
    out = tmp_path / "lists"
    manifest = write_export(spark, frame, str(out), "parquet", kind="lists", workspace=ws, run_id=record["id"])
    got = pd.read_parquet(out).sort_values(["user_id", "rank"]).reset_index(drop=True)
    want = local.sort_values(["user_id", "rank"]).reset_index(drop=True)
    columns = ["user_id", "item_id", "title", "category"]
    assert got[columns].astype(str).values.tolist() == want[columns].astype(str).values.tolist()
    assert got["rank"].astype(int).tolist() == want["rank"].astype(int).tolist()
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-6)
    assert manifest.row_count == len(want) and manifest.run_id == record["id"]
    written = json.loads((tmp_path / "lists.manifest.json").read_text())
    assert written["file_sha256"] == manifest_digest(written["settings"]["parts"])


def test_spark_segment_equals_local_segment(trained, spark, tmp_path):
    from recsys.runs import load_run
    from recsys.segments.audience import build_audience
    from recsys.segments.rules import SegmentRule, Target
    from recsys.spark.exports import write_export
    from recsys.spark.segments import spark_segment

    ws, _, _, record = trained
    loaded = load_run(ws, record["id"])
    rule = SegmentRule(name="g0", run_id=record["id"], target=Target.parse("category=Group0"), affinity="max",
                       size=60, min_events=5, exclude_buyers=True, min_size=1)
    local = build_audience(rule, loaded.model, loaded.data).members
    members, counts = spark_segment(spark, ws, record["id"], category="Group0", affinity="max", size=60,
                                    min_events=5, exclude_buyers=True)
    write_export(spark, members, str(tmp_path / "segment.csv"), "csv", kind="segment", workspace=ws,
                 run_id=record["id"], rule={"target": "category=Group0", "size": 60})
    got = pd.concat([pd.read_csv(part, dtype={"user_id": str}) for part in (tmp_path / "segment.csv").glob("part-*")])
    got = got.sort_values("rank").reset_index(drop=True)
    assert got["user_id"].tolist() == local["user_id"].tolist()
    assert got["rank"].tolist() == local["rank"].tolist()
    np.testing.assert_allclose(got["affinity"], local["affinity"], rtol=1e-6)
    assert counts["n_target_items"] == 40


SEGMENT_RULES = [
    dict(target="category=Group1", affinity="rank", threshold=12.0, customer_query="country = Japan"),
    dict(target="category = Group2 and price_tier = premium", affinity="mean", size=40,
         customer_query="age >= 40 and loyalty_tier in (gold, silver)", active_days=0.5, min_events=3),
    dict(target="items=P0003,P0009,P0100", affinity="max", threshold=0.05, exclude_buyers=False,
         active_days=0.3),
    dict(target="category=Group4", affinity="rank", size=50, buyer_events=("purchase", "add_to_cart")),
]


@pytest.mark.parametrize("spec", range(len(SEGMENT_RULES)))
def test_spark_segment_rules_equal_local_rules(trained, spark, spec):
    """Rank and mean/max affinity, thresholds, customer and item attribute queries, recency, buyers."""
    from recsys.runs import load_run
    from recsys.segments.audience import build_audience
    from recsys.segments.rules import SegmentRule, Target
    from recsys.spark.segments import spark_audience

    ws, _, _, record = trained
    options = dict(SEGMENT_RULES[spec])
    rule = SegmentRule(name=f"rule{spec}", run_id=record["id"], target=Target.parse(options.pop("target")),
                       min_size=1, **options)
    loaded = load_run(ws, record["id"])
    local = build_audience(rule, loaded.model, loaded.data)
    members, counts = spark_audience(spark, ws, rule)
    got = members.toPandas()
    assert 5 <= len(local.members) < local.stats["n_customers"], "the rule should select some, not all"
    assert got["user_id"].tolist() == local.members["user_id"].tolist()
    assert got["rank"].tolist() == local.members["rank"].tolist()
    np.testing.assert_allclose(got["affinity"], local.members["affinity"], rtol=1e-6)
    assert counts["n_target_items"] == local.stats["n_target_items"]
    if rule.customer_query:
        assert counts["n_after_attributes"] == local.stats["n_after_attributes"]


def test_spark_segment_names_bad_rules_in_one_line(trained, spark):
    from recsys.spark.errors import SparkDataError
    from recsys.spark.segments import spark_segment

    ws, _, _, record = trained
    with pytest.raises(SparkDataError, match="unknown attribute 'planet'"):
        spark_segment(spark, ws, record["id"], target="category=Group1", size=5, customer_query="planet = Mars")
    with pytest.raises(SparkDataError, match="no catalog item matches"):
        spark_segment(spark, ws, record["id"], target="category=Nothing", size=5)
    with pytest.raises(SparkDataError, match="unknown target item"):
        spark_segment(spark, ws, record["id"], target="items=P9999", size=5)


def test_distributed_metrics_equal_local_definitions(spark):
    from recsys.evaluation.metrics import hits_matrix, n_relevant, ranking_metrics
    from recsys.spark.metrics import per_user_metrics, summarize

    rng = np.random.default_rng(3)
    n_users, n_items, width = 80, 50, 12
    ranked = np.array([rng.permutation(n_items)[:width] for _ in range(n_users)])
    ranked[::7, 8:] = -1  # short lists: the missing slots are misses
    relevant = [rng.choice(n_items, int(rng.integers(1, 15)), replace=False) for _ in range(n_users)]
    relevant[5] = np.concatenate([relevant[5], relevant[5][:1]])  # a repeated relevant item counts once
    want = ranking_metrics(hits_matrix(ranked, relevant), n_relevant(relevant), ks=(5, 10, 20))
    rows = [(u, r + 1, int(i)) for u in range(n_users) for r, i in enumerate(ranked[u]) if i >= 0]
    top = spark.createDataFrame(pd.DataFrame(rows, columns=["user_idx", "rank", "item_idx"]))
    rel = spark.createDataFrame(pd.DataFrame([(u, int(i)) for u in range(n_users) for i in relevant[u]],
                                             columns=["user_idx", "item_idx"]))
    frame = per_user_metrics(top, rel, ks=(5, 10, 20))
    got = frame.toPandas().sort_values("user_idx").reset_index(drop=True)
    for name, values in want.items():
        np.testing.assert_allclose(got[name].to_numpy(), values, rtol=1e-12, atol=1e-15, err_msg=name)
    means = summarize(frame)
    assert means["n_users"] == n_users
    for name, values in want.items():
        assert means[name] == pytest.approx(float(np.mean(values)), rel=1e-12)


def test_spark_validation_counts_equal_local_validation(spark, tmp_path):
    from recsys.data.validation import load_and_validate
    from recsys.spark.importer import validate_source

    rng = np.random.default_rng(7)
    good = pd.DataFrame({"user": [f"U{rng.integers(40)}" for _ in range(300)],
                         "item": [f"I{rng.integers(30)}" for _ in range(300)],
                         "time": pd.date_range("2024-02-01", periods=300, freq="17min").strftime("%Y-%m-%d %H:%M:%S"),
                         "event_type": rng.choice(["view", "Purchase", "click "], 300)})
    bad = pd.DataFrame({"user": ["", "", "U1", "U2", "", "U3", "U4", "U5", "U6", "U7", "U8", "", "", "U9", "U10",
                                 "U11", "U12", "U13"],
                        "item": ["", "", "", "", "I1", "I2", "I3", "I4", "I5", "I6", "I7", "", "I8", "I999",
                                 "I999", "I999", "I998", "I1"],
                        "time": ["", "", "2024-03-01", "2024-03-01", "2024-03-01", "not a date", "32/13/2024",
                                 "yesterday", "", "2024-13-45", "", "", "2024-03-02", "2024-03-03 10:00:00",
                                 "2024-03-03", "2024-03-04", "2024-03-04", "2024-03-05"],
                        "event_type": ["", "", "view", "view", "view", "view", "view", "view", "view", "view", "view",
                                       "", "view", "view", "view", "view", "view", "purchase"]})
    source = pd.concat([good.iloc[:150], bad, good.iloc[150:], good.iloc[[3, 10, 10]]], ignore_index=True)
    events, items = tmp_path / "events.csv", tmp_path / "items.csv"
    source.to_csv(events, index=False)
    pd.DataFrame({"item_id": [f"I{i}" for i in range(30)], "category": "x"}).to_csv(items, index=False)
    local = load_and_validate({"interactions": str(events), "items": str(items)})
    report = validate_source(spark, [str(events)], items=[str(items)])
    local_dropped = local.dropped["interactions"]["reason"].value_counts().to_dict()
    assert report.stats["dropped"] == local_dropped
    assert report.stats["n_rows_read"] == len(source)
    local_stats = local.stats["interactions"]
    for key in ("n_users", "n_items", "n_duplicate_rows"):
        assert report.stats[key] == local_stats[key], key
    assert report.stats["event_types"] == local_stats["event_types"]
    codes = {i.code: i.count for i in local.issues if i.table == "interactions"}
    spark_codes = dict(zip(report.checks["code"], report.checks["count"]))
    for code in ("empty_rows", "bad_timestamps", "missing_timestamps", "duplicate_rows", "unknown_items",
                 "single_event_users", "single_event_items"):
        assert spark_codes.get(code) == codes.get(code), code
    assert report.ok == local.ok


def test_bad_paths_and_mappings_get_one_line_reasons(spark, tmp_path):
    from recsys.spark.errors import SparkDataError
    from recsys.spark.importer import validate_source

    with pytest.raises(SparkDataError, match="cannot read .*missing.parquet"):
        validate_source(spark, [str(tmp_path / "missing.parquet")])
    path = tmp_path / "odd.csv"
    pd.DataFrame({"who": ["a"], "what": ["b"]}).to_csv(path, index=False)
    with pytest.raises(SparkDataError, match="no column for user_id and item_id among who, what"):
        validate_source(spark, [str(path)])
    with pytest.raises(SparkDataError, match="uses column 'nope' for item_id"):
        validate_source(spark, [str(path)], mapping={"interactions": {"user_id": "who", "item_id": "nope"}})


def test_cli_exports_lists_and_reports_bad_input_in_one_line(trained, spark, tmp_path, capsys):
    from recsys.cli import main

    ws, _, _, record = trained
    common = ["--master", "local[2]", "--workspace", str(ws.root)]
    assert main(["spark", "lists", "--run", record["id"], "--n", "3", "--out", str(tmp_path / "lists"), *common]) == 0
    assert (tmp_path / "lists.manifest.json").is_file()
    assert "rows ->" in capsys.readouterr().out
    assert main(["spark", "train", "--dataset", "nope", *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: dataset 'nope' not found") and len(err) == 1
    assert main(["spark", "import", "--interactions", str(tmp_path / "absent.csv"), "--name", "x", *common]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_segment_takes_the_local_rule_options(trained, spark, tmp_path, capsys):
    from recsys.cli import main
    from recsys.runs import load_run
    from recsys.segments.audience import build_audience
    from recsys.segments.rules import SegmentRule, Target

    ws, _, _, record = trained
    common = ["--master", "local[2]", "--workspace", str(ws.root)]
    out = tmp_path / "japan"
    assert main(["spark", "segment", "--run", record["id"], "--target", "category=Group1", "--affinity", "rank",
                 "--customers", "country = Japan", "--threshold", "12", "--out", str(out), "--format", "parquet",
                 *common]) == 0
    loaded = load_run(ws, record["id"])
    rule = SegmentRule(name="japan", run_id=record["id"], target=Target.parse("category=Group1"), affinity="rank",
                       customer_query="country = Japan", threshold=12.0, min_size=1)
    want = build_audience(rule, loaded.model, loaded.data).members
    got = pd.read_parquet(out).sort_values("rank")
    assert got["user_id"].tolist() == want["user_id"].tolist() and len(want) > 0
    capsys.readouterr()
    assert main(["spark", "segment", "--run", record["id"], "--target", "category=Group1", "--size", "5",
                 "--customers", "email = x@y.z", "--out", str(tmp_path / "bad"), *common]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "contact details" in err[0]
