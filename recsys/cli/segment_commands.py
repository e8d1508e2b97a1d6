"""``segment`` and ``lists``: build an audience or per-customer lists from a run and export them."""

from __future__ import annotations

import pathlib

from recsys.cli.errors import CliError

SEGMENT_DESCRIPTION = """\
Build an audience for a target (items, a category or an item attribute query) from a stored
run's predictions, save it in the workspace and export it, with a JSON manifest beside the
file (FILE.manifest.json: rule, run, dataset fingerprint, row count, file SHA-256; no
personal data). Formats: csv (analyst CSV, safe to open in Excel), parquet, xlsx,
customer-match (Google Ads upload, hashed), meta (Meta custom audience, hashed).

Targets: "items=I00001,I00002", "category=Outdoor", or a query such as
"category = Outdoor and price_tier = premium" (operators = != < <= > >= in)."""

LISTS_DESCRIPTION = """\
Export every customer's top-N list from a stored run (CSV, Parquet or Excel) with a title,
score and short reason per row, optional re-ranking (calibrated, exposure, mmr) and business
rules, plus a JSON manifest beside the file."""


def add_parser(subparsers) -> None:
    seg = subparsers.add_parser("segment", help="build and export an audience from a run",
                                description=SEGMENT_DESCRIPTION)
    seg.add_argument("--run", required=True, help="run id (see `python -m recsys runs`)")
    seg.add_argument("--target", required=True, help='e.g. "category=Outdoor" or "items=I00001,I00002"')
    seg.add_argument("--name", default=None, help="segment name (default: from the target)")
    seg.add_argument("--affinity", default="max", choices=["max", "mean", "rank"],
                     help="max / mean target-item score, or the best target item's rank in the full list")
    seg.add_argument("--size", type=int, default=None, help="keep the N customers with the strongest affinity")
    seg.add_argument("--threshold", type=float, default=None,
                     help="keep customers with affinity >= T (with --affinity rank: rank <= T)")
    seg.add_argument("--customers", default=None, help='customer filter, e.g. "country = Japan and loyalty_tier = gold"')
    seg.add_argument("--min-events", type=int, default=0)
    seg.add_argument("--active-days", type=float, default=None, help="only customers active in the last N days")
    seg.add_argument("--keep-buyers", action="store_true", help="keep customers who already bought the target")
    seg.add_argument("--format", default="csv", choices=["csv", "parquet", "xlsx", "customer-match", "meta"])
    seg.add_argument("--out", required=True, metavar="FILE")
    seg.add_argument("--min-size", type=int, default=None, help="refuse audiences smaller than this (default 100)")
    seg.add_argument("--pseudonymous", action="store_true",
                     help="replace customer ids with salted HMAC ids (the salt stays in the workspace)")
    seg.add_argument("--workspace", default=None, help="workspace folder (default $RECSYS_WORKSPACE or ./workspace)")
    seg.set_defaults(func=run_segment)

    lists = subparsers.add_parser("lists", help="export per-customer top-N lists from a run",
                                  description=LISTS_DESCRIPTION)
    lists.add_argument("--run", required=True, help="run id")
    lists.add_argument("--n", type=int, default=10, help="items per customer (default 10)")
    lists.add_argument("--out", required=True, metavar="FILE")
    lists.add_argument("--format", default=None, choices=["csv", "parquet", "xlsx"],
                       help="default: from the file extension, else csv")
    lists.add_argument("--rerank", default=None, choices=["calibrated", "exposure", "mmr"])
    lists.add_argument("--strength", type=float, default=0.5, help="re-ranking strength in [0, 1]")
    lists.add_argument("--segment", default=None, help="only the members of this saved segment id")
    lists.add_argument("--include-categories", default=None, help="comma-separated categories to keep")
    lists.add_argument("--exclude-categories", default=None, help="comma-separated categories to leave out")
    lists.add_argument("--max-per-category", type=int, default=None)
    lists.add_argument("--keep-bought", action="store_true", help="allow items the customer already bought")
    lists.add_argument("--min-size", type=int, default=None, help="refuse fewer customers than this (default 100)")
    lists.add_argument("--pseudonymous", action="store_true")
    lists.add_argument("--workspace", default=None)
    lists.set_defaults(func=run_lists)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _write(out: str, saved) -> pathlib.Path:
    path = pathlib.Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(saved.data)
    path.with_name(path.name + ".manifest.json").write_bytes(saved.manifest_bytes)
    return path


def run_segment(args) -> int:
    from recsys.segments.privacy import DEFAULT_MIN_SIZE, SegmentTooSmall
    from recsys.segments.rules import RuleError, SegmentRule, Target
    from recsys.segments.store import build_segment, export_segment, load_for_rule, save_segment
    from recsys.workspace import Workspace, WorkspaceError

    if args.size is None and args.threshold is None:
        raise CliError("give --size, --threshold or both to cap the segment")
    try:
        target = Target.parse(args.target)
        rule = SegmentRule(name=args.name or target.describe(), run_id=args.run, target=target,
                           affinity=args.affinity, customer_query=args.customers, min_events=args.min_events,
                           active_days=args.active_days, exclude_buyers=not args.keep_buyers, size=args.size,
                           threshold=args.threshold,
                           min_size=args.min_size if args.min_size is not None else DEFAULT_MIN_SIZE)
        workspace = Workspace(args.workspace)
        loaded = load_for_rule(workspace, rule)
        audience = build_segment(workspace, rule, loaded=loaded)
        segment_id = save_segment(workspace, audience)
        saved = export_segment(workspace, audience, args.format, loaded=loaded, segment_id=segment_id,
                               pseudonymous=args.pseudonymous)
    except SegmentTooSmall as exc:
        raise CliError(str(exc)) from None
    except (RuleError, WorkspaceError, KeyError, ValueError) as exc:
        raise CliError(" ".join(str(exc).strip("'\"").split())) from None
    path = _write(args.out, saved)
    stats = audience.stats
    print(f"segment {segment_id}: {audience.size:,} of {stats['n_eligible']:,} eligible customers "
          f"({stats['n_buyers_excluded']:,} buyers excluded); affinity {stats['affinity_mode']} "
          f"{stats['affinity_min']:.4g}..{stats['affinity_max']:.4g}; {stats['seconds']:.2f}s")
    for key in ("n_dropped_no_identifier", "n_unknown_country", "n_invalid_phone"):
        if saved.manifest.stats.get(key):
            print(f"note: {key.replace('n_', '', 1).replace('_', ' ')}: {saved.manifest.stats[key]}")
    print(f"{saved.manifest.row_count:,} rows -> {path} (+ manifest), export {saved.id}")
    return 0


def run_lists(args) -> int:
    from recsys.segments.lists import ListOptions, customer_lists
    from recsys.segments.privacy import DEFAULT_MIN_SIZE, SegmentTooSmall
    from recsys.segments.store import export_lists, load_segment
    from recsys.runs import load_run
    from recsys.workspace import Workspace, WorkspaceError

    fmt = args.format or {".parquet": "parquet", ".xlsx": "xlsx"}.get(pathlib.Path(args.out).suffix.lower(), "csv")
    try:
        options = ListOptions(n=args.n, include_categories=_names(args.include_categories),
                              exclude_categories=_names(args.exclude_categories), exclude_bought=not args.keep_bought,
                              max_per_category=args.max_per_category, rerank=args.rerank, strength=args.strength)
        workspace = Workspace(args.workspace)
        loaded = load_run(workspace, args.run)
        users = None
        if args.segment:
            _, members = load_segment(workspace, args.segment)
            users = loaded.data.users.index_of(members["user_id"].to_numpy(dtype=object))
            users = users[users >= 0]
        lists = customer_lists(loaded.model, loaded.data, options, users)
        saved = export_lists(workspace, lists, fmt, loaded=loaded, name=f"lists-{args.run[-6:]}",
                             pseudonymous=args.pseudonymous, segment_id=args.segment,
                             min_size=args.min_size if args.min_size is not None else DEFAULT_MIN_SIZE)
    except SegmentTooSmall as exc:
        raise CliError(str(exc)) from None
    except (WorkspaceError, KeyError, ValueError) as exc:
        raise CliError(" ".join(str(exc).strip("'\"").split())) from None
    path = _write(args.out, saved)
    print(f"{lists.stats['n_customers']:,} customers, {saved.manifest.row_count:,} rows"
          f"{' re-ranked by ' + args.rerank if args.rerank else ''}; reasons: {lists.stats['reasons']}; "
          f"{lists.stats['seconds']:.2f}s -> {path} (+ manifest), export {saved.id}")
    return 0
