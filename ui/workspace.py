"""Cached access to the on-disk workspace for pages."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.data.profile import DataProfile, profile_dataset
from recsys.workspace import Workspace, default_root


OWNER_KEY = "_workspace_owner"


def set_workspace_owner(owner: str | None) -> None:
    """With sign-in on, each user works in ``<root>/users/<owner>``; None means the shared root."""
    st.session_state[OWNER_KEY] = owner


def workspace() -> Workspace:
    """This session's workspace (``RECSYS_WORKSPACE`` or ``./workspace``, per user when signed in)."""
    root = default_root()
    owner = st.session_state.get(OWNER_KEY)
    return _workspace_at(str(root / "users" / owner if owner else root))


@st.cache_resource(max_entries=8)
def _workspace_at(root: str) -> Workspace:
    # One object per root and server process: safe to share, all state is on disk.
    return Workspace(root)


@st.cache_data(max_entries=8, show_spinner=False)
def load_tables(name: str, fingerprint: str) -> dict[str, pd.DataFrame]:
    """Tables of a dataset; the fingerprint in the key makes a re-import invalidate the cache."""
    return workspace().load_tables(name)


@st.cache_data(max_entries=8, show_spinner="Profiling the dataset...")
def dataset_profile(name: str, fingerprint: str) -> DataProfile:
    tables = load_tables(name, fingerprint)
    return profile_dataset({k: v for k, v in tables.items() if k in ("interactions", "items", "users")})
