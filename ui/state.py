"""Typed accessors for the few choices kept in session state (no raw keys in pages).

Widget keys are separate from the stored choices: Streamlit drops a widget's
state when a run does not draw it (for example on some page switches), so each
choice lives under its own key and the widget copies into it on change.
"""

from __future__ import annotations

import streamlit as st

DATASET_KEY = "current_dataset"
DEVICE_KEY = "current_device"
FLASH_KEY = "_flash_message"


def current_dataset() -> str | None:
    """Name of the workspace dataset picked in the sidebar, or None."""
    return st.session_state.get(DATASET_KEY)


def set_current_dataset(name: str) -> None:
    st.session_state[DATASET_KEY] = name


def current_device() -> str:
    return st.session_state.get(DEVICE_KEY, "auto")


def set_current_device(name: str) -> None:
    st.session_state[DEVICE_KEY] = name


def persistent_selectbox(label: str, options: list, *, store_key: str, **kwargs):
    """A selectbox whose choice survives page switches, stored under ``store_key``."""
    widget_key = f"_widget_{store_key}"
    current = st.session_state.get(store_key)
    index = options.index(current) if current in options else 0
    st.session_state[store_key] = options[index] if options else None

    def copy_choice() -> None:
        st.session_state[store_key] = st.session_state[widget_key]

    if widget_key in st.session_state and st.session_state[widget_key] != st.session_state[store_key]:
        st.session_state[widget_key] = st.session_state[store_key]
    return st.selectbox(label, options, index=index, key=widget_key, on_change=copy_choice, **kwargs)


def flash(message: str) -> None:
    """Show ``message`` once on the next run (survives ``st.rerun``)."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)
