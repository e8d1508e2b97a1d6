"""``fairness``: the fairness report of a stored run, as CSV tables and a self-contained HTML page."""

from __future__ import annotations

from recsys.cli.errors import CliError

DESCRIPTION = """\
Break a stored run's held-out accuracy down by customer group (95% bootstrap intervals, the
gap to the best group with a Holm-adjusted bootstrap test, groups under --min-size flagged
"too small to judge"), measure the exposure of item groups against their catalog and
interaction shares, the Gini of item exposure, popularity bias and miscalibration (Steck 2018).
With --sweep, re-rank the run's top-100 lists at several strengths and report the trade-off.

Groupings: any customer attribute, "activity" (new/light/heavy by training-event terciles),
"tenure" (time since sign-up), or an intersection of two, written a+b (e.g. country+age_group).
Writes DIR/*.csv, DIR/meta.json and DIR/report.html (opens offline)."""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("fairness", help="fairness report of a run (CSV tables + HTML)",
                                   description=DESCRIPTION)
    parser.add_argument("--run", required=True, help="run id (see `python -m recsys runs`)")
    parser.add_argument("--by", default="activity",
                        help="comma-separated customer groupings, e.g. age_group,country,activity,country+age_group")
    parser.add_argument("--items", default=None,
                        help="comma-separated item groupings for exposure (default: category, brand, "
                             "content_type, item_age when present, and popularity_tier)")
    parser.add_argument("--metrics", default="ndcg,recall,hit", help="accuracy metrics to break down")
    parser.add_argument("--k", type=int, default=10, help="list length judged (default 10)")
    parser.add_argument("--min-size", type=int, default=30, help="smaller groups are flagged too small to judge")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--sweep", default=None,
                        help="also sweep re-rankers: comma-separated from calibrated, exposure, mmr")
    parser.add_argument("--protected", default="popularity_tier=tail",
                        help="the exposure re-ranker's protected item group, GROUPING=GROUP (default "
                             "popularity_tier=tail)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, metavar="DIR")
    parser.add_argument("--workspace", default=None, help="workspace folder (default $RECSYS_WORKSPACE or ./workspace)")
    parser.set_defaults(func=run)


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def run(args) -> int:
    from recsys.fairness.report import METHODS, build_report, run_inputs, sweep, write_report
    from recsys.workspace import Workspace, WorkspaceError

    methods = _names(args.sweep)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CliError(f"unknown re-ranker(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if "=" not in args.protected:
        raise CliError("--protected must read GROUPING=GROUP, e.g. category=Gaming")
    protected = tuple(part.strip() for part in args.protected.split("=", 1))
    try:
        workspace = Workspace(args.workspace)
        inputs = run_inputs(workspace, args.run, n_candidates=max(100, args.k))
        report = build_report(inputs, _names(args.by), k=args.k, item_by=_names(args.items) or None,
                              metrics=_names(args.metrics), n_boot=args.n_boot, min_size=args.min_size,
                              seed=args.seed)
        if methods:
            report = report.with_tradeoff(sweep(inputs, methods=methods, k=args.k, protected=protected,
                                                n_boot=args.n_boot, seed=args.seed))
    except (WorkspaceError, KeyError, ValueError) as exc:
        raise CliError(" ".join(str(exc).strip("'\"").split())) from None
    paths = write_report(report, args.out)
    _print_summary(report)
    print(paths["html"])
    return 0


def _print_summary(report) -> None:
    groups = report.groups
    headline = next((m for m in groups["metric"].unique() if "@" in m), None) if len(groups) else None
    for grouping in report.meta["by"]:
        if headline is None:
            break
        rows = groups[(groups["grouping"] == grouping) & (groups["metric"] == headline)]
        print(f"{headline} by {grouping}:")
        for row in rows.itertuples():
            gap = "" if row.best else f"  gap {row.gap:+.4f} [{row.gap_low:+.4f}, {row.gap_high:+.4f}]"
            print(f"  {str(row.group):<28} n={row.n:<6} {row.mean:.4f} [{row.low:.4f}, {row.high:.4f}]{gap}"
                  f"  {row.verdict}")
    summary = report.summary
    print(f"exposure Gini {summary['exposure_gini']:.3f}, catalog coverage {summary['catalog_coverage']:.1%}, "
          f"mean miscalibration {summary.get('mean_miscalibration') or float('nan'):.3f}")
    for note in report.notes:
        print(f"note: {note}")
