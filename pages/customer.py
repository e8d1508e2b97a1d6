"""Customer: one customer's profile, history and recommendations, why each is recommended, and what-if."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.explain import available_methods, deletion_test, explain, resolve_method, sentence, what_if
from recsys.explain.dispatch import METHOD_TITLES
from recsys.explain.global_view import embedding_map, influential_items, shap_summary
from recsys.explain.profile import customer_profile, find_customers, segment_columns, timeline
from recsys.explain.record import item_labels
from recsys.explain.similar import likely_customers, similar_items
from recsys.explain.whatif import history_items, scores_from_history
from recsys.runs import load_run
from recsys.workspace import Workspace
from ui import explain_charts as charts
from ui.downloads import deferred
from ui.guards import require_dataset, require_runs
from ui.shell import ensure_shell
from ui.workspace import workspace

ensure_shell()
FIDELITY_USERS = 12
ANY = "(any)"

st.title("Customer")
ws = workspace()
dataset = require_dataset(ws)
runs = require_runs(ws, dataset)
root = str(ws.root)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner="Loading the run...")
def loaded(root: str, run_id: str):
    return load_run(Workspace(root), run_id)


@st.cache_data(max_entries=128, show_spinner="Explaining...")
def explanation(root: str, run_id: str, user: int, item: int, method: str):
    run = loaded(root, run_id)
    return explain(run.model, run.data, user, item, method)


@st.cache_data(max_entries=32, show_spinner="Deletion test on a small sample of customers...")
def fidelity(root: str, run_id: str, method: str) -> dict:
    run = loaded(root, run_id)
    return deletion_test(run.model, run.data, method, users=FIDELITY_USERS, seed=0).to_dict()


@st.cache_data(max_entries=32, show_spinner="Finding similar items and likely customers...")
def item_view(root: str, run_id: str, item: int):
    run = loaded(root, run_id)
    return similar_items(run.model, run.data, item), likely_customers(run.model, run.data, item)


@st.cache_data(max_entries=8, show_spinner="SHAP over 60 customers' top recommendations...")
def global_shap(root: str, run_id: str):
    run = loaded(root, run_id)
    return shap_summary(run.model, run.data, n_users=60)


@st.cache_data(max_entries=8, show_spinner="Projecting the item embeddings...")
def item_map(root: str, run_id: str, projection: str):
    run = loaded(root, run_id)
    return embedding_map(run.model, run.data, method=projection)


@st.cache_data(max_entries=8, show_spinner="Explaining 40 customers' top recommendations...")
def influential(root: str, run_id: str):
    run = loaded(root, run_id)
    return influential_items(run.model, run.data, n_users=40)


def show_explanation(e) -> None:
    """Sentence, charts, the method's own check, caveats, and the record as a table and JSON."""
    st.info(sentence(e, data))
    figures = charts.charts_for(e)
    if e.kind == "attention":
        a1, a2 = st.columns(2)
        blocks, heads = e.meta["n_blocks"], e.meta["n_heads"]
        block = a1.selectbox("Attention block", range(blocks), index=blocks - 1, key="attention_block",
                             format_func=lambda b: f"block {b + 1}")
        head = a2.selectbox("Head", [None, *range(heads)], key="attention_head",
                            format_func=lambda h: "mean over heads" if h is None else f"head {h + 1}")
        figures = [charts.history_bars(e), charts.attention_heatmap(e, block, head)]
    for n, figure in enumerate(figures):
        st.plotly_chart(figure, key=f"explain_{n}")
    check = {"exact": f"contributions add up to the score (residual {e.meta.get('residual', 0):.1e})",
             "captum": f"completeness gap |delta| = {abs(e.meta.get('delta', 0)):.1e} "
                       f"(baseline: {e.meta.get('baseline')})",
             "shap": f"base value {e.base_value:.3f} + SHAP values = score {e.score:.3f}",
             "attention": f"{e.meta.get('aggregate')} attention over {e.meta.get('length')} positions"}[e.method]
    st.caption(f"Score {e.score:.4f}; {check}; {e.meta['seconds'] * 1000:.0f} ms. " + " ".join(e.caveats))
    with st.expander("Contributions table and JSON"):
        st.dataframe(e.contributions, hide_index=True, width="stretch")
        st.download_button("Download the explanation (JSON)", deferred(e.to_json()), file_name=f"explanation_{e.user}.json")


def show_fidelity() -> None:
    st.subheader("How faithful is each method?")
    try:
        table = pd.DataFrame([fidelity(root, run_id, m) for m in methods])
    except ValueError as err:
        st.caption(f"Deletion test not available: {err}")
        return
    st.caption(f"Deletion test on {FIDELITY_USERS} sampled customers: removing the top-attributed "
               f"{table['unit'].iloc[0][:-1]} should lower the score more than removing a random one. "
               "Win rate = share of customers for whom it does.")
    st.plotly_chart(charts.fidelity_chart(table), key="fidelity")
    st.dataframe(table[["method", "users", "win_rate", "mean_drop_top", "mean_drop_random"]], hide_index=True)


labels = {r.run_id: f"{r.display_name} · {r.run_id[-6:]} ({r.created_at[:16]})" for r in runs.itertuples()}
run_id = st.selectbox("Run", list(labels), format_func=labels.get, key="customer_run",
                      help="Recommendations and explanations come from this trained model.")
run = loaded(root, run_id)
model, data = run.model, run.data
for note in run.notes:
    st.warning(note)
methods = available_methods(model)
customer_tab, item_tab, global_tab = st.tabs(["Customer", "Item view", "Global view"])

with customer_tab:
    left, right = st.columns([1, 2])
    query = left.text_input("Customer id contains", key="customer_query")
    with right.expander("Segment filters"):
        segments = segment_columns(data)
        cols = st.columns(3)
        filters = {c: cols[n % 3].multiselect(c, v, key=f"seg_{c}") for n, (c, v) in enumerate(segments.items())}
    found = find_customers(data, query=query, filters=filters)
    found = found[found["user_idx"] < model.n_users_]
    if found.empty:
        st.info("No customer matches.")
        st.stop()
    names = dict(zip(found["user_idx"], found["user_id"] + " · " + found["events"].astype(str) + " events"))
    user = int(st.selectbox(f"Customer ({len(found)} shown, most active first)", list(names),
                            format_func=names.get, key="customer_pick"))

    profile = customer_profile(data, user)
    p1, p2, p3 = st.columns([1, 1, 1])
    p1.dataframe(pd.DataFrame({"attribute": list(profile.attributes), "value": [str(v) for v in
                 profile.attributes.values()]}), hide_index=True, width="stretch")
    p2.dataframe(pd.DataFrame({"activity": list(profile.activity), "value": [str(v) for v in
                 profile.activity.values()]}), hide_index=True, width="stretch")
    if len(profile.top_categories):
        p3.plotly_chart(charts.category_bars(profile.top_categories), key="top_categories")
    st.plotly_chart(charts.timeline_chart(timeline(data, user)), key="timeline")

    st.subheader("Recommendations")
    recs = model.recommend([user], 10).to_frame(data)
    recs = pd.concat([recs[["rank", "item_idx", "score"]], item_labels(data, recs["item_idx"])], axis=1)
    st.dataframe(recs.drop(columns="item_idx"), hide_index=True, width="stretch")
    if recs.empty or not methods:
        st.info(f"No explanation method applies to {type(model).__name__}." if not methods else
                "No recommendation for this customer.")
    else:
        st.subheader("Why this recommendation?")
        e1, e2 = st.columns([2, 1])
        titles = dict(zip(recs["item_idx"], recs["rank"].astype(str) + ". " + recs["title"]))
        item = int(e1.selectbox("Recommendation", list(titles), format_func=titles.get, key="customer_item"))
        method = e2.selectbox("Method", methods, index=methods.index(resolve_method(model, "auto")),
                              format_func=METHOD_TITLES.get, key="customer_method")
        show_explanation(explanation(root, run_id, user, item, method))
        show_fidelity()

    st.subheader("What if...")
    remove, context = [], None
    if scores_from_history(model):
        own = history_items(model, user)
        names = dict(zip(own, item_labels(data, own)["title"]))
        remove = st.multiselect("Remove history items", list(names), format_func=names.get, key="whatif_remove")
    if "context" in model.capabilities:
        fields = model.context_fields()
        w1, w2, w3 = st.columns(3)
        picked = {"device": w1.selectbox("Device", [ANY, *fields.get("device", [])], key="whatif_device"),
                  "channel": w2.selectbox("Channel", [ANY, *fields.get("channel", [])], key="whatif_channel"),
                  "hour": w3.selectbox("Hour", [ANY, *range(24)], key="whatif_hour")}
        context = {k: v for k, v in picked.items() if v != ANY} or None
    if remove or context:
        try:
            result = what_if(model, data, user, remove=remove if not context else (), context=context)
        except ValueError as err:
            st.error(str(err))
        else:
            st.plotly_chart(charts.whatif_chart(result.moves, 10), key="whatif")
            st.dataframe(result.moves.drop(columns="item_idx"), hide_index=True, width="stretch")
    else:
        st.caption("Remove history items (history models) or set a context (context models) to see the new list.")

with item_tab:
    shown = pd.concat([recs[["item_idx", "title"]], timeline(data, user)[["item_idx", "title"]]])
    catalog = dict(zip(shown["item_idx"], shown["title"]))
    item_pick = int(st.selectbox("Item (this customer's recommendations, then history)", list(catalog),
                                 format_func=catalog.get, key="item_view_pick"))
    try:
        similar, likely = item_view(root, run_id, item_pick)
        st.subheader("Similar items, and why")
        st.dataframe(similar.drop(columns="item_idx"), hide_index=True, width="stretch")
        st.subheader("Customers most likely to engage")
        st.dataframe(likely.drop(columns="user_idx"), hide_index=True, width="stretch")
    except ValueError as err:
        st.info(str(err))

with global_tab:
    if st.toggle("Compute the global view (a few seconds)", key="global_on"):
        if model.key == "hybrid":
            values, summary = global_shap(root, run_id)
            st.plotly_chart(charts.shap_summary_chart(values, summary), key="shap_summary")
            st.dataframe(summary, hide_index=True)
        projection = st.radio("Projection", ["pca", "svd"], horizontal=True, key="global_projection")
        try:
            st.plotly_chart(charts.embedding_map_chart(item_map(root, run_id, projection)), key="map")
        except ValueError as err:
            st.info(str(err))
        if scores_from_history(model) and methods:
            st.subheader("Most influential history items")
            st.dataframe(influential(root, run_id).head(15).drop(columns="item_idx"),
                         hide_index=True, width="stretch")
