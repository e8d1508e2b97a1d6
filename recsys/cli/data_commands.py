"""``validate`` and ``import``: check data files and store them as a workspace dataset."""

from __future__ import annotations

import argparse
import json
import os
import pathlib

from recsys.cli.errors import CliError

_FILES_HELP = (
    "CSV/TSV/TXT (any of , ; TAB |, UTF-8/UTF-16/Latin-1), .gz of those, Parquet or Excel .xlsx"
)
_MAP_HELP = (
    "column mapping as JSON text or a JSON file, e.g. "
    '\'{"interactions": {"user_id": "CustomerID", "item_id": "StockCode"}}\'. '
    "Roles you give win, the others are auto-detected; null leaves a role unmapped. "
    "Interactions roles: user_id, item_id, timestamp, event_type, value, session_id; "
    "items: item_id, title, description, category, tags, image_path; "
    "users: user_id, age_group, gender, country, loyalty_tier, signup_date, email, phone"
)


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--interactions", required=True, metavar="FILE",
                        help=f"interaction log (required): who did what, when. {_FILES_HELP}")
    parser.add_argument("--items", metavar="FILE", help="item catalog (optional)")
    parser.add_argument("--users", metavar="FILE", help="customer table (optional)")
    parser.add_argument("--map", metavar="JSON_OR_FILE", help=_MAP_HELP)
    parser.add_argument("--json", metavar="OUT", help="also write the full report as JSON to OUT")


def add_parser(subparsers) -> None:
    """Register the ``validate`` and ``import`` sub-commands."""
    validate = subparsers.add_parser(
        "validate",
        help="check data files and print the validation report",
        description="Read the files, map their columns to roles and print one line per issue "
        "(errors block an import, warnings do not). Exit code 0 when the data can be imported, "
        "2 otherwise.",
    )
    _add_inputs(validate)
    validate.set_defaults(func=run_validate)

    imp = subparsers.add_parser(
        "import",
        help="validate data files and store them as a named dataset",
        description="Validate like 'validate', then save the cleaned tables (and the dropped "
        "rows, for download) as a dataset in the workspace. Prints the dataset name, "
        "fingerprint and row counts.",
    )
    _add_inputs(imp)
    imp.add_argument("--name", required=True, help="dataset name: letters, digits, '-', '_', '.'")
    imp.add_argument("--overwrite", action="store_true", help="replace a dataset of the same name")
    imp.add_argument("--workspace", metavar="DIR",
                     help="workspace folder (default: $RECSYS_WORKSPACE or ./workspace)")
    imp.set_defaults(func=run_import)


def _mapping_arg(text: str | None):
    if not text:
        return None
    from recsys.data.errors import DataValidationError
    from recsys.data.mapping import parse_mappings

    stripped = text.strip()
    if not stripped.startswith("{"):
        path = pathlib.Path(os.path.expanduser(stripped))
        try:
            stripped = path.read_text(encoding="utf-8")
        except OSError as err:
            raise CliError(f"--map is neither JSON nor a readable file: {err.strerror or err}") from None
    try:
        return parse_mappings(stripped)
    except DataValidationError as err:
        raise CliError(f"--map: {err}") from None


def _validate(args: argparse.Namespace):
    from recsys.data.validation import load_and_validate

    for flag in ("interactions", "items", "users"):
        path = getattr(args, flag)
        if path and not pathlib.Path(path).is_file():
            raise CliError(f"--{flag}: no such file: {path}")
    sources = {t: getattr(args, t) for t in ("interactions", "items", "users") if getattr(args, t)}
    report = load_and_validate(sources, _mapping_arg(args.map))
    if args.json:
        try:
            pathlib.Path(args.json).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        except OSError as err:
            raise CliError(f"--json: cannot write {args.json}: {err.strerror or err}") from None
    return report


def _report_text(report) -> str:
    lines = []
    for table, mapping in report.mappings.items():
        st = report.stats.get(table, {})
        lines.append(
            f"{table}: {report.files.get(table, '')}: {st.get('rows_read', 0):,} rows read, "
            f"{st.get('rows', 0):,} kept, {st.get('dropped', 0):,} dropped; {mapping.describe()}"
        )
    lines.extend(report.lines())
    return "\n".join(lines)


def _fail(report) -> CliError:
    n = len(report.errors)
    first = report.errors[0]
    reason = f"validation failed ({n} error{'s' if n != 1 else ''}): {first.where()}: {first.message}"
    return CliError(reason.replace("\n", " "), _report_text(report))


def run_validate(args: argparse.Namespace) -> int:
    """Print the report; exit 0 when it has no errors, else raise CliError (exit 2)."""
    report = _validate(args)
    if not report.ok:
        raise _fail(report)
    print(_report_text(report))
    print(report.summary())
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Validate, then import; prints name, fingerprint and row counts."""
    from recsys.data.errors import DataValidationError
    from recsys.data.importer import import_dataset
    from recsys.workspace import Workspace, WorkspaceError

    report = _validate(args)
    if not report.ok:
        raise _fail(report)
    source = {"files": {t: os.path.abspath(getattr(args, t)) for t in ("interactions", "items", "users")
                        if getattr(args, t)}}
    try:
        ws = Workspace(args.workspace) if args.workspace else Workspace()
        info = import_dataset(report, args.name, ws, source=source, overwrite=args.overwrite)
    except (DataValidationError, WorkspaceError) as err:
        raise CliError(f"import failed: {err}") from None
    print(_report_text(report))
    counts = ", ".join(f"{t} {n:,}" for t, n in info.row_counts.items())
    print(f"imported dataset {info.name}")
    print(f"fingerprint {info.fingerprint}")
    print(f"rows: {counts}")
    return 0
