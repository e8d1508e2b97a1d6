"""Column mapping: which source column plays which canonical role.

A mapping's ``roles`` dict maps role -> source column (``None`` or absent: not
mapped).  Partial overrides written as plain dicts (the CLI's ``--map`` JSON) are
completed by auto-detection in :func:`resolve_mapping`.  Source columns not used
by any role are kept under their snake_case name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from recsys.data.errors import DataValidationError
from recsys.data.schema import TABLES, header_key, role_names, roles_for, snake_case

# Second pass for headers such as 'web_user_id' or 'order_timestamp'.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "user_id": ("userid", "customerid", "visitorid", "clientid", "memberid"),
    "item_id": ("itemid", "productid", "movieid", "articleid", "contentid", "sku"),
    "timestamp": ("timestamp", "datetime", "time", "date"),
}


@dataclass
class ColumnMapping:
    """Role -> source column for one table (``None`` or absent: role not mapped)."""

    table: str
    roles: dict[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise DataValidationError(
                f"unknown table {self.table!r}; expected one of {', '.join(TABLES)}",
                code="bad_mapping",
            )
        known = role_names(self.table)
        unknown = [r for r in self.roles if r not in known]
        if unknown:
            raise DataValidationError(
                f"{self.table} mapping names unknown role(s) {', '.join(map(repr, unknown))}; "
                f"roles are {', '.join(known)}",
                code="bad_mapping",
            )
        self.roles = {r: (None if c is None else str(c)) for r, c in self.roles.items()}

    def mapped(self) -> dict[str, str]:
        """Only the roles that have a source column, in schema order."""
        return {r: self.roles[r] for r in role_names(self.table) if self.roles.get(r)}

    def source_of(self, role: str) -> str | None:
        """Source column of ``role``, or ``None``."""
        return self.roles.get(role)

    def output_names(self, columns: Iterable[str]) -> dict[str, str]:
        """Source column -> output name for the columns no role uses (kept columns)."""
        used_sources = set(self.mapped().values())
        taken = set(self.mapped())
        out: dict[str, str] = {}
        for col in columns:
            if col in used_sources:
                continue
            base = snake_case(col)
            name, n = base, 2
            # Role names and earlier kept columns win; later clashes get a suffix.
            while name in taken:
                name, n = f"{base}_{n}", n + 1
            taken.add(name)
            out[col] = name
        return out

    def describe(self) -> str:
        """One line, e.g. ``user_id <- CustomerID, item_id <- StockCode``."""
        return ", ".join(f"{r} <- {c}" for r, c in self.mapped().items()) or "(no columns mapped)"

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "roles": dict(self.roles)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], table: str | None = None) -> ColumnMapping:
        """Build from ``{"table": ..., "roles": {...}}`` or, with ``table``, a bare roles dict.

        A bare dict may also be written source -> role (``{"CustomerID": "user_id"}``).
        """
        if not isinstance(data, Mapping):
            raise DataValidationError("a mapping must be a JSON object", code="bad_mapping")
        if "roles" in data and isinstance(data["roles"], Mapping):
            return cls(str(data.get("table", table)), _orient(data["roles"], data.get("table", table)))
        if table is None:
            raise DataValidationError("mapping has no 'table'", code="bad_mapping")
        return cls(table, _orient(data, table))


def _orient(roles: Mapping[str, Any], table: Any) -> dict[str, str | None]:
    """Accept role -> column, or column -> role when the keys are not role names."""
    known = set(role_names(str(table))) if table in TABLES else set()
    keys, values = set(roles), {v for v in roles.values() if isinstance(v, str)}
    if known and not keys & known and values and values <= known:
        return {v: k for k, v in roles.items()}
    bad = [v for v in roles.values() if v is not None and not isinstance(v, str)]
    if bad:
        raise DataValidationError(
            f"mapping values must be column names (strings) or null, got {bad[0]!r}",
            code="bad_mapping",
        )
    return dict(roles)


def auto_map(
    table: str, columns: Iterable[str], fixed: Mapping[str, str | None] | None = None
) -> ColumnMapping:
    """Recognise common headers (case, space and underscore insensitive).

    Parameters
    ----------
    table : {"interactions", "items", "users"}
    columns : iterable of str
        Source headers.
    fixed : dict, optional
        Roles already decided (``None``: leave unmapped); only the others are detected.

    Returns
    -------
    ColumnMapping
        With every role of the table as a key (``None`` where nothing matched).
    """
    columns = [str(c) for c in columns]
    fixed = dict(fixed or {})
    used = {c for c in fixed.values() if c}
    roles: dict[str, str | None] = {}
    for role in roles_for(table):
        if role.name in fixed:
            roles[role.name] = fixed[role.name]
            continue
        free = {}
        for col in columns:
            if col not in used:
                free.setdefault(header_key(col), col)
        match = next((free[a] for a in role.aliases if a in free), None)
        if match is None and role.name in _SUFFIXES:
            match = next(
                (col for key, col in free.items()
                 if key and any(key.endswith(s) for s in _SUFFIXES[role.name])),
                None,
            )
        roles[role.name] = match
        if match is not None:
            used.add(match)
    return ColumnMapping(table, roles)


def resolve_mapping(
    table: str, columns: Iterable[str], mapping: ColumnMapping | Mapping[str, Any] | None
) -> ColumnMapping:
    """The mapping to apply to a table with ``columns``.

    A :class:`ColumnMapping` is final (a role it lacks stays unmapped: that is what
    the mapping form produces); a plain dict is a set of overrides (JSON from
    ``--map``) whose unmentioned roles are auto-detected; ``None`` auto-detects all.
    """
    if mapping is None:
        return auto_map(table, columns)
    if isinstance(mapping, ColumnMapping):
        if mapping.table != table:
            raise DataValidationError(
                f"a {mapping.table} mapping was given for the {table} table", code="bad_mapping"
            )
        return mapping
    overrides = ColumnMapping.from_dict(mapping, table)
    return auto_map(table, columns, fixed=overrides.roles)


def parse_mappings(spec: Any) -> dict[str, dict[str, str | None]]:
    """Check ``{"interactions": {"user_id": "CustomerID"}, "items": {...}}`` (dict or JSON text).

    Returns table -> role overrides (role -> column, ``None``: unmapped), ready for
    :func:`resolve_mapping`; a :class:`ColumnMapping` value is kept as it is.
    """
    if isinstance(spec, (str, bytes)):
        try:
            spec = json.loads(spec)
        except json.JSONDecodeError as err:
            raise DataValidationError(f"mapping is not valid JSON: {err}", code="bad_mapping") from None
    if not isinstance(spec, Mapping):
        raise DataValidationError(
            'mapping must be a JSON object like {"interactions": {"user_id": "CustomerID"}}',
            code="bad_mapping",
        )
    out: dict[str, Any] = {}
    for table, value in spec.items():
        if table not in TABLES:
            raise DataValidationError(
                f"mapping names unknown table {table!r}; expected {', '.join(TABLES)}",
                code="bad_mapping",
            )
        out[table] = value if isinstance(value, ColumnMapping) else ColumnMapping.from_dict(value, table).roles
    return out


def apply_mapping(df: pd.DataFrame, mapping: ColumnMapping, *, file: str | None = None) -> pd.DataFrame:
    """Rename ``df`` to canonical names: mapped roles first (schema order), then kept columns.

    Raises
    ------
    DataValidationError
        When a mapped source column is not in ``df``.
    """
    columns = [str(c) for c in df.columns]
    for role, col in mapping.mapped().items():
        if col not in columns:
            raise DataValidationError(
                f"the mapping uses column '{col}' for {role}, but the file has no such column; "
                f"found: {', '.join(columns) or '(none)'}",
                file=file, column=col, code="mapping_column_missing",
            )
    data = {role: df[col] for role, col in mapping.mapped().items()}
    for col, name in mapping.output_names(columns).items():
        data[name] = df[col]
    return pd.DataFrame(data, index=df.index)
