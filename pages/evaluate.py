"""Evaluate: compare runs on their held-out split, with intervals and significance; cold-start protocols."""

from __future__ import annotations

import inspect

import plotly.express as px
import streamlit as st

from recsys.adapt.cold_start import compare_cold_start
from recsys.evaluation.report import ACCURACY_METRICS, compare_stored_runs, run_label
from recsys.evaluation.splits import COLD_PROTOCOLS, PROTOCOLS, item_cold_split, make_split, user_cold_split
from recsys.runs import dataset_from_tables, list_runs, load_run
from ui.guards import require_dataset
from ui.shell import ensure_shell
from ui.workspace import workspace

ensure_shell()

PROTOCOL_LABELS = {
    "leave_last_out": "Leave last out",
    "temporal": "Temporal",
    "random": "Random",
    "user_cold": "User-cold (new customers)",
    "item_cold": "Item-cold (new items)",
}
PROTOCOL_HELP = {
    "leave_last_out": "Each customer's last item is held out: can the model guess what comes next?",
    "temporal": "Everything after a date is held out, for customers seen before it: tomorrow from yesterday.",
    "random": "A random share of each customer's items is held out: taste, regardless of time.",
    "user_cold": "A random 20% of customers are held out entirely: all their events are the test, and the "
                 "models know them only by their attributes (age group, country, tier...). Hybrid scores them "
                 "from those attributes; the Attributes reference recommends what customers with the same "
                 "values engage with; models without attributes (ALS, EASE...) cannot tell these customers "
                 "apart, so they land at Popularity's level or below. Popularity is the baseline to beat.",
    "item_cold": "A random 20% of items with events are held out entirely: every event on them is the test, "
                 "and each customer's list is ranked among the held-out items only (over the whole catalog "
                 "the warm items would crowd them out for every model). Content models (ContentTFIDF, "
                 "ContentNeural, Hybrid) place new items from their text and labels; Popularity knows nothing "
                 "about them, so it scores at chance level: the baseline to beat.",
}
# The cold protocols' maker arguments when a run does not store them: the makers' own defaults.
COLD_DEFAULTS = {protocol: {name: p.default for name, p in inspect.signature(maker).parameters.items()
                            if p.default is not inspect.Parameter.empty}
                 for protocol, maker in (("user_cold", user_cold_split), ("item_cold", item_cold_split))}

st.title("Evaluate")
ws = workspace()
dataset = require_dataset(ws)

runs = list_runs(ws, dataset=dataset)
runs = runs[runs["split"] != "none"]
with_runs = [p for p in PROTOCOLS if p in set(runs["split"])]
choices = with_runs + [p for p in COLD_PROTOCOLS if p not in with_runs]
if not with_runs:
    st.info("No evaluated runs for this dataset yet: train some models on the Train page. Meanwhile the "
            "cold-start protocols below compare their references.")


@st.cache_data(max_entries=16, show_spinner="Evaluating the runs on their split...")
def comparison(run_ids: tuple[str, ...], metric: str, k: int):
    return compare_stored_runs(workspace(), run_ids, metric=metric, k=k)


@st.cache_data(max_entries=8, show_spinner="Evaluating the cold-start protocol (fitting the references)...")
def cold_comparison(name: str, fingerprint: str, protocol: str, args: tuple, run_ids: tuple[str, ...],
                    metric: str, k: int):
    ws_ = workspace()
    models = {}
    split = None
    for run_id in run_ids:
        loaded = load_run(ws_, run_id, with_split=split is None)
        split = split or loaded.split
        models[run_label(loaded.record)] = loaded.model
    if split is None:
        data = dataset_from_tables(ws_.load_tables(name), ws_.dataset_info(name).metadata)
        split = make_split(data, protocol, **dict(args))
    return compare_cold_start(split, models, metric=metric, k=k)


left, mid, right = st.columns([2, 1, 1])
protocol = left.selectbox("Protocol", choices, format_func=PROTOCOL_LABELS.get,
                          help="How the held-out events are chosen; runs are compared on the split they were "
                               "trained with. The cold-start protocols are always available.")
metric = mid.selectbox("Metric", ACCURACY_METRICS, format_func=str.upper)
k = right.selectbox("K", [5, 10, 20], index=1)
st.caption(PROTOCOL_HELP[protocol])
candidates = runs[runs["split"] == protocol]
records = {r["id"]: r for r in ws.list_records("runs", dataset=dataset)}  # read once per rerun
labels = {r.run_id: f"{r.display_name} · {r.engine} · {r.run_id[-6:]} "
                    f"({r.created_at[:16]})"
          for r in candidates.itertuples()}

if protocol in COLD_PROTOCOLS:
    args = dict(COLD_DEFAULTS[protocol])
    if protocol == "user_cold":
        args["onboarding"] = st.selectbox(
            "Onboarding picks per new customer", [0, 1, 3, 5],
            help="0: the model knows new customers by their attributes only. n: each one's first n items "
                 "(in time order) are revealed in training, as picked at sign-up; the rest is the test.")
    matching = [r for r in labels
                if {**COLD_DEFAULTS[protocol], **records[r].get("split", {}).get("args", {})} == args]
    latest_per_model = candidates[candidates["run_id"].isin(matching)].drop_duplicates("model")["run_id"].tolist()
    chosen = st.multiselect("Runs trained on this protocol", matching, default=latest_per_model,
                            format_func=labels.get,
                            help="Train with this split (Train page, or `python -m recsys train --split "
                                 f"{protocol}`) to rank a model here; the references are always shown.")
    try:
        result = cold_comparison(dataset, ws.dataset_info(dataset).fingerprint, protocol,
                                 tuple(sorted(args.items())), tuple(chosen), metric, int(k))
    except (ValueError, KeyError) as err:
        st.error(f"This protocol cannot be evaluated on this dataset: {err}")
        st.stop()
else:
    latest_per_model = candidates.drop_duplicates("model")["run_id"].tolist()
    chosen = st.multiselect("Runs", list(labels), default=latest_per_model, format_func=labels.get)
    if not chosen:
        st.info("Choose runs to compare.")
        st.stop()
    try:
        result = comparison(tuple(chosen), metric, int(k))
    except (ValueError, KeyError) as err:
        st.error(f"These runs cannot be compared: {err}")
        st.stop()

name = f"{metric}@{k}"
board = result.board.reset_index()
st.subheader(f"Leaderboard by {name.upper()}")
st.caption("Mean over test customers with a 95% bootstrap interval; each run is compared with the best "
           "by a paired bootstrap on the same customers (p adjusted with Holm's method).")
board["significance"] = board.apply(
    lambda r: "best" if r["run"] == r["vs"] else ("worse (p<0.05)" if r["p_holm"] < 0.05 else "not distinguishable"),
    axis=1)
figure = px.bar(board, x="run", y="mean", error_y=board["high"] - board["mean"],
                error_y_minus=board["mean"] - board["low"], color="significance", height=340,
                labels={"mean": name})
st.plotly_chart(figure, key="leaderboard")
st.dataframe(board[["run", "mean", "low", "high", "n_users", "diff", "diff_low", "diff_high", "p_holm",
                    "significance"]], hide_index=True, width="stretch")

left, right = st.columns(2)
curve = result.curves[result.curves["metric"] == metric]
left.plotly_chart(px.line(curve, x="k", y="value", color="run", markers=True, height=340,
                          title=f"{metric.upper()} by K", labels={"value": metric}), key="curve")
beyond = right.selectbox("Beyond accuracy", [f"coverage@{k}", f"novelty@{k}", f"diversity@{k}", f"avgpop@{k}"],
                         help="Coverage: share of the catalog recommended to anyone. Novelty: mean "
                              "self-information. Diversity: share of item pairs from different categories. "
                              "Avgpop: mean popularity of recommended items.")
right.plotly_chart(px.scatter(result.tradeoff, x=beyond, y=name, color="run", height=340,
                              title=f"Accuracy versus {beyond.split('@')[0]}"), key="tradeoff")
st.dataframe(result.tradeoff, hide_index=True, width="stretch")
