"""Render a validation report: blocking errors, warnings, dropped rows (downloadable)."""

from __future__ import annotations

import streamlit as st

from recsys.data.validation import ValidationReport
from ui.downloads import deferred


def render_report(report: ValidationReport, *, key: str) -> None:
    """Errors first, then warnings, each with count, place and example rows."""
    if report.ok:
        st.success(f"Validation passed. {report.summary()}")
    else:
        st.error(f"Import is blocked until these are fixed. {report.summary()}")
    for issue in report.errors + report.warnings:
        where = f"{issue.file}" + (f", column '{issue.column}'" if issue.column else "")
        label = f"{'⛔' if issue.severity == 'error' else '⚠️'} {issue.message} — {issue.count:,} row(s) in {where}"
        with st.expander(label, expanded=issue.severity == "error"):
            if issue.examples is not None and len(issue.examples):
                st.caption("Examples (row = line number in the file; the header is row 1):")
                st.dataframe(issue.examples, hide_index=True, width="stretch")
            else:
                st.caption("No example rows for this issue.")
    for table, dropped in report.dropped.items():
        if dropped is None or dropped.empty:
            continue
        st.warning(f"{len(dropped):,} row(s) of the {table} table will not be imported "
                   f"(reasons: {', '.join(sorted(dropped['reason'].astype(str).unique()))}).")
        st.download_button(
            f"Download the dropped {table} rows (CSV)",
            deferred(dropped.to_csv(index=False).encode("utf-8")),
            file_name=f"dropped_{table}.csv",
            mime="text/csv",
            key=f"{key}-dropped-{table}",
        )
