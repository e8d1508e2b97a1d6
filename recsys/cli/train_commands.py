"""``train``, ``runs``, ``evaluate`` and ``models``: training from the command line.

``train`` stores the run exactly as the dashboard does (``recsys.runs.train_run``) and
prints the run id on the last line of stdout, so scripts can ``tail -n1``.
"""

from __future__ import annotations

import argparse
import json
import sys

from recsys.cli.errors import CliError

SPLITS = ("leave_last_out", "temporal", "random", "none")


def add_parser(subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a model on a workspace dataset and store the run",
        description="Train one model on a workspace dataset, evaluate it on a held-out split and store "
                    "the run (as the dashboard's Train page does). Progress goes to stderr; the last "
                    "line of stdout is the run id.")
    train.add_argument("--dataset", required=True, help="workspace dataset name")
    train.add_argument("--model", required=True, help="registry key (see `python -m recsys models`)")
    train.add_argument("--params", default="{}", help='hyper-parameters as JSON, e.g. \'{"factors": 128}\'')
    train.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    train.add_argument("--split", default="leave_last_out", choices=SPLITS,
                       help="evaluation split; none trains on everything without metrics")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--k", type=int, default=10, help="headline cut-off (metrics also at 10 and 20)")
    train.add_argument("--time-budget", type=float, default=None, metavar="S",
                       help="stop training after S seconds, keeping the best model so far")
    train.add_argument("--workspace", default=None, help="workspace folder (default $RECSYS_WORKSPACE or ./workspace)")
    train.set_defaults(func=run_train)

    runs = subparsers.add_parser("runs", help="list stored runs", description="List stored training runs, newest first.")
    runs.add_argument("--dataset", default=None, help="only runs of this dataset")
    runs.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    runs.add_argument("--workspace", default=None)
    runs.set_defaults(func=run_runs)

    evaluate = subparsers.add_parser(
        "evaluate", help="print a run's test metrics as JSON",
        description="Print a stored run's metrics as JSON. Metrics at a cut-off the run did not store "
                    "are recomputed on the run's split.")
    evaluate.add_argument("--run", required=True, help="run id")
    evaluate.add_argument("--k", type=int, default=10, help="cut-off (default 10)")
    evaluate.add_argument("--workspace", default=None)
    evaluate.set_defaults(func=run_evaluate)

    models = subparsers.add_parser("models", help="list the models and their parameters",
                                   description="List registry keys, display names, families and parameters.")
    models.add_argument("--json", action="store_true", help="print JSON instead of text")
    models.set_defaults(func=run_models)


def _workspace(args):
    from recsys.workspace import Workspace, WorkspaceError

    try:
        return Workspace(args.workspace)
    except WorkspaceError as exc:
        raise CliError(str(exc)) from None


def _parse_params(text: str) -> dict:
    try:
        params = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise CliError(f"--params is not valid JSON: {exc.msg} (at character {exc.pos})") from None
    if not isinstance(params, dict):
        raise CliError("--params must be a JSON object, e.g. '{\"factors\": 64}'")
    return params


def _print_progress(event) -> None:
    parts = [event.stage]
    if event.total:
        parts.append(f"{event.step}/{event.total}")
    metrics = " ".join(f"{k}={v:.4g}" for k, v in (event.metrics or {}).items() if isinstance(v, (int, float)))
    if metrics:
        parts.append(metrics)
    if event.message:
        parts.append(f"- {event.message}")
    parts.append(f"({event.elapsed:.1f}s)")
    print(" ".join(parts), file=sys.stderr, flush=True)


def run_train(args) -> int:
    from recsys.models.registry import REGISTRY
    from recsys.runs import train_run
    from recsys.training.progress import TrainingCancelled
    from recsys.workspace import WorkspaceError

    if args.model.lower() not in REGISTRY:
        raise CliError(f"unknown model {args.model!r}; available: {', '.join(REGISTRY)}")
    params = _parse_params(args.params)
    ws = _workspace(args)
    if not ws.has_dataset(args.dataset):
        names = [d.name for d in ws.list_datasets()]
        raise CliError(f"no dataset {args.dataset!r} in {ws.root}; have: {', '.join(names) or 'none'}")
    try:
        record = train_run(ws, args.dataset, args.model, params, split=args.split, device=args.device,
                           seed=args.seed, k=args.k, callbacks=(_print_progress,),
                           time_budget_s=args.time_budget)
    except TrainingCancelled:
        raise CliError("training was cancelled") from None
    except (ValueError, KeyError, WorkspaceError) as exc:
        raise CliError(_one_line(exc)) from None
    shown = {m: record.metrics[m] for m in ("ndcg@10", "recall@10", "hit@10", "coverage@10")
             if record.metrics.get(m) is not None}
    print(f"{record.display_name} on {record.dataset} ({record.split_protocol} split, {record.device}): "
          f"fit {record.fit_seconds:.2f}s" + "".join(f", {k} {v:.4f}" for k, v in shown.items()))
    print(record.id)
    return 0


def run_runs(args) -> int:
    import pandas as pd

    from recsys.runs import list_runs

    ws = _workspace(args)
    frame = list_runs(ws, dataset=args.dataset)
    if args.json:
        print(frame.to_json(orient="records", indent=2))
        return 0
    if frame.empty:
        print("no runs" + (f" for dataset {args.dataset!r}" if args.dataset else ""))
        return 0
    shown = frame[["run_id", "created_at", "dataset", "model", "split", "ndcg@10", "recall@10", "hit@10",
                   "fit_seconds", "device"]]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(shown.to_string(index=False))
    return 0


def run_evaluate(args) -> int:
    from recsys.runs import get_run, load_run
    from recsys.workspace import NotFoundError

    if args.k < 1:
        raise CliError("--k must be at least 1")
    ws = _workspace(args)
    try:
        record = get_run(ws, args.run)
    except NotFoundError:
        raise CliError(f"no run {args.run!r} in {ws.root} (see `python -m recsys runs`)") from None
    if record.split_protocol == "none":
        raise CliError(f"run {args.run} was trained without a split, so it has no test metrics")
    metrics = _metrics_at(record.metrics, args.k)
    recomputed = False
    if metrics is None:
        from recsys.evaluation.evaluate import evaluate_model

        try:
            loaded = load_run(ws, args.run, with_split=True)
        except ValueError as exc:
            raise CliError(_one_line(exc)) from None
        result = evaluate_model(loaded.model, loaded.split, ks=(args.k,), on="test")
        metrics = _metrics_at(result.summary, args.k) or {}
        recomputed = True
    out = {"run_id": record.id, "dataset": record.dataset, "model": record.model_key,
           "split": record.split_protocol, "k": args.k, "recomputed": recomputed, "metrics": metrics}
    print(json.dumps(out, indent=2, default=float))
    return 0


def _metrics_at(summary: dict, k: int) -> dict | None:
    """The ``@k`` metrics of ``summary`` plus ``n_users``; None when it has none at ``k``."""
    suffix = f"@{k}"
    picked = {name: value for name, value in summary.items() if name.endswith(suffix)}
    if f"ndcg{suffix}" not in picked:
        return None
    if "n_users" in summary:
        picked["n_users"] = summary["n_users"]
    return picked


def run_models(args) -> int:
    from recsys.models.registry import REGISTRY

    rows = [{"key": s.key, "display_name": s.display_name, "family": s.family,
             "needs_timestamps": s.needs_timestamps, "needs_item_text": s.needs_item_text,
             "params": {p.name: {"kind": p.kind, "default": p.default, "low": p.low, "high": p.high,
                                 "choices": list(p.choices), "help": p.help} for p in s.params}}
            for s in REGISTRY.values()]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for row in rows:
        needs = [n for n, flag in (("timestamps", row["needs_timestamps"]), ("item text", row["needs_item_text"]))
                 if flag]
        print(f"{row['key']:<14} {row['display_name']} ({row['family']})"
              + (f" - needs {', '.join(needs)}" if needs else ""))
        for name, p in row["params"].items():
            bounds = f" in {p['choices']}" if p["choices"] else (
                f" in [{p['low']:g}, {p['high']:g}]" if p["low"] is not None and p["high"] is not None else "")
            print(f"    {name} = {p['default']!r}{bounds}  {p['help']}")
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError) and len(text) > 1 and text[0] == text[-1] == "'":
        text = text[1:-1]
    return text or type(exc).__name__
