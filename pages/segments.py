"""Segments: build an audience from a run, look at it, export it (with a manifest) and per-customer lists."""

from __future__ import annotations

import streamlit as st

from recsys.runs import load_run
from recsys.segments import views
from recsys.segments.formats import CONTACT_COLUMNS, FORMATS, TABLE_FORMATS
from recsys.segments.lists import RERANK_METHODS, ListOptions, customer_lists
from recsys.segments.privacy import DEFAULT_MIN_SIZE, SegmentTooSmall, mask_email, mask_phone
from recsys.segments.rules import AFFINITY_HELP, AFFINITY_MODES, RuleError, SegmentRule, Target
from recsys.segments.store import (build_segment, export_lists, export_segment, list_exports, list_segments,
                                   load_segment, read_export, rerun_segment, save_segment)
from recsys.workspace import Workspace
from ui import segment_charts as charts
from ui import state
from ui.guards import require_dataset, require_runs
from ui.shell import ensure_shell
from ui.workspace import workspace

ensure_shell()

SEGMENT_KEY, EXPORT_KEY, LISTS_KEY = "segments_segment_id", "segments_export_id", "segments_lists_export_id"

st.title("Segments")
ws = workspace()
dataset = require_dataset(ws)
runs = require_runs(ws, dataset)
root = str(ws.root)
fingerprint = ws.dataset_info(dataset).fingerprint  # in cache keys: new data, new audiences


@st.cache_resource(max_entries=2, ttl=3600, show_spinner="Loading the run...")
def loaded_run(root: str, run_id: str, fingerprint: str):
    return load_run(Workspace(root), run_id)


@st.cache_data(max_entries=8, show_spinner="Scoring every eligible customer...")
def audience_for(root: str, rule_json: str, fingerprint: str):
    rule = SegmentRule.from_json(rule_json)
    return build_segment(Workspace(root), rule, loaded=loaded_run(root, rule.run_id, fingerprint))


@st.cache_data(max_entries=8, show_spinner="Training-period model vs the held-out period...")
def lift_for(root: str, rule_json: str) -> dict:
    result, _ = views.run_holdout_lift(Workspace(root), SegmentRule.from_json(rule_json), n_random=300)
    return result.to_dict()


def download_pair(saved, key: str) -> None:
    left, right = st.columns(2)
    left.download_button(f"Download {saved.file_name}", saved.data, file_name=saved.file_name, mime=saved.mime,
                         key=f"{key}-file")
    right.download_button("Download the manifest (JSON)", saved.manifest_bytes, file_name=saved.manifest_name,
                          mime="application/json", key=f"{key}-manifest")


labels = {r.run_id: f"{r.display_name} · {r.run_id[-6:]} ({r.created_at[:16]}, split {r.split})"
          for r in runs.itertuples()}
with st.form("segment-form"):
    st.subheader("Build a segment")
    c1, c2 = st.columns([2, 1])
    run_id = c1.selectbox("Run", list(labels), format_func=labels.get, help="The model that predicts affinity.")
    affinity = c2.selectbox("Affinity", AFFINITY_MODES, help="; ".join(f"{k}: {v}" for k, v in AFFINITY_HELP.items()))
    data = loaded_run(root, run_id, fingerprint).data
    categories = sorted(data.item_features["category"].dropna().astype(str).unique()) \
        if data.item_features is not None and "category" in data.item_features else []
    t1, t2 = st.columns([1, 2])
    kind = t1.radio("Target", ["Category", "Items", "Attribute query"] if categories else ["Items", "Attribute query"])
    category = t2.selectbox("Category", categories or ["(none)"], disabled=kind != "Category")
    items = t2.text_input("Item ids (comma-separated)", disabled=kind != "Items")
    query = t2.text_input("Item query", placeholder="category = Outdoor and price_tier = premium",
                          disabled=kind != "Attribute query",
                          help="Clauses joined by 'and'; operators = != < <= > >= in; quote values with spaces.")
    f1, f2, f3 = st.columns(3)
    customers = f1.text_input("Customer filter", placeholder="country = Japan and loyalty_tier in (gold, platinum)")
    min_events = f2.number_input("Min. events", 0, 10_000, 0)
    active_days = f3.number_input("Active in the last N days (0 = any)", 0, 3650, 0)
    s1, s2, s3, s4 = st.columns(4)
    size = s1.number_input("Size (0 = no cap)", 0, 10_000_000, 500, step=100)
    threshold = s2.text_input("Threshold (optional)", help="Affinity at least this; for rank: rank at most this.")
    min_size = s3.number_input("Minimum size", 1, 1_000_000, DEFAULT_MIN_SIZE,
                               help="Exports of smaller segments are refused.")
    exclude_buyers = s4.checkbox("Exclude buyers of the target", value=True)
    name = st.text_input("Segment name", placeholder="e.g. Outdoor fans, summer")
    submitted = st.form_submit_button("Build segment", type="primary")

if submitted:
    try:
        target = (Target(category=category) if kind == "Category" else
                  Target(items=tuple(items.split(","))) if kind == "Items" else Target(query=query))
        rule = SegmentRule(name=name.strip() or target.describe(), run_id=run_id, target=target, affinity=affinity,
                           customer_query=customers.strip() or None, min_events=int(min_events),
                           active_days=float(active_days) or None, exclude_buyers=exclude_buyers,
                           size=int(size) or None, threshold=float(threshold) if threshold.strip() else None,
                           min_size=int(min_size))
        audience = audience_for(root, rule.to_json(), fingerprint)
        st.session_state[SEGMENT_KEY] = save_segment(ws, audience)
        st.session_state.pop(EXPORT_KEY, None)
        st.session_state.pop(LISTS_KEY, None)
        state.flash(f"Segment saved with {audience.size:,} customers.")
    except (RuleError, ValueError, KeyError) as err:
        st.error(f"This segment cannot be built: {err}")
state.show_flash()

saved = list_segments(ws, dataset=dataset)
segment_id = st.session_state.get(SEGMENT_KEY)
if segment_id not in set(saved["segment_id"]):
    segment_id = saved["segment_id"].iloc[0] if len(saved) else None
if segment_id is None:
    st.info("Build a segment above to see its size, composition and exports.")
    st.stop()

rule, _ = load_segment(ws, segment_id)
audience = audience_for(root, rule.to_json(), fingerprint)
loaded = loaded_run(root, rule.run_id, fingerprint)
st.subheader(f"Segment: {rule.name}")
st.caption(f"{rule.describe()} · run {rule.run_id} · saved as `{segment_id}`")
r1, r2 = st.columns([3, 1])
newer = r1.selectbox("Re-run this segment on", list(labels), format_func=labels.get, key="rerun-run",
                     help="The same rule on the current data and the chosen run (e.g. a newer model).")
if r2.button("Re-run", key="rerun"):
    try:
        _, st.session_state[SEGMENT_KEY] = rerun_segment(ws, segment_id, run_id=newer)
        state.flash("Segment re-run and saved as a new version.")
        st.rerun()
    except (RuleError, ValueError, KeyError) as err:
        st.error(f"This segment cannot be re-run on that run: {err}")
summary = views.size_summary(audience)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Customers", f"{summary['members']:,}")
m2.metric("Eligible", f"{summary['eligible']:,}", help="Customers passing the filters, buyers excluded.")
m3.metric("Share of all customers", f"{summary['share_of_base']:.1%}")
m4.metric("Buyers excluded", f"{summary['buyers_excluded']:,}")
if audience.size < rule.min_size:
    st.warning(f"Below the minimum size of {rule.min_size:,}: this segment cannot be exported.")

left, right = st.columns(2)
left.plotly_chart(charts.score_distribution(views.score_distribution(audience), rule.affinity), key="distribution")
attributes = views.composition_attributes(loaded.data)
if attributes:
    by = right.selectbox("Composition by", attributes,
                         index=attributes.index("country") if "country" in attributes else 0)
    table = views.composition(audience.members["user_idx"].to_numpy(), loaded.data, by)
    right.plotly_chart(charts.composition(table, by), key="composition")

members = audience.members[["rank", "user_id", "affinity"]].head(200).copy()
features = loaded.data.user_features
if features is not None:
    rows = audience.members["user_idx"].head(200).to_numpy()
    for role, mask in (("email", mask_email), ("phone", mask_phone)):
        column = next((c for c in CONTACT_COLUMNS[role] if c in features), None)
        if column:  # contact details are only ever shown masked
            members[role] = [mask(v) for v in features[column].iloc[rows]]
    for column in attributes[:4]:
        members[column] = features[column].iloc[rows].to_numpy()
st.dataframe(members, hide_index=True, width="stretch", height=240)

if loaded.record.split_protocol == "temporal":
    if st.button("Estimate lift on the held-out period", key="lift"):
        result = lift_for(root, rule.to_json())
        st.plotly_chart(charts.lift(result), key="lift-chart")
        st.caption(f"Members engaged with the target {result['segment_rate']:.1%} of the time in the held-out "
                   f"period against {result['baseline_rate']:.1%} for random segments of the same size from the "
                   f"same eligible customers (95% of random segments: {result['random_low']:+.0%} to "
                   f"{result['random_high']:+.0%}; p = {result['p_value']:.3f}).")
else:
    st.caption("Lift on a held-out period needs a run trained with the 'temporal' split.")

st.subheader("Export")
e1, e2, e3 = st.columns([2, 1, 1])
fmt = e1.selectbox("Format", list(FORMATS), format_func=lambda f: FORMATS[f][2])
pseudonymous = e2.checkbox("Pseudonymous ids", help="Salted HMAC-SHA256 ids; the salt stays in the workspace.")
if e3.button("Prepare the export", key="prepare-export"):
    try:
        st.session_state[EXPORT_KEY] = export_segment(ws, audience, fmt, loaded=loaded, segment_id=segment_id,
                                                      pseudonymous=pseudonymous).id
    except SegmentTooSmall as err:
        st.error(str(err))
if st.session_state.get(EXPORT_KEY):
    download_pair(read_export(ws, st.session_state[EXPORT_KEY]), "segment-export")

st.subheader("Per-customer lists for this segment")
l1, l2, l3, l4, l5 = st.columns(5)
n = l1.number_input("Items each", 1, 100, 10)
method = l2.selectbox("Re-ranker", ["(none)", *RERANK_METHODS])
strength = l3.slider("Strength", 0.0, 1.0, 0.5, disabled=method == "(none)")
cap = l4.number_input("Max per category (0 = any)", 0, 100, 0)
list_fmt = l5.selectbox("List format", TABLE_FORMATS)
if st.button("Prepare the lists", key="prepare-lists"):
    try:
        options = ListOptions(n=int(n), rerank=None if method == "(none)" else method, strength=float(strength),
                              max_per_category=int(cap) or None)
        lists = customer_lists(loaded.model, loaded.data, options, audience.members["user_idx"].to_numpy())
        st.session_state[LISTS_KEY] = export_lists(ws, lists, list_fmt, loaded=loaded, name=f"{rule.name}-lists",
                                                   min_size=rule.min_size, segment_id=segment_id).id
    except (SegmentTooSmall, ValueError) as err:
        st.error(str(err))
if st.session_state.get(LISTS_KEY):
    download_pair(read_export(ws, st.session_state[LISTS_KEY]), "lists-export")

if len(saved) >= 2:
    st.subheader("Overlap between saved segments")
    names = {r.segment_id: f"{r.name} · {r.segment_id[-6:]} ({r.n_members:,})" for r in saved.itertuples()}
    chosen = st.multiselect("Segments", list(names), default=list(names)[:2], format_func=names.get)
    if len(chosen) >= 2:
        result = views.overlap({names[s]: load_segment(ws, s)[1]["user_id"] for s in chosen})
        st.plotly_chart(charts.overlap(result.matrix), key="overlap")
        st.dataframe(result.pairs, hide_index=True, width="stretch")

st.subheader("History")
st.caption("Saved segments (re-run one on the current data with `python -m recsys segment` or the builder) and "
           "every export with its file's SHA-256, as written in its manifest.")
st.dataframe(saved[["name", "created_at", "n_members", "model", "description", "segment_id"]], hide_index=True,
             width="stretch")
exports = list_exports(ws, dataset=dataset)
if len(exports):
    st.dataframe(exports.drop(columns=["segment_id"]), hide_index=True, width="stretch")
