"""Data layer: contract, readers, column mapping, validation report, import, Dataset.

Names are exported lazily so that importing :mod:`recsys.data.schema` or
:mod:`recsys.data.errors` (the CLI's ``--help``) does not import pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataValidationError": "recsys.data.errors",
    "Role": "recsys.data.schema",
    "TABLE_ROLES": "recsys.data.schema",
    "TABLES": "recsys.data.schema",
    "ColumnMapping": "recsys.data.mapping",
    "auto_map": "recsys.data.mapping",
    "apply_mapping": "recsys.data.mapping",
    "parse_mappings": "recsys.data.mapping",
    "read_table": "recsys.data.readers",
    "Issue": "recsys.data.validation",
    "ValidationReport": "recsys.data.validation",
    "validate_tables": "recsys.data.validation",
    "load_and_validate": "recsys.data.validation",
    "import_dataset": "recsys.data.importer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'recsys.data' has no attribute {name!r}")
