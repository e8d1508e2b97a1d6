"""Render one background training job: status, progress, loss curve, cancel."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

ACTIVE = {"queued", "running"}
ICONS = {"queued": "⏳", "running": "🔄", "succeeded": "✅", "failed": "❌", "cancelled": "⏹️"}


def _curve(events: list[dict]):
    rows = [{"epoch": e.get("step"), **{k: v for k, v in (e.get("metrics") or {}).items()
                                        if isinstance(v, (int, float))}}
            for e in events if e.get("stage") in ("epoch", "iteration")]
    if len(rows) < 2:
        return None
    frame = pd.DataFrame(rows).melt(id_vars="epoch", var_name="metric", value_name="value").dropna()
    fig = px.line(frame, x="epoch", y="value", color="metric", markers=True, height=240)
    fig.update_layout(margin=dict(t=10, b=10), legend_title_text="")
    return fig


def render_job(ws, job: dict, status) -> bool:
    """Draw the job; returns True when the analyst clicked Cancel."""
    spec = job.get("spec", job)
    title = f"{ICONS.get(status.status, '•')} {spec.get('model_key', '?')} on {spec.get('dataset', '?')} — {status.status}"
    cancel = False
    with st.container(border=True):
        st.markdown(f"**{title}**  \n<small>job `{job['id']}`</small>", unsafe_allow_html=True)
        if status.status in ACTIVE:
            fraction = min(max(float(status.progress or 0.0), 0.0), 1.0)
            eta = f", about {status.eta:.0f}s left" if status.eta else ""
            st.progress(fraction, text=f"{status.message or 'working'} · {status.elapsed:.0f}s elapsed{eta}")
            cancel = st.button("Cancel", key=f"cancel-{job['id']}")
        if status.metrics:
            st.caption(" · ".join(f"{k} {v:.4f}" for k, v in status.metrics.items() if isinstance(v, (int, float))))
        if status.status == "failed" and status.error:
            st.error(status.error)
        if status.status == "succeeded" and status.run_id:
            st.caption(f"Run `{status.run_id}` saved.")
        figure = _curve(ws.read_events("jobs", job["id"]))
        if figure is not None:
            st.plotly_chart(figure, key=f"curve-{job['id']}")
    return cancel
