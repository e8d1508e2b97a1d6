"""Typed accessors for the few choices kept in session state (no raw keys in pages)."""

from __future__ import annotations

import streamlit as st

DATASET_KEY = "current_dataset"
DEVICE_KEY = "current_device"
PENDING_DATASET_KEY = "_requested_dataset"


def current_dataset() -> str | None:
    """Name of the workspace dataset picked in the sidebar, or None."""
    return st.session_state.get(DATASET_KEY)


def set_current_dataset(name: str) -> None:
    """Set the sidebar choice; call only before the sidebar widget is drawn."""
    st.session_state[DATASET_KEY] = name


def request_dataset(name: str) -> None:
    """Ask the sidebar to select ``name`` on the next run (pages run after the widget exists)."""
    st.session_state[PENDING_DATASET_KEY] = name


def apply_requested_dataset() -> None:
    """Called by the sidebar before drawing its dataset picker."""
    pending = st.session_state.pop(PENDING_DATASET_KEY, None)
    if pending:
        st.session_state[DATASET_KEY] = pending


def current_device() -> str:
    return st.session_state.get(DEVICE_KEY, "auto")


FLASH_KEY = "_flash_message"


def flash(message: str) -> None:
    """Show ``message`` once on the next run (survives ``st.rerun``)."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.success(message)
