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
        state.apply_requested_dataset()
        names = [info.name for info in ws.list_datasets()]
        if names:
            if state.current_dataset() not in names:
                state.set_current_dataset(names[0])
            st.selectbox("Dataset", names, key=state.DATASET_KEY,
                         help="Datasets imported into the workspace. Import more on the Data page.")
        else:
            st.info("No dataset yet: import one on the Data page.")
        devices = available_devices()
        if state.current_device() not in devices:
            st.session_state[state.DEVICE_KEY] = "auto"
        st.selectbox("Device", devices, key=state.DEVICE_KEY,
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
