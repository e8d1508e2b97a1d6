"""The shared sidebar: workspace dataset picker and device picker."""

from __future__ import annotations

import streamlit as st

from recsys.data.samples import ensure_default_dataset
from recsys.training.device import available_devices, describe_device, resolve_device
from ui import state
from ui.workspace import workspace


def render_sidebar() -> None:
    """Draw the dataset and device pickers; import the default sample on first start."""
    ws = workspace()
    with st.sidebar:
        _ensure_a_dataset(ws)
        names = [info.name for info in ws.list_datasets()]
        if names:
            state.persistent_selectbox("Dataset", names, store_key=state.DATASET_KEY,
                                       help="Datasets imported into the workspace. Import more on the Data page.")
        else:
            st.info("No dataset yet: import one on the Data page.")
        state.persistent_selectbox("Device", available_devices(), store_key=state.DEVICE_KEY,
                                   help="Where models train. 'auto' uses a CUDA GPU when one is present.")
        st.caption(f"Training on: {describe_device(resolve_device(state.current_device()))}")
        st.caption(f"Workspace: `{ws.root}`")


def _ensure_a_dataset(ws) -> None:
    if st.session_state.get("_default_checked"):
        return
    try:
        with st.spinner("First start: importing the bundled sample dataset..."):
            ensure_default_dataset(ws)
    except Exception as err:  # never a traceback on screen
        st.error(f"The bundled sample could not be imported: {err}")
    st.session_state["_default_checked"] = True
