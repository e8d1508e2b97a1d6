"""Make every URL go through ``app.py``'s explicit navigation.

Streamlit (1.67) still treats a folder named ``pages/`` next to the entry point
as an old-style multipage app: on a fresh server, a first request for
``/fairness`` runs ``pages/fairness.py`` alone, without ``app.py``'s sidebar,
access control or page list. The design fixes ``pages/`` as the folder name, so
instead we switch that legacy mode off (a class flag Streamlit reads before each
run) and, when a page finds itself started the legacy way, rerun it through
``app.py``, which then routes to the same URL.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def use_explicit_navigation() -> bool:
    """Turn off the legacy pages-folder mode; True when it was on (this run is a legacy run)."""
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        return True
    return False


def ensure_shell() -> None:
    """Called first by every page: restart the run through ``app.py`` if it was skipped."""
    if use_explicit_navigation():
        st.rerun()
