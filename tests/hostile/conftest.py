"""Tally of the hostile corpus runs, printed as one summary line at the end of the session."""

from __future__ import annotations

TALLY: dict[str, dict[str, str]] = {"cli": {}, "ui": {}}


def record(path: str, name: str, outcome: str) -> None:
    """``outcome``: "refused", "read" or "crashed: <why>"."""
    TALLY[path][name] = outcome


def summary() -> str | None:
    names = set(TALLY["cli"]) | set(TALLY["ui"])
    if not names:
        return None
    crashed = sorted(f"{p}:{n}" for p, runs in TALLY.items() for n, o in runs.items() if o.startswith("crashed"))
    return (f"{len(names)} hostile files tried ({len(TALLY['cli'])} through the CLI, {len(TALLY['ui'])} through "
            f"the Data page), {len(crashed)} crashed" + (f": {', '.join(crashed)}" if crashed else ""))


def pytest_terminal_summary(terminalreporter):
    line = summary()
    if line:
        terminalreporter.write_line(line)
