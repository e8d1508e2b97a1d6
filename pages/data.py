"""Data: bring a catalog, an event log and customers in; validate; import; profile."""

from __future__ import annotations

import pathlib

import streamlit as st

from recsys.data.errors import DataValidationError
from recsys.data.importer import import_dataset
from recsys.data.samples import SAMPLES
from recsys.workspace import WorkspaceError
from ui.shell import ensure_shell
from ui import charts, state
from ui.mapping_form import mapping_form
from ui.report import render_report
from ui.spark_import import render_spark_import
from ui.uploads import read_path, read_upload, validate
from ui.workspace import dataset_profile, workspace

ensure_shell()

TABLE_LABELS = {"interactions": "Events / interactions (required)", "items": "Item catalog (optional)",
                "users": "Customers (optional)"}
UPLOAD_TYPES = ["csv", "tsv", "txt", "gz", "parquet", "xlsx", "xlsm"]

st.title("Data")
state.show_flash()
ws = workspace()
profile_tab, import_tab = st.tabs(["Profile of the current dataset", "Import data"])


def render_spark_profile(info) -> None:
    """A Spark dataset without a local copy: the profile tables Spark computed at import."""
    st.info("The events of this dataset stay on the Spark cluster "
            f"(`{info.metadata.get('spark', {}).get('events_path', '?')}`); below is the profile Spark computed. "
            "Train and export with `python -m recsys spark ...` (docs/spark.md).")
    for table in [t for t in info.columns if t.startswith(("profile_", "spark_checks"))]:
        st.caption(table.replace("_", " "))
        st.dataframe(ws.load_table(info.name, table), hide_index=True, width="stretch")


def render_profile(name: str) -> None:
    info = ws.dataset_info(name)
    if info.engine == "spark" and "interactions" not in info.columns:
        st.caption(f"Dataset **{info.name}** · engine **spark** · fingerprint `{info.fingerprint[:16]}`")
        render_spark_profile(info)
        return
    profile = dataset_profile(info.name, info.fingerprint)
    s = profile.stats
    st.caption(f"Dataset **{info.name}** · engine **{info.engine}** · fingerprint `{info.fingerprint[:16]}` · "
               f"imported {info.created_at}")
    cols = st.columns(5)
    cols[0].metric("Events", f"{s['events']:,}")
    cols[1].metric("Customers", f"{s['customers']:,}")
    cols[2].metric("Catalog items", f"{s['catalog_items']:,}", help=f"{s['items_without_events']:,} without events")
    cols[3].metric("Sparsity", f"{s['sparsity']:.3%}")
    cols[4].metric("Top 1% items' share", f"{s['top_1pct_items_event_share']:.0%}")
    if "first_event" in s:
        st.caption(f"From {s['first_event']} to {s['last_event']} ({s['days_covered']} days). "
                   f"Median events per customer {s['events_per_customer_median']:.0f}, per item "
                   f"{s['events_per_item_median']:.0f}; {s['single_event_customers']:,} customers with one event.")
    else:
        st.warning("This dataset has no timestamps: time splits, sequence models, time decay and replay "
                   "are unavailable for it.")
    left, right = st.columns(2)
    figure = charts.events_over_time(profile)
    if figure is not None:
        left.plotly_chart(figure, key="events_over_time")
    right.plotly_chart(charts.long_tail(profile), key="long_tail")
    left, right = st.columns(2)
    left.plotly_chart(charts.customer_activity(profile), key="activity")
    figure = charts.category_mix(profile)
    if figure is not None:
        right.plotly_chart(figure, key="category_mix")
    if profile.user_breakdowns:
        st.subheader("Customer attributes")
        attrs = list(profile.user_breakdowns)
        for i, col in enumerate(st.columns(min(3, len(attrs)))):
            for attr in attrs[i::3]:
                col.plotly_chart(charts.attribute_breakdown(attr, profile.user_breakdowns[attr]), key=f"attr-{attr}")
    dropped = info.metadata.get("dropped_rows", {})
    if any(dropped.values()):
        st.info("Rows dropped at import: " + ", ".join(f"{t}: {n:,}" for t, n in dropped.items() if n))


def raw_tables_from_upload() -> tuple[dict, dict, str]:
    raw, files = {}, {}
    for table, label in TABLE_LABELS.items():
        upload = st.file_uploader(label, type=UPLOAD_TYPES, key=f"upload-{table}")
        if upload is None:
            continue
        try:
            raw[table] = read_upload(upload)
            files[table] = upload.name
        except DataValidationError as err:
            st.error(f"{label}: {err}")
    name = pathlib.Path(files.get("interactions", "my-data")).name.split(".")[0]
    return raw, files, name


def raw_tables_from_sample() -> tuple[dict, dict, str]:
    key = st.selectbox("Sample", list(SAMPLES), format_func=lambda k: SAMPLES[k].title)
    sample = SAMPLES[key]
    st.caption(sample.description)
    raw, files = {}, {}
    for table, path in sample.paths().items():
        try:
            raw[table] = read_path(str(path), path.stat().st_mtime)
            files[table] = path.name
        except (DataValidationError, OSError) as err:
            st.error(f"{path.name}: {err}")
    return raw, files, sample.dataset_name()


def render_import() -> None:
    source = st.radio("Source", ["Upload files", "Bundled sample"], horizontal=True)
    raw, files, default_name = raw_tables_from_upload() if source == "Upload files" else raw_tables_from_sample()
    if "interactions" not in raw:
        st.info("Add an events file (CSV, TSV, Excel or Parquet; gzip is fine) to start. "
                "Columns are mapped in the next step.")
        return
    st.subheader("1. Confirm the column mapping")
    mappings = {}
    for table, frame in raw.items():
        with st.expander(f"{TABLE_LABELS[table]} — {files[table]}: {len(frame):,} rows, "
                         f"{len(frame.columns)} columns", expanded=table == "interactions"):
            st.dataframe(frame.head(8), hide_index=True, width="stretch")
            mappings[table] = mapping_form(table, frame, key=f"map-{files[table]}").to_dict()
    st.subheader("2. Validation report")
    report = validate(raw, mappings, files)
    render_report(report, key="import")
    st.subheader("3. Import into the workspace")
    name = st.text_input("Dataset name", value=default_name, max_chars=64,
                         help="Letters, digits, '-', '_' and '.'; spaces become '_'.")
    overwrite = st.checkbox("Replace a dataset of the same name", value=False)
    if st.button("Import", type="primary", disabled=not report.ok):
        try:
            info = import_dataset(report, name, ws, source={"files": files}, overwrite=overwrite)
        except (DataValidationError, WorkspaceError) as err:
            st.error(str(err))
            return
        state.set_current_dataset(info.name)
        state.flash(f"Imported **{info.name}**: " + ", ".join(f"{t} {n:,} rows" for t, n in info.row_counts.items()
                                                               if not t.startswith("dropped")))
        st.rerun()


with profile_tab:
    current = state.current_dataset()
    if current and ws.has_dataset(current):
        render_profile(current)
    else:
        st.info("No dataset selected: import one in the 'Import data' tab.")

with import_tab:
    render_import()
    st.divider()
    render_spark_import(ws)
