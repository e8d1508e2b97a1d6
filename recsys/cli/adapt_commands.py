"""``append`` and ``update``: add events to a dataset; apply new events to a stored run."""

from __future__ import annotations

import argparse
import json
import pathlib

from recsys.cli.errors import CliError


def add_parser(subparsers) -> None:
    app = subparsers.add_parser("append", help="validate new events and append them to a dataset (new version)")
    app.add_argument("--dataset", required=True, help="workspace dataset name")
    app.add_argument("--interactions", required=True, metavar="FILE", help="CSV / Parquet / Excel of new events")
    app.add_argument("--workspace", default=None, help="workspace folder (default $RECSYS_WORKSPACE or ./workspace)")
    app.set_defaults(func=run_append)
    upd = subparsers.add_parser("update", help="apply new events to a stored run without retraining")
    upd.add_argument("--run", required=True, help="run id")
    upd.add_argument("--events", required=True, metavar="FILE", help="CSV / Parquet / Excel of new events")
    upd.add_argument("--method", choices=("auto", "finetune"), default="auto",
                     help="auto: each family's incremental update; finetune: then train a deep model "
                          "--epochs more epochs on old + new events from its current weights")
    upd.add_argument("--epochs", type=int, default=2, help="fine-tune epochs (with --method finetune)")
    upd.add_argument("--device", default="auto", help="fine-tune device: auto, cpu, cuda, cuda:1...")
    upd.add_argument("--workspace", default=None)
    upd.set_defaults(func=run_update)


def _workspace(args):
    from recsys.workspace import Workspace
    return Workspace(args.workspace) if args.workspace else Workspace()


def _read_events(path: str):
    from recsys.data.validation import load_and_validate
    if not pathlib.Path(path).is_file():
        raise CliError(f"no such file: {path}")
    report = load_and_validate({"interactions": path})
    if not report.ok:
        first = report.errors[0]
        raise CliError(f"validation failed: {first.where()}: {first.message}", "\n".join(report.lines()))
    return report.tables["interactions"]


def run_append(args: argparse.Namespace) -> int:
    """Append validated events to ``--dataset``; the dataset gets a new version (and fingerprint)."""
    import pandas as pd

    ws = _workspace(args)
    if not ws.has_dataset(args.dataset):
        raise CliError(f"no dataset named {args.dataset!r}")
    events = _read_events(args.interactions)
    info = ws.dataset_info(args.dataset)
    tables = ws.load_tables(args.dataset)
    old = tables["interactions"]
    if "timestamp" in old and "timestamp" in events and old["timestamp"].dtype != events["timestamp"].dtype:
        raise CliError(f"timestamps differ in type: dataset {old['timestamp'].dtype}, "
                       f"new events {events['timestamp'].dtype}")
    tables["interactions"] = pd.concat([old, events[[c for c in events.columns if c in old.columns]]],
                                       ignore_index=True)
    meta = dict(info.metadata or {})
    meta["version"] = int(meta.get("version", 1)) + 1
    meta["appended"] = [*meta.get("appended", []), {"file": str(pathlib.Path(args.interactions).resolve()),
                                                      "rows": len(events)}]
    new = ws.save_dataset(args.dataset, tables, metadata=meta, overwrite=True)
    print(f"appended {len(events):,} events to {new.name} (version {meta['version']}, "
          f"{len(tables['interactions']):,} events); fingerprint {new.fingerprint}")
    return 0


def run_update(args: argparse.Namespace) -> int:
    """Load ``--run``, apply the events, save the updated model as a new run with ``parent_run``."""
    import datetime as dt
    from dataclasses import replace

    from recsys.adapt.update import update_run
    from recsys.runs import ITEM_IDS_FILE, KIND, MODEL_DIR, USER_IDS_FILE, _write_ids, load_run
    from recsys.storage.atomic import atomic_dir
    from recsys.training.options import FitOptions

    ws = _workspace(args)
    if not ws.has_record(KIND, args.run):
        raise CliError(f"no run with id {args.run!r}")
    run = load_run(ws, args.run)
    events = _read_events(args.events)
    known = ws.has_dataset(run.record.dataset)
    items = ws.load_table(run.record.dataset, "items") if known else None
    customers = ws.load_table(run.record.dataset, "users") if known else None
    try:
        model, report = update_run(run.model, run.data, events, items=items, customers=customers,
                                   method=args.method, epochs=args.epochs,
                                   options=FitOptions(device=args.device))
    except ValueError as err:
        raise CliError(str(err)) from None
    run_id = ws.new_id(KIND)
    run_dir = ws.artifact_dir(KIND, run_id)
    with atomic_dir(run_dir / MODEL_DIR) as tmp:
        model.save(tmp)
    _write_ids(run_dir / USER_IDS_FILE, "user_id", report.data.users)
    _write_ids(run_dir / ITEM_IDS_FILE, "item_id", report.data.items)
    # The parent's test metrics do not hold for the updated model: the new run has none.
    record = replace(run.record, id=run_id, split={"protocol": "none", "args": {}, "params": {}}, metrics={},
                     fit_seconds=report.seconds, eval_seconds=0.0, n_users=report.data.n_users,
                     n_items=report.data.n_items, n_fit_events=run.record.n_fit_events + report.n_events,
                     job_id=None, created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    ws.put_record(KIND, run_id, {**record.to_dict(), "parent_run": args.run, "update": report.summary()})
    print(json.dumps({"run": run_id, "parent_run": args.run, **report.summary()}))
    return 0
