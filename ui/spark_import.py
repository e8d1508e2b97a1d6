"""Data page section: import interactions from a path the Spark cluster reads (engine "spark").

The analyst types paths, not uploads: the files stay where the cluster can read them
(``hdfs://``, ``s3a://``, or local paths on ``local[*]``). The import runs in this request
under a spinner; every failure shows as one readable line. Shown only where pyspark imports.
"""

from __future__ import annotations

import importlib.util

import streamlit as st

from ui import state

ENABLE_HINT = ("Importing from a cluster path needs the Spark engine: `pip install -r requirements-spark.txt` "
               "and Java 17 on this server (docs/spark.md). Uploads and samples above work without it.")


def spark_installed() -> bool:
    return importlib.util.find_spec("pyspark") is not None


def parse_mapping(text: str) -> dict:
    """The optional mapping box, checked as the upload path checks it; ValueError if malformed."""
    from recsys.data.errors import DataValidationError
    from recsys.data.mapping import parse_mappings

    if not text.strip():
        return {}
    try:
        return parse_mappings(text)
    except DataValidationError as exc:
        raise ValueError(f"the column mapping: {exc}; it must look like "
                         '{"interactions": {"user_id": "CustomerID"}}') from None


def _paths(text: str) -> list[str]:
    return [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]


def render_spark_import(ws) -> None:
    """The "Import from a cluster path (Spark)" form."""
    st.subheader("Import from a cluster path (Spark)")
    if not spark_installed():
        st.info(ENABLE_HINT)
        return
    from recsys.spark.settings import SparkSettings

    try:
        default_master = SparkSettings.from_env().master
    except ValueError:  # a malformed RECSYS_SPARK_* variable: the form still opens, the import names it
        default_master = "local[*]"
    with st.form("spark-import"):
        events = st.text_input("Events path(s)", key="spark-events",
                               placeholder="s3a://bucket/events/ or /data/events.parquet",
                               help="Parquet or CSV files or folders the cluster can read, comma-separated.")
        items = st.text_input("Item catalog path (optional)", key="spark-items")
        mapping = st.text_area("Column mapping (optional JSON)", key="spark-mapping",
                               placeholder='{"interactions": {"user_id": "CustomerID"}}',
                               help="Only for columns the automatic detection gets wrong.")
        left, right = st.columns(2)
        name = left.text_input("Dataset name", max_chars=64, key="spark-name")
        master = right.text_input("Spark master", value=default_master, key="spark-master",
                                  help="local[*], spark://host:7077, yarn, k8s://..., or Spark Connect sc://host:15002")
        out = st.text_input("Output folder for the cleaned events (required off local masters)",
                            key="spark-out", placeholder="s3a://bucket/recsys/big")
        overwrite = st.checkbox("Replace a dataset of the same name", value=False, key="spark-overwrite")
        submitted = st.form_submit_button("Import with Spark")
    if submitted:
        _run_import(ws, events, items, mapping, name, master, out, overwrite)


def _run_import(ws, events: str, items: str, mapping: str, name: str, master: str, out: str, overwrite: bool) -> None:
    from recsys.spark.errors import SparkDataError, SparkUnavailable, first_line
    from recsys.spark.importer import import_spark_dataset
    from recsys.spark.settings import SparkSettings
    from recsys.workspace import WorkspaceError

    if not _paths(events):
        st.error("Give the path of the events (Parquet or CSV) the cluster can read.")
        return
    if not name.strip():
        st.error("Give the dataset a name.")
        return
    try:
        settings = SparkSettings.from_env(master=master.strip() or None)
        with st.spinner(f"Validating and importing on Spark ({settings.master})…"):
            info, report = import_spark_dataset(ws, name.strip(), _paths(events), items=_paths(items),
                                                mapping=parse_mapping(mapping), out=out.strip() or None,
                                                settings=settings, overwrite=overwrite)
    except (SparkUnavailable, SparkDataError, WorkspaceError, ValueError) as exc:
        st.error(f"Spark import failed: {first_line(exc)}")
        return
    except Exception as exc:  # noqa: BLE001 - a cluster error of any kind: shown, not raised
        st.error(f"Spark import failed ({type(exc).__name__}): {first_line(exc)}")
        return
    state.set_current_dataset(info.name)
    state.flash(f"Imported **{info.name}** with Spark: {report.stats['n_rows_kept']:,} events, "
                f"{report.stats['n_rows_dropped']:,} dropped; events at `{info.metadata['spark']['events_path']}`")
    st.rerun()
