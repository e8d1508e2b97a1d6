"""The column-mapping form: auto-detected roles the analyst confirms or changes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.data.mapping import ColumnMapping, auto_map
from recsys.data.schema import TABLE_ROLES

NONE = "(not in this file)"


def mapping_form(table: str, frame: pd.DataFrame, *, key: str) -> ColumnMapping:
    """One select box per role of ``table``, pre-filled by ``auto_map``; returns the mapping."""
    detected = auto_map(table, list(frame.columns))
    options = [NONE] + list(frame.columns)
    roles: dict[str, str] = {}
    columns = st.columns(3)
    for i, role in enumerate(TABLE_ROLES[table]):
        default = detected.roles.get(role.name)
        label = role.name + (" *" if role.required else "")
        with columns[i % 3]:
            choice = st.selectbox(label, options, index=options.index(default) if default in options else 0,
                                  key=f"{key}-{table}-{role.name}", help=role.description)
        if choice != NONE:
            roles[role.name] = choice
    return ColumnMapping(table=table, roles=roles)
