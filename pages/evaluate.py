"""Evaluate: compare runs on their held-out split, with intervals and significance."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from recsys.evaluation.report import ACCURACY_METRICS, compare_stored_runs
from recsys.runs import list_runs
from ui.shell import ensure_shell
from ui import state
from ui.workspace import workspace

ensure_shell()

st.title("Evaluate")
ws = workspace()
dataset = state.current_dataset()
if not dataset or not ws.has_dataset(dataset):
    st.info("Pick or import a dataset first (sidebar / Data page).")
    st.stop()

runs = list_runs(ws, dataset=dataset)
runs = runs[runs["split"] != "none"]
if runs.empty:
    st.info("No evaluated runs for this dataset yet: train some models on the Train page.")
    st.stop()


@st.cache_data(max_entries=16, show_spinner="Evaluating the runs on their split...")
def comparison(run_ids: tuple[str, ...], metric: str, k: int):
    return compare_stored_runs(workspace(), run_ids, metric=metric, k=k)


left, mid, right = st.columns([2, 1, 1])
split = left.selectbox("Split", sorted(runs["split"].unique()), help="Runs are compared on one split.")
candidates = runs[runs["split"] == split]
latest_per_model = candidates.drop_duplicates("model")["run_id"].tolist()
metric = mid.selectbox("Metric", ACCURACY_METRICS, format_func=str.upper)
k = right.selectbox("K", [5, 10, 20], index=1)
labels = {r.run_id: f"{r.display_name} · {r.run_id[-6:]} ({r.created_at[:16]})" for r in candidates.itertuples()}
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
