"""``spark``: import, train and export on a Spark cluster (``python -m recsys spark ...``).

Needs the Spark extra (``pip install -r requirements-spark.txt``, Java 17). Where the cluster
is comes from ``--master`` or ``$RECSYS_SPARK_MASTER`` (default ``local[*]``); see docs/spark.md.
"""

from __future__ import annotations

import argparse

from recsys.cli.errors import CliError

DESCRIPTION = """\
Run the heavy steps on Apache Spark. Paths are read and written by the cluster (local paths for
local[*], else hdfs://, s3a://, abfss://...). The workspace records the dataset (engine "spark"),
the run (an ordinary ALS run with engine "spark") and every export's manifest.

  spark import  --interactions s3a://bucket/events/ --items items.parquet --name big --out s3a://bucket/clean/big
  spark train   --dataset big --factors 64 --iterations 15          # prints the run id last
  spark lists   --run RUN_ID --n 10 --out s3a://bucket/exports/lists --format parquet
  spark segment --run RUN_ID --target "category=Outdoor" --size 100000 --out s3a://bucket/exports/outdoor"""


def _common(parser) -> None:
    parser.add_argument("--master", default=None,
                        help="Spark master URL or Spark Connect sc://host:port (default $RECSYS_SPARK_MASTER or local[*])")
    parser.add_argument("--partitions", type=int, default=None, help="spark.sql.shuffle.partitions")
    parser.add_argument("--als-blocks", type=int, default=None, help="ALS user/item blocks (default 2 local, 10 cluster)")
    parser.add_argument("--driver-memory", default=None, help='e.g. "4g" (only when this process starts the driver)')
    parser.add_argument("--workspace", default=None, help="workspace folder (default $RECSYS_WORKSPACE or ./workspace)")


def _source(parser) -> None:
    """The input arguments shared by ``import`` and ``validate``."""
    parser.add_argument("--interactions", required=True, nargs="+", help="Parquet/CSV files or folders")
    parser.add_argument("--items", nargs="*", default=[], help="item catalog file(s)")
    parser.add_argument("--users", nargs="*", default=[], help="customer table file(s)")
    parser.add_argument("--map", default=None, help='JSON, e.g. {"interactions": {"user_id": "CustomerID"}}')
    parser.add_argument("--format", default=None, choices=["parquet", "csv"], help="default: from the extension")
    parser.add_argument("--delimiter", default=None, help="CSV delimiter (default , or tab for .tsv)")
    parser.add_argument("--time-format", default=None, help='Spark datetime pattern, e.g. "dd/MM/yyyy HH:mm"')


def add_parser(subparsers) -> None:
    spark = subparsers.add_parser("spark", help="import, train and export on Apache Spark", description=DESCRIPTION,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = spark.add_subparsers(dest="spark_command", metavar="STEP")
    sub.required = True

    imp = sub.add_parser("import", help="validate and import interactions from cluster paths")
    _source(imp)
    imp.add_argument("--name", required=True, help="dataset name")
    imp.add_argument("--out", default=None, help="folder for the cleaned events (required on a cluster)")
    imp.add_argument("--local-copy", choices=["auto", "yes", "no"], default="auto",
                     help="also store the events in the workspace (auto: up to 1,000,000 events)")
    imp.add_argument("--overwrite", action="store_true")
    _common(imp)
    imp.set_defaults(func=run_import)

    val = sub.add_parser("validate", help="validate interactions on Spark and print the checks, import nothing")
    _source(val)
    _common(val)
    val.set_defaults(func=run_validate)

    train = sub.add_parser("train", help="train ALS on Spark ML and store it as an ALS run")
    train.add_argument("--dataset", required=True)
    train.add_argument("--factors", type=int, default=64)
    train.add_argument("--regularization", type=float, default=0.1)
    train.add_argument("--alpha", type=float, default=1.0)
    train.add_argument("--iterations", type=int, default=15)
    train.add_argument("--weighting", default="log", choices=["binary", "log", "raw"])
    train.add_argument("--split", default="leave_last_out", choices=["leave_last_out", "none"])
    train.add_argument("--min-events", type=int, default=2, help="distinct items a customer needs to be held out")
    train.add_argument("--k", type=int, default=10)
    train.add_argument("--seed", type=int, default=0)
    _common(train)
    train.set_defaults(func=run_train)

    lists = sub.add_parser("lists", help="top-N lists of every customer, scored on the cluster")
    lists.add_argument("--run", required=True)
    lists.add_argument("--n", type=int, default=10)
    lists.add_argument("--out", required=True, metavar="FOLDER")
    lists.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    lists.add_argument("--keep-bought", action="store_true", help="allow items the customer already bought")
    _common(lists)
    lists.set_defaults(func=run_lists)

    seg = sub.add_parser("segment", help="an audience for target items or a category, scored on the cluster")
    seg.add_argument("--run", required=True)
    seg.add_argument("--target", required=True,
                     help='"items=I1,I2", "category=Outdoor" or an item query ("price_tier = premium and ...")')
    seg.add_argument("--affinity", default="max", choices=["max", "mean", "rank"])
    seg.add_argument("--customers", default=None, help='customer filter, e.g. "country = Japan and age >= 30"')
    seg.add_argument("--size", type=int, default=None)
    seg.add_argument("--threshold", type=float, default=None, help="minimum affinity (rank: the worst rank kept)")
    seg.add_argument("--min-events", type=int, default=0)
    seg.add_argument("--active-days", type=float, default=None, help="an event in the last N days of the data")
    seg.add_argument("--keep-buyers", action="store_true")
    seg.add_argument("--out", required=True, metavar="FOLDER")
    seg.add_argument("--format", default="csv", choices=["parquet", "csv"])
    _common(seg)
    seg.set_defaults(func=run_segment)


def _settings(args):
    from recsys.spark.settings import SparkSettings

    try:
        return SparkSettings.from_env(master=args.master, shuffle_partitions=args.partitions,
                                      als_blocks=args.als_blocks, driver_memory=args.driver_memory)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _mapping(text: str | None) -> dict:
    """``--map`` checked as the local import checks it (tables and roles named)."""
    from recsys.data.errors import DataValidationError
    from recsys.data.mapping import parse_mappings

    try:
        return parse_mappings(text) if text else {}
    except DataValidationError as exc:
        raise CliError(f"--map: {exc}") from None


def _guarded(step):
    """Run ``step()``; missing Spark/Java and bad input become one-line CLI errors."""
    from recsys.spark.errors import SparkDataError, SparkUnavailable
    from recsys.workspace import WorkspaceError

    try:
        return step()
    except SparkUnavailable as exc:
        raise CliError(str(exc)) from None
    except (SparkDataError, WorkspaceError, KeyError, ValueError) as exc:
        raise CliError(" ".join(str(exc).strip("'\"").split())) from None


def _spark_modules():
    try:
        from recsys.spark import exports, importer, runs, session  # noqa: F401
    except ImportError as exc:
        raise CliError(str(exc)) from None
    return importer, runs, exports, session


def _print_checks(checks) -> None:
    for row in checks.itertuples():
        print(f"{row.severity}: {row.code}: {row.message}")


def run_validate(args) -> int:
    importer, _, _, session = _spark_modules()
    settings = _settings(args)

    def step():
        spark = session.get_session(settings)
        return importer.validate_source(spark, args.interactions, items=args.items, users=args.users,
                                        mapping=_mapping(args.map), fmt=args.format, delimiter=args.delimiter,
                                        time_format=args.time_format)

    report = _guarded(step)
    _print_checks(report.checks)
    stats = report.stats
    print(f"{stats['n_rows_read']:,} rows read, {stats.get('n_rows_kept', 0):,} kept, "
          f"{stats['n_rows_dropped']:,} dropped; {stats.get('n_users', 0):,} customers, {stats.get('n_items', 0):,} items")
    return 0 if report.ok else 2


def run_import(args) -> int:
    from recsys.workspace import Workspace

    importer, _, _, _ = _spark_modules()
    settings = _settings(args)
    copy = {"auto": None, "yes": True, "no": False}[args.local_copy]

    def step():
        return importer.import_spark_dataset(
            Workspace(args.workspace), args.name, args.interactions, items=args.items, users=args.users,
            mapping=_mapping(args.map), fmt=args.format, delimiter=args.delimiter, time_format=args.time_format,
            out=args.out, settings=settings, local_copy=copy, overwrite=args.overwrite)

    info, report = _guarded(step)
    _print_checks(report.checks)
    spark_meta = info.metadata["spark"]
    print(f"imported {info.name!r} (engine spark): {report.stats['n_rows_kept']:,} events, "
          f"{report.stats['n_rows_dropped']:,} dropped; events at {spark_meta['events_path']}"
          f"{'; local copy in the workspace' if spark_meta['local_copy'] else ''}")
    return 0


def run_train(args) -> int:
    from recsys.workspace import Workspace

    _, runs, _, _ = _spark_modules()
    settings = _settings(args)
    params = {"factors": args.factors, "regularization": args.regularization, "alpha": args.alpha,
              "iterations": args.iterations, "weighting": args.weighting}
    record = _guarded(lambda: runs.train_spark_run(Workspace(args.workspace), args.dataset, params, settings=settings,
                                                   min_events=args.min_events, k=args.k, seed=args.seed,
                                                   split=args.split))
    metrics = record.get("metrics") or {}
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("ndcg@10", "recall@10", "coverage@10") if k in metrics)
    print(f"ALS on Spark: {record['n_users']:,} customers, {record['n_items']:,} items, "
          f"fit {record['fit_seconds']:.1f}s, eval {record['eval_seconds']:.1f}s{'; ' + shown if shown else ''}")
    print(record["id"])
    return 0


def run_lists(args) -> int:
    from recsys.workspace import Workspace

    _, _, exports, session = _spark_modules()
    settings = _settings(args)

    def step():
        spark = session.get_session(settings)
        ws = Workspace(args.workspace)
        frame = exports.spark_lists(spark, ws, args.run, args.n, exclude_bought=not args.keep_bought)
        return exports.write_export(spark, frame, args.out, args.format, kind="lists", workspace=ws, run_id=args.run,
                                    settings={"n": args.n, "exclude_bought": not args.keep_bought})

    manifest = _guarded(step)
    print(f"{manifest.row_count:,} rows -> {args.out} ({len(manifest.settings['parts'])} part files) + manifest")
    return 0


def run_segment(args) -> int:
    from recsys.workspace import Workspace

    _, _, exports, session = _spark_modules()
    from recsys.spark.segments import spark_segment

    settings = _settings(args)

    def step():
        spark = session.get_session(settings)
        ws = Workspace(args.workspace)
        members, counts = spark_segment(
            spark, ws, args.run, target=args.target, affinity=args.affinity, size=args.size,
            threshold=args.threshold, min_events=args.min_events, exclude_buyers=not args.keep_buyers,
            customer_query=args.customers, active_days=args.active_days)
        rule = {"target": args.target, "affinity": args.affinity, "customers": args.customers, "size": args.size,
                "threshold": args.threshold, "min_events": args.min_events, "active_days": args.active_days,
                "exclude_buyers": not args.keep_buyers}
        return exports.write_export(spark, members, args.out, args.format, kind="segment", workspace=ws,
                                    run_id=args.run, rule=rule, stats=counts)

    manifest = _guarded(step)
    print(f"segment of {manifest.row_count:,} customers -> {args.out} + manifest")
    return 0
