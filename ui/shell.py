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


SHELL_SEEN = "_app_shell_seen"


def use_explicit_navigation() -> bool:
    """Turn off the legacy pages-folder mode; True when it was on (this run is a legacy run)."""
    st.session_state[SHELL_SEEN] = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        return True
    return False


def ensure_shell() -> None:
    """Called by every page: restart a session's first run through ``app.py`` if it was skipped.

    Only a session that has never run ``app.py`` is rerun: AppTest resets the legacy
    flag before every run, and a rerun there would swallow the button click that
    started the run (the session keeps the shell's choices, so nothing is missing).
    """
    first_run = not st.session_state.get(SHELL_SEEN)
    if PagesManager.uses_pages_directory and first_run:
        use_explicit_navigation()
        st.rerun()
