"""Page preconditions: stop a page with a friendly pointer when what it needs is missing."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.runs import list_runs
from recsys.workspace import Workspace
from ui import state


def require_dataset(ws: Workspace) -> str:
    """The sidebar's current dataset, or stop the page with a pointer to the Data page."""
    dataset = state.current_dataset()
    if not dataset or not ws.has_dataset(dataset):
        st.info("Pick or import a dataset first (sidebar / Data page).")
        st.stop()
    return dataset


def require_runs(ws: Workspace, dataset: str, *, held_out: bool = False,
                 missing: str = "No run for this dataset yet: train a model on the Train page.") -> pd.DataFrame:
    """The dataset's runs (only those with a held-out split when ``held_out``), or stop the page."""
    runs = list_runs(ws, dataset=dataset)
    if held_out:
        runs = runs[runs["split"] != "none"]
    if runs.empty:
        st.info(missing)
        st.stop()
    return runs
