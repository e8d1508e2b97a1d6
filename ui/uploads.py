"""Cached reading of uploaded and bundled files into raw (all-string) tables."""

from __future__ import annotations

import pathlib

import pandas as pd
import streamlit as st

from recsys.data.errors import DataValidationError
from recsys.data.readers import read_table
from recsys.data.validation import ValidationReport, validate_tables
from recsys.data.mapping import ColumnMapping


def upload_limit_mb() -> int:
    """``server.maxUploadSize`` (MB), the limit set in ``.streamlit/config.toml``."""
    return int(st.get_option("server.maxUploadSize"))


def check_upload_size(name: str, size: int) -> None:
    """Refuse a file over the upload limit with a message saying what to do instead.

    The browser and the server enforce the limit too; this check makes the message the
    analyst's, whichever way a file arrives.
    """
    limit = upload_limit_mb()
    if size > limit * 1024 * 1024:
        raise DataValidationError(
            f"the file is {size / 1024 / 1024:,.1f} MB, over the {limit:,} MB upload limit "
            "(server.maxUploadSize in .streamlit/config.toml); import larger files with "
            "'python -m recsys import'", file=name, code="too_large",
        )


def read_upload(upload) -> pd.DataFrame:
    """Check the size of a ``st.file_uploader`` file, then read it (cached by content)."""
    check_upload_size(upload.name, upload.size)
    return read_uploaded(upload.name, upload.getvalue())


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
