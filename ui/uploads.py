"""Cached reading of uploaded and bundled files into raw (all-string) tables."""

from __future__ import annotations

import pathlib

import pandas as pd
import streamlit as st

from recsys.data.readers import read_table
from recsys.data.validation import ValidationReport, validate_tables
from recsys.data.mapping import ColumnMapping


@st.cache_data(max_entries=12, show_spinner="Reading the file...")
def read_uploaded(name: str, data: bytes) -> pd.DataFrame:
    return read_table(data, name=name)


@st.cache_data(max_entries=12, show_spinner="Reading the sample...")
def read_path(path: str, modified: float) -> pd.DataFrame:
    return read_table(path, name=pathlib.Path(path).name)


@st.cache_data(max_entries=6, show_spinner="Validating...")
def validate(raw: dict[str, pd.DataFrame], mappings: dict[str, dict], files: dict[str, str]) -> ValidationReport:
    """Validate raw tables under the confirmed mappings (cached per content + mapping)."""
    parsed = {table: ColumnMapping.from_dict(m) for table, m in mappings.items()}
    return validate_tables(raw, parsed, files)
