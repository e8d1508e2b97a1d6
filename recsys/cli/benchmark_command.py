"""``benchmark``: fit, rank and score registry models on given train / valid / test CSV files."""

from __future__ import annotations

import argparse
import sys

from recsys.cli.errors import CliError

DESCRIPTION = """\
Benchmark models on a fixed split. Input CSVs have columns user_id,item_id and optionally
timestamp and value; ids are read as strings and share one id map over all files.

Rules: fit on --train only; --valid (if given) is for tuning and early stopping; train is
the scoring history. Test candidates are every item of the split except the user's train and
valid items (full ranking). Test users without train history get train popularity.
Without --valid, --tune carves validation from train (each user's last interaction by time,
or a seeded random one without timestamps), tunes, then refits on all of train.

Writes DIR/<model>.csv (user_id,item_id,rank,score: top K per test user) and DIR/metrics.json
(model -> ndcg/recall/precision/map/mrr/hit at 10 and 20, mrr and coverage at K, train_seconds,
score_seconds, device, params, tuning trials)."""


def add_parser(subparsers) -> None:
    from recsys.benchmark import DEFAULT_TUNE_BUDGET_S

    parser = subparsers.add_parser(
        "benchmark", help="benchmark models on train/valid/test CSV files",
        description=DESCRIPTION, epilog=_grids_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", required=True, metavar="TRAIN.csv")
    parser.add_argument("--valid", default=None, metavar="VALID.csv")
    parser.add_argument("--test", required=True, metavar="TEST.csv")
    parser.add_argument("--models", required=True,
                        help="comma-separated registry keys, or 'all' (every model that can run on the files)")
    parser.add_argument("--k", type=int, default=20, help="list length written and the cut-off of mrr/coverage")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--tune", action="store_true", help="grid-search each model on validation NDCG@10")
    parser.add_argument("--tune-budget", type=float, default=DEFAULT_TUNE_BUDGET_S, metavar="S",
                        help=f"tuning seconds per model (default {DEFAULT_TUNE_BUDGET_S:g})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", required=True, metavar="DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=run)


def _grids_epilog() -> str:
    from recsys.benchmark import grids_help

    return "tuning grids (--tune; tried in order within the budget, best validation NDCG@10 wins):\n" + grids_help()


def _model_keys(text: str) -> list[str] | None:
    """The requested keys; None for "all" (every model that can run on the files)."""
    keys = [k.strip().lower() for k in text.split(",") if k.strip()]
    if keys == ["all"]:
        return None
    if not keys:
        raise CliError("--models is empty; give comma-separated keys, e.g. ease,als")
    return list(dict.fromkeys(keys))


def run(args) -> int:
    from recsys.benchmark import BenchmarkError, run_benchmark

    keys = _model_keys(args.models)
    log = (lambda _msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    try:
        results = run_benchmark(args.train, args.test, keys, args.out_dir, valid=args.valid, k=args.k,
                                device=args.device, tune=args.tune, tune_budget_s=args.tune_budget,
                                seed=args.seed, log=log)
    except BenchmarkError as exc:
        raise CliError(str(exc)) from None
    except ValueError as exc:  # device requests and the like
        raise CliError(" ".join(str(exc).split())) from None
    failed = [key for key, metrics in results.items() if "error" in metrics]
    for key, metrics in results.items():
        if "error" in metrics:
            print(f"{key:<12} failed: {metrics['error']}")
        else:
            print(f"{key:<12} ndcg@10 {metrics['ndcg@10']:.4f}  recall@10 {metrics['recall@10']:.4f}  "
                  f"hit@10 {metrics['hit@10']:.4f}  train {metrics['train_seconds']:.2f}s")
    return 1 if failed else 0
