"""Adaptive Recommendation Studio: the dashboard's router and shared sidebar.

Run with ``streamlit run app.py``. Every page is listed explicitly below; pages
are thin (read widgets, call ``recsys``, render) and share the sidebar choices
(dataset, device) through ``ui.state``.
"""

from __future__ import annotations

import pathlib

import streamlit as st

from ui.auth import require_access
from ui.shell import use_explicit_navigation
from ui.sidebar import render_sidebar
from ui.workspace import set_workspace_owner

ASSETS = pathlib.Path(__file__).parent / "assets"
use_explicit_navigation()

st.set_page_config(
    page_title="Adaptive Recommendation Studio",
    page_icon=str(ASSETS / "logo.png"),
    layout="wide",
)

PAGES = [
    st.Page("pages/data.py", title="Data", icon=":material/database:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/leaderboard:"),
    st.Page("pages/fairness.py", title="Fairness", icon=":material/balance:"),
    st.Page("pages/customer.py", title="Customer", icon=":material/person_search:"),
    st.Page("pages/replay.py", title="Replay", icon=":material/replay:"),
    st.Page("pages/segments.py", title="Segments", icon=":material/group:"),
]

set_workspace_owner(require_access())
navigation = st.navigation(PAGES)
render_sidebar()
navigation.run()
