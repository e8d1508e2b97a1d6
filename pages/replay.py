"""Replay: follow a period step by step, an incrementally updated model against a frozen one."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

from recsys.adapt.replay import fit_before, replay
from recsys.adapt.update import SUPPORTED_KEYS
from recsys.models.registry import create
from recsys.runs import list_runs, load_run
from recsys.training.options import FitOptions
from ui.guards import require_dataset
from ui.shell import ensure_shell
from ui import state
from ui.workspace import workspace

ensure_shell()

CANCEL_KEY = "_replay_cancel"
RESULT_KEY = "_replay_result"
REQUEST_KEY = "_replay_request"
TREND_SHIFT = pd.Timestamp("2025-12-01")  # the sample data's planted shift (sample_data/README.md)

st.title("Replay")
st.caption("A model fitted up to the period start is frozen; a copy takes in each period's events "
           "(incremental update, no retraining). Both rank what customers engage with next.")
ws = workspace()
dataset = require_dataset(ws)
runs = list_runs(ws, dataset=dataset)
runs = runs[runs["model"].isin(sorted(SUPPORTED_KEYS))]
if runs.empty:
    st.info("No run of a model with incremental updates (ALS, ItemKNN, EASE, ...) yet: train one first.")
    st.stop()


@st.cache_resource(max_entries=2, show_spinner="Loading the run...")
def loaded(run_id: str):
    return load_run(workspace(), run_id)


labels = {r.run_id: f"{r.display_name} · {r.run_id[-6:]} ({r.created_at[:16]})" for r in runs.itertuples()}
run_id = st.selectbox("Run", list(labels), format_func=labels.get)
run = loaded(run_id)
data = run.data
if not data.has_timestamps or not data.n_events:
    st.warning("This dataset has no timestamps: replay needs them.")
    st.stop()
first, last = (pd.to_datetime(data.frame["timestamp"].agg(f), unit="s") for f in ("min", "max"))
default_start = TREND_SHIFT if first < TREND_SHIFT < last else max(first, last - pd.Timedelta(days=28))
form = st.form("replay-form")
left, mid, right, far = form.columns(4)
start = pd.Timestamp(left.date_input("Period start", default_start.date(), min_value=first.date(),
                                     max_value=last.date()))
end = pd.Timestamp(mid.date_input("Period end", min(start + pd.Timedelta(days=28), last).date(),
                                  min_value=first.date(), max_value=last.date()))
step = right.radio("Step", ["week", "day"], horizontal=True)
max_users = far.number_input("Customers per step", 100, 20_000, 1_000, step=100,
                             help="A seeded sample of the period's active customers keeps steps quick.")
# Callbacks, not return values: a click must survive the shell's rerun (ui/shell.py).
form.form_submit_button("Replay", type="primary", on_click=lambda: st.session_state.update({REQUEST_KEY: True}))
if st.session_state.pop(REQUEST_KEY, False):
    st.session_state[CANCEL_KEY] = False
    cancel_slot = st.empty()  # the button exists only while a replay runs
    cancel_slot.button("Cancel", help="Stops after the current step.", key="replay-cancel",
                       on_click=lambda: st.session_state.update({CANCEL_KEY: True}))
    bar = st.progress(0.0, text="Fitting the frozen model on the events before the period...")
    model = fit_before(create(run.record.model_key, **run.record.params), data, int(start.timestamp()),
                       options=FitOptions(device=state.current_device(), seed=run.record.seed))
    result = replay(model, data, int(start.timestamp()), int(end.timestamp()),
                    step_days=7 if step == "week" else 1, max_users=int(max_users), seed=run.record.seed,
                    callbacks=[lambda e: bar.progress(e.step / e.total, text=f"Step {e.step}/{e.total}: {e.message}")],
                    should_stop=lambda: st.session_state.get(CANCEL_KEY, False))
    bar.empty()
    cancel_slot.empty()
    st.session_state[RESULT_KEY] = (run_id, result)

saved = st.session_state.get(RESULT_KEY)
if not saved or saved[0] != run_id:
    st.stop()
result = saved[1]
if result.cancelled:
    st.warning(f"Cancelled after {len(result.steps)} step(s).")
if not result.steps:
    st.stop()
frame = result.to_frame()
gain = (frame["ndcg_incremental"] - frame["ndcg_frozen"]).mean()
a, b, c = st.columns(3)
a.metric(f"NDCG@{result.k} incremental", f"{frame['ndcg_incremental'].mean():.4f}", f"{gain:+.4f} vs frozen")
b.metric(f"NDCG@{result.k} frozen", f"{frame['ndcg_frozen'].mean():.4f}")
c.metric("Update time per step", f"{frame['update_seconds'].mean():.2f} s")
long = frame.melt(id_vars="period_start", value_vars=["ndcg_incremental", "ndcg_frozen"],
                  var_name="model", value_name="ndcg")
figure = px.line(long, x="period_start", y="ndcg", color="model", markers=True, height=340,
                 title=f"Next-period NDCG@{result.k}")
if frame["period_start"].min() <= TREND_SHIFT <= frame["period_start"].max():
    figure.add_vline(x=TREND_SHIFT, line_dash="dash")
    figure.add_annotation(x=TREND_SHIFT, y=1, yref="paper", text="planted trend shift", showarrow=False)
st.plotly_chart(figure, key="replay-ndcg")
mix = result.mix_frame()
top = mix[mix["source"] == "actual"].groupby("category")["share"].mean().nlargest(6).index
st.plotly_chart(px.line(mix[mix["category"].isin(top)], x="period_start", y="share", color="category",
                        facet_col="source", markers=True, height=360,
                        title="Category mix: incremental lists, frozen lists, actual events"), key="replay-mix")
st.dataframe(frame, hide_index=True, width="stretch")
