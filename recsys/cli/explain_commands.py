"""``explain`` and ``fidelity``: why a stored run recommends an item, and how faithful a method is."""

from __future__ import annotations

import json
import pathlib

from recsys.cli.errors import CliError

METHOD_CHOICES = ("exact", "attention", "captum", "shap", "auto")

EXPLAIN_DESCRIPTION = """\
Explain one recommendation of a stored run and write the Explanation record as JSON
(user, item, method, score, base value, contributions, meta with parameters, timings and caveats).
Without --item the customer's top recommendation is explained. Methods: exact (ItemKNN, EASE,
ALS: contributions add up to the score), attention (SASRec: weights, not attributions), captum
(Integrated Gradients on the embedding layers of NeuMF, MultVAE, GRU4Rec, SASRec, Hybrid), shap
(Hybrid, over its feature groups), auto (the best that applies)."""

FIDELITY_DESCRIPTION = """\
Deletion test of an explanation method on a sample of customers: remove the top-attributed
history item (or feature group) and compare the score drop with removing one at random.
Prints JSON with method, users, win_rate, mean_drop_top, mean_drop_random."""


def add_parser(subparsers) -> None:
    explain = subparsers.add_parser("explain", help="explain a recommendation of a run (JSON)",
                                    description=EXPLAIN_DESCRIPTION)
    explain.add_argument("--run", required=True, help="run id (see `python -m recsys runs`)")
    explain.add_argument("--user", required=True, help="customer id")
    explain.add_argument("--item", default=None, help="item id (default: the customer's top recommendation)")
    explain.add_argument("--method", default="auto", choices=METHOD_CHOICES)
    explain.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps (captum)")
    explain.add_argument("--background", type=int, default=50, help="SHAP background events (shap)")
    explain.add_argument("--json", required=True, metavar="OUT", help="where to write the Explanation")
    explain.add_argument("--workspace", default=None,
                         help="workspace folder (default $RECSYS_WORKSPACE or ./workspace)")
    explain.set_defaults(func=run_explain)

    fidelity = subparsers.add_parser("fidelity", help="deletion test of an explanation method (JSON)",
                                     description=FIDELITY_DESCRIPTION)
    fidelity.add_argument("--run", required=True, help="run id")
    fidelity.add_argument("--method", default="auto", choices=METHOD_CHOICES)
    fidelity.add_argument("--users", type=int, default=200, help="customers sampled (default 200)")
    fidelity.add_argument("--m", type=int, default=1, help="units removed (default 1)")
    fidelity.add_argument("--seed", type=int, default=0)
    fidelity.add_argument("--workspace", default=None,
                          help="workspace folder (default $RECSYS_WORKSPACE or ./workspace)")
    fidelity.set_defaults(func=run_fidelity)


def _load(args):
    from recsys.runs import load_run
    from recsys.workspace import Workspace, WorkspaceError

    try:
        return load_run(Workspace(args.workspace), args.run)
    except (WorkspaceError, KeyError, ValueError) as exc:
        raise CliError(f"cannot load run {args.run!r}: {' '.join(str(exc).strip(chr(39)).split())}") from None


def _method_kwargs(method: str, args) -> dict:
    if method == "captum":
        return {"n_steps": args.steps}
    if method == "shap":
        return {"background": args.background}
    return {}


def run_explain(args) -> int:
    from recsys.explain.dispatch import explain, resolve_method

    loaded = _load(args)
    try:
        method = resolve_method(loaded.model, args.method)
        e = explain(loaded.model, loaded.data, args.user, args.item, method, **_method_kwargs(method, args))
    except (KeyError, ValueError) as exc:
        raise CliError(" ".join(str(exc).strip("'\"").split())) from None
    out = pathlib.Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(e.to_json())
    print(f"{e.method} explanation of {e.item} for {e.user} ({e.model}): score {e.score:.4f}, "
          f"{len(e.contributions)} contributions -> {out}")
    return 0


def run_fidelity(args) -> int:
    from recsys.explain.fidelity import deletion_test

    loaded = _load(args)
    try:
        result = deletion_test(loaded.model, loaded.data, args.method, users=args.users, m=args.m, seed=args.seed)
    except (KeyError, ValueError) as exc:
        raise CliError(" ".join(str(exc).strip("'\"").split())) from None
    print(json.dumps(result.to_dict(), indent=2))
    return 0
