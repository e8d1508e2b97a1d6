"""Train: pick models, set their parameters, train them as background jobs and watch."""

from __future__ import annotations

import streamlit as st

from recsys.models.registry import REGISTRY, availability
from recsys.runs import list_runs
from recsys.training.jobs import cancel_job, job_status, list_jobs, start_training_job
from ui.guards import require_dataset
from ui.shell import ensure_shell
from ui import state
from ui.jobs_view import render_job
from ui.model_form import model_params_form
from ui.workspace import workspace

ensure_shell()

SPLITS = {
    "leave_last_out": "Leave last out (each customer's last item is the test)",
    "temporal": "Temporal cut-off (the last 10% of time is the test)",
    "random": "Random holdout per customer (20%)",
    "user_cold": "User-cold: 20% of customers held out entirely (known by attributes only)",
    "item_cold": "Item-cold: 20% of items held out entirely (ranked among themselves)",
    "none": "No split: train on everything (for campaigns; no metrics)",
}

st.title("Train")
state.show_flash()
ws = workspace()
dataset = require_dataset(ws)

info = ws.dataset_info(dataset)
has_time = "timestamp" in info.columns.get("interactions", [])
has_text = any(c in info.columns.get("items", []) for c in ("title", "description"))
st.caption(f"Dataset **{dataset}** · engine **{info.engine}** · {info.row_counts.get('interactions', 0):,} events · "
           f"device **{state.current_device()}** (change it in the sidebar)")
if info.engine == "spark":
    st.info("This dataset runs on Spark: train ALS there with `python -m recsys spark train --dataset "
            f"{dataset}` (docs/spark.md). Local models below need its local copy of the events.")

with st.form("train-form", border=True):
    usable = {k: s for k, s in REGISTRY.items() if availability(s, has_timestamps=has_time, has_item_text=has_text)[0]}
    blocked = {k: availability(s, has_timestamps=has_time, has_item_text=has_text)[1]
               for k, s in REGISTRY.items() if k not in usable}
    chosen = st.multiselect("Models", list(usable), default=[k for k in ("popularity", "ease") if k in usable],
                            format_func=lambda k: f"{REGISTRY[k].display_name} ({REGISTRY[k].family})")
    if blocked:
        st.caption("Unavailable for this dataset: " + "; ".join(f"{REGISTRY[k].display_name}: {why}"
                                                                  for k, why in blocked.items()))
    split_options = [s for s in SPLITS if has_time or s not in ("leave_last_out", "temporal")]
    left, mid, right = st.columns(3)
    split = left.selectbox("Evaluation split", split_options, format_func=SPLITS.get)
    seed = mid.number_input("Seed", value=0, step=1, min_value=0)
    budget = right.number_input("Time budget per model (minutes, 0 = none)", value=0.0, min_value=0.0, step=1.0)
    params = {}
    for key in chosen:
        with st.expander(f"{REGISTRY[key].display_name} parameters"):
            st.caption(REGISTRY[key].description)
            params[key] = model_params_form(REGISTRY[key], key="train")
    submitted = st.form_submit_button("Start training", type="primary", disabled=False)

if submitted:
    if not chosen:
        st.warning("Choose at least one model.")
    else:
        for key in chosen:
            start_training_job(ws, dataset=dataset, model_key=key, params=params.get(key, {}), split=split,
                               device=state.current_device(), seed=int(seed),
                               time_budget_s=budget * 60 or None)
        state.flash(f"Started {len(chosen)} training job(s). They run in the background: you can leave this page.")
        st.rerun()


ACTIVE_JOBS_KEY = "_train_active_jobs"


@st.fragment(run_every=1.5)
def live_jobs() -> None:
    jobs = list_jobs(ws, active_only=False)[:12]
    if not jobs:
        st.caption("No training jobs yet.")
        return
    active = set()
    for job in jobs:
        status = job_status(ws, job["id"])
        if status.active:
            active.add(job["id"])
        if render_job(ws, job, status):
            cancel_job(ws, job["id"])
            st.rerun(scope="fragment")
    finished = st.session_state.get(ACTIVE_JOBS_KEY, set()) - active
    st.session_state[ACTIVE_JOBS_KEY] = active
    if finished:  # a job ended: redraw the whole page so the Runs table below lists its run
        st.rerun()


st.subheader("Jobs")
live_jobs()

st.subheader("Runs")
runs = list_runs(ws, dataset=dataset)
if runs.empty:
    st.caption("No finished runs for this dataset yet.")
else:
    st.dataframe(runs, hide_index=True, width="stretch")
