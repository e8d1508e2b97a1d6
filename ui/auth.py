"""Access control for shared deployments.

Three modes, chosen by ``.streamlit/secrets.toml`` (never committed):

- ``[auth]`` with an OIDC provider (``redirect_uri``, ``cookie_secret``,
  ``client_id``, ``client_secret``, ``server_metadata_url``): Streamlit's
  ``st.login``; every signed-in user gets a workspace of their own.
- ``[access] password = "..."``: one shared password, checked in constant time;
  the workspace is shared.
- neither: open, which is safe only because the server binds to 127.0.0.1 by
  default (``.streamlit/config.toml``).
"""

from __future__ import annotations

import hashlib
import hmac

import streamlit as st

SESSION_OK = "_access_granted"


def _secrets() -> dict:
    try:
        return {key: st.secrets[key] for key in st.secrets}
    except Exception:  # no secrets file at all: open mode
        return {}


def access_mode() -> str:
    """"oidc", "password" or "open"."""
    secrets = _secrets()
    if "auth" in secrets:
        return "oidc"
    if "access" in secrets and secrets["access"].get("password"):
        return "password"
    return "open"


def require_access() -> str | None:
    """Stop the script until the visitor is allowed in.

    Returns a stable workspace owner id when each user has a workspace of their
    own (OIDC mode), else None.
    """
    mode = access_mode()
    if mode == "oidc":
        if not st.user.is_logged_in:
            st.title("Adaptive Recommendation Studio")
            st.write("Sign in to continue.")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        with st.sidebar:
            st.caption(f"Signed in as {mask_email(str(st.user.get('email', '')))}")
            st.button("Sign out", on_click=st.logout)
        return owner_id(str(st.user.get("email") or st.user.get("sub")))
    if mode == "password" and not st.session_state.get(SESSION_OK):
        expected = str(_secrets()["access"]["password"])
        st.title("Adaptive Recommendation Studio")
        with st.form("password-form"):
            given = st.text_input("Password", type="password")
            if st.form_submit_button("Enter", type="primary"):
                if hmac.compare_digest(given.encode(), expected.encode()):
                    st.session_state[SESSION_OK] = True
                    st.rerun()
                st.error("Wrong password.")
        st.stop()
    return None


def owner_id(identity: str) -> str:
    """A path-safe, non-reversible folder name for a user's workspace."""
    return "u-" + hashlib.sha256(identity.strip().lower().encode()).hexdigest()[:20]


def mask_email(email: str) -> str:
    """``jane.doe@example.com`` -> ``j•••@example.com``: never show personal data in full."""
    name, _, domain = email.partition("@")
    return f"{name[:1]}•••@{domain}" if domain else "•••"
