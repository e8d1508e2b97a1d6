"""Segment rules: what to target, how to score affinity, whom to consider, how many to keep.

A ``SegmentRule`` is a saved, named recipe; ``recsys.segments.audience`` turns it into
members. Attribute queries use a small, safe language parsed here (no ``eval``)::

    category = Outdoor and price_tier = premium
    country in ("United Kingdom", Ireland) and loyalty_tier != bronze
    price >= 10 and publish_date > 2025-06-01

Clauses are joined by ``and``; operators are ``= != < <= > >= in`` (``not in`` too);
values are quoted ('...' or "...") or bare (bare words run up to the next ``and``).
Text compares case-insensitively; a missing value satisfies no clause.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from recsys.segments.privacy import DEFAULT_MIN_SIZE, is_personal

AFFINITY_MODES = ("max", "mean", "rank")
AFFINITY_HELP = {
    "max": "the highest predicted score among the target items",
    "mean": "the mean predicted score over the target items",
    "rank": "the rank of the best target item in the customer's full list (1 = first; lower is better)",
}
OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|!=|==|=|<|>)
  | (?P<punct>[(),\[\]])
  | (?P<word>[^\s=!<>(),\[\]'"]+)
""", re.VERBOSE)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


class RuleError(ValueError):
    """A rule or query that cannot be used, with a message for the analyst."""


# ----- the query language ------------------------------------------------------------------------

@dataclass(frozen=True)
class Clause:
    """``column op value``; ``values`` holds one value, or several for ``in`` / ``not in``."""

    column: str
    op: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        shown = [_quote(v) for v in self.values]
        rhs = f"({', '.join(shown)})" if self.op in ("in", "not in") else shown[0]
        return f"{self.column} {self.op} {rhs}"


def parse_query(text: str) -> tuple[Clause, ...]:
    """Parse ``text`` into clauses; raise ``RuleError`` saying where it went wrong."""
    tokens = _tokenize(text)
    if not tokens:
        raise RuleError("the query is empty")
    clauses: list[Clause] = []
    pos = 0
    while True:
        clause, pos = _clause(tokens, pos, text)
        clauses.append(clause)
        if pos == len(tokens):
            return tuple(clauses)
        kind, value = tokens[pos]
        if kind != "word" or value.lower() != "and":
            hint = (" (only 'and' joins clauses; for alternatives use: column in (a, b))"
                    if re.search(r"(?i)\bor\b", clause.values[-1]) else "")
            raise RuleError(f"expected 'and' between clauses, found {value!r} in {text!r}{hint}")
        pos += 1
        if pos == len(tokens):
            raise RuleError(f"the query ends with 'and': {text!r}")


def _tokenize(text: str) -> list[tuple[str, str]]:
    if not isinstance(text, str):
        raise RuleError(f"a query must be text, not {type(text).__name__}")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise RuleError(f"cannot read {text[pos:pos + 10]!r} (position {pos + 1}) in {text!r}; "
                            "quote values that contain quotes or operators")
        kind = match.lastgroup or ""
        if kind == "quoted":
            tokens.append(("quoted", _unquote(match.group())))
        elif kind != "space":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _quote(value: str) -> str:
    if re.fullmatch(r"[^\s=!<>(),\[\]'\"]+", value) and value.lower() not in ("and", "in", "not"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _clause(tokens: list[tuple[str, str]], pos: int, text: str) -> tuple[Clause, int]:
    kind, column = tokens[pos]
    if kind != "word" or not _IDENT.fullmatch(column):
        raise RuleError(f"expected an attribute name, found {column!r} in {text!r}")
    pos += 1
    if pos >= len(tokens):
        raise RuleError(f"{column!r} needs an operator ({', '.join(OPERATORS)}) and a value in {text!r}")
    kind, op = tokens[pos]
    if kind == "word" and op.lower() == "not" and pos + 1 < len(tokens) and tokens[pos + 1][1].lower() == "in":
        op, pos = "not in", pos + 1
    elif kind == "word" and op.lower() == "in":
        op = "in"
    elif kind == "op":
        op = "=" if op == "==" else op
    else:
        raise RuleError(f"expected an operator ({', '.join(OPERATORS)}) after {column!r}, found {op!r}")
    pos += 1
    if op in ("in", "not in"):
        values, pos = _value_list(tokens, pos, text)
    else:
        value, pos = _value(tokens, pos, text, column)
        values = (value,)
    return Clause(column, op, values), pos


def _value(tokens: list[tuple[str, str]], pos: int, text: str, column: str) -> tuple[str, int]:
    if pos >= len(tokens):
        raise RuleError(f"{column!r} needs a value in {text!r}")
    kind, value = tokens[pos]
    if kind == "quoted":
        return value, pos + 1
    words = []
    while pos < len(tokens) and tokens[pos][0] == "word" and tokens[pos][1].lower() != "and":
        words.append(tokens[pos][1])
        pos += 1
    if not words:
        raise RuleError(f"expected a value for {column!r}, found {value!r} in {text!r}")
    return " ".join(words), pos


def _value_list(tokens: list[tuple[str, str]], pos: int, text: str) -> tuple[tuple[str, ...], int]:
    if pos >= len(tokens) or tokens[pos][1] not in ("(", "["):
        raise RuleError(f"'in' needs a list such as (a, b, \"c d\") in {text!r}")
    close = ")" if tokens[pos][1] == "(" else "]"
    pos += 1
    values: list[str] = []
    while True:
        if pos >= len(tokens):
            raise RuleError(f"unclosed list in {text!r}")
        kind, value = tokens[pos]
        if kind == "quoted":
            values.append(value)
            pos += 1
        elif kind == "word":
            words = []
            while pos < len(tokens) and tokens[pos][0] == "word":
                words.append(tokens[pos][1])
                pos += 1
            values.append(" ".join(words))
        else:
            raise RuleError(f"expected a value in the list, found {value!r} in {text!r}")
        if pos >= len(tokens):
            raise RuleError(f"unclosed list in {text!r}")
        kind, value = tokens[pos]
        if value == ",":
            pos += 1
        elif value == close:
            return tuple(values), pos + 1
        else:
            raise RuleError(f"expected ',' or {close!r} in the list, found {value!r} in {text!r}")


def evaluate(clauses: tuple[Clause, ...], frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` satisfying every clause."""
    mask = np.ones(len(frame), dtype=bool)
    for clause in clauses:
        if clause.column not in frame.columns:
            known = ", ".join(map(str, frame.columns))
            raise RuleError(f"unknown attribute {clause.column!r}; available: {known}")
        mask &= _clause_mask(clause, frame[clause.column])
    return mask


def _clause_mask(clause: Clause, column: pd.Series) -> np.ndarray:
    present = column.notna().to_numpy()
    if clause.op in ("in", "not in", "=", "!="):
        hit = np.zeros(len(column), dtype=bool)
        for value in clause.values:
            hit |= _equal(column, value)
        out = hit if clause.op in ("in", "=") else ~hit
        return out & present
    left, right = _comparable(column, clause.values[0], clause)
    with np.errstate(invalid="ignore"):
        result = {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[clause.op]
    return np.asarray(result, dtype=bool) & present


def _equal(column: pd.Series, value: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column):
        return (column == (value.strip().lower() in ("true", "1", "yes"))).fillna(False).to_numpy(bool)
    if pd.api.types.is_numeric_dtype(column):
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        if pd.isna(number):
            return np.zeros(len(column), dtype=bool)
        return (column.astype("float64") == float(number)).fillna(False).to_numpy(bool)
    if pd.api.types.is_datetime64_any_dtype(column):
        when = _timestamp(value, column)
        return (column == when).fillna(False).to_numpy(bool)
    return (column.astype("string").str.strip().str.casefold() == value.strip().casefold()).fillna(False
                                                                                                  ).to_numpy(bool)


def _comparable(column: pd.Series, value: str, clause: Clause) -> tuple[Any, Any]:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        if pd.isna(number):
            raise RuleError(f"{clause}: {clause.column!r} is numeric, so {value!r} must be a number")
        return column.astype("float64").to_numpy(), float(number)
    if pd.api.types.is_datetime64_any_dtype(column):
        return column, _timestamp(value, column)
    return column.astype("string").str.strip().str.casefold().fillna("").to_numpy(object), value.strip().casefold()


def _timestamp(value: str, column: pd.Series) -> pd.Timestamp:
    try:
        when = pd.Timestamp(value.strip())
    except (ValueError, TypeError) as exc:
        raise RuleError(f"{value!r} is not a date (use YYYY-MM-DD)") from exc
    tz = getattr(column.dt, "tz", None)
    if tz is not None and when.tzinfo is None:
        return when.tz_localize(tz)
    if tz is None and when.tzinfo is not None:
        return when.tz_convert(None)
    return when


# ----- targets and rules -------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """What a segment is for: some items, a category, or an item attribute query (exactly one)."""

    items: tuple[str, ...] = ()
    category: str | None = None
    query: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "items", tuple(str(i).strip() for i in self.items if str(i).strip()))
        given = sum([bool(self.items), bool(self.category), bool(self.query)])
        if given != 1:
            raise RuleError("a target is exactly one of: items, a category, or an item attribute query")
        if self.query:
            parse_query(self.query)

    @classmethod
    def parse(cls, text: str) -> "Target":
        """``items=I1,I2`` (or ``items: ...``), ``category=Outdoor``, or any attribute query."""
        text = (text or "").strip()
        head = re.match(r"(?i)items?\s*[:=]\s*", text)
        if head:
            return cls(items=tuple(part.strip().strip("'\"") for part in text[head.end():].split(",")))
        clauses = parse_query(text)
        if len(clauses) == 1 and clauses[0].column.lower() == "category" and clauses[0].op == "=":
            return cls(category=clauses[0].values[0])
        return cls(query=text)

    def describe(self) -> str:
        if self.items:
            shown = ", ".join(self.items[:5]) + (f" (+{len(self.items) - 5} more)" if len(self.items) > 5 else "")
            return f"items {shown}"
        if self.category:
            return f"category = {_quote(self.category)}"
        return str(self.query)

    def clauses(self) -> tuple[Clause, ...]:
        """The item query this target stands for (items: none)."""
        if self.category:
            return (Clause("category", "=", (self.category,)),)
        return parse_query(self.query) if self.query else ()


@dataclass(frozen=True)
class SegmentRule:
    """A named audience recipe over one training run.

    Parameters
    ----------
    name : str
        Shown in lists and file names.
    run_id : str
        The stored run whose model predicts affinity.
    target : Target
        The items, category or item attribute query the campaign is about.
    affinity : {"max", "mean", "rank"}
        How a customer's affinity for the target is scored (``AFFINITY_HELP``).
    customer_query : str, optional
        Customer attribute filter, e.g. ``country = Japan and loyalty_tier in (gold, platinum)``
        (contact details such as email cannot be filtered on).
    min_events : int
        Keep customers with at least this many events.
    active_days : float, optional
        Keep customers with an event in the last N days before the data's latest event.
    exclude_buyers : bool
        Leave out customers who already bought a target item (``buyer_events``; any event on a
        target when the data has no event types).
    size : int, optional
        Keep the ``size`` customers with the strongest affinity.
    threshold : float, optional
        Keep customers whose affinity is at least this (``rank``: at most this rank).
    min_size : int
        Exports of smaller audiences are refused (``recsys.segments.privacy``).
    """

    name: str
    run_id: str
    target: Target
    affinity: str = "max"
    customer_query: str | None = None
    min_events: int = 0
    active_days: float | None = None
    exclude_buyers: bool = True
    buyer_events: tuple[str, ...] = ("purchase",)
    size: int | None = None
    threshold: float | None = None
    min_size: int = DEFAULT_MIN_SIZE
    description: str = field(default="", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "buyer_events", tuple(str(e).strip().lower() for e in self.buyer_events))
        if not str(self.name).strip():
            raise RuleError("a segment needs a name")
        if not str(self.run_id).strip():
            raise RuleError("a segment needs a run id")
        if self.affinity not in AFFINITY_MODES:
            raise RuleError(f"affinity must be one of {', '.join(AFFINITY_MODES)}, not {self.affinity!r}")
        if self.size is not None and int(self.size) < 1:
            raise RuleError("the size must be a positive number of customers")
        if self.size is None and self.threshold is None:
            raise RuleError("cap the segment by a size, a score threshold, or both")
        if int(self.min_events) < 0 or (self.active_days is not None and float(self.active_days) <= 0):
            raise RuleError("min_events must be >= 0 and active_days > 0")
        if int(self.min_size) < 1:
            raise RuleError("the minimum segment size must be at least 1")
        if self.customer_query:
            personal = [c.column for c in parse_query(self.customer_query) if is_personal(c.column)]
            if personal:
                raise RuleError(f"segments cannot filter on contact details ({', '.join(personal)})")

    def customer_clauses(self) -> tuple[Clause, ...]:
        return parse_query(self.customer_query) if self.customer_query else ()

    def with_run(self, run_id: str) -> "SegmentRule":
        """The same rule on another run (e.g. a newer model)."""
        return replace(self, run_id=run_id)

    def describe(self) -> str:
        """One line for captions and logs."""
        parts = [f"{self.target.describe()} by {self.affinity} affinity"]
        if self.customer_query:
            parts.append(f"customers where {self.customer_query}")
        if self.min_events:
            parts.append(f">= {self.min_events} events")
        if self.active_days:
            parts.append(f"active in the last {self.active_days:g} days")
        if self.exclude_buyers:
            parts.append("buyers excluded")
        cap = []
        if self.size:
            cap.append(f"top {self.size:,}")
        if self.threshold is not None:
            cap.append(("rank <= " if self.affinity == "rank" else "affinity >= ") + f"{self.threshold:g}")
        parts.append(" and ".join(cap))
        return "; ".join(parts)

    def to_dict(self) -> dict:
        out = asdict(self)
        target = self.target
        out["target"] = ({"items": list(target.items)} if target.items else
                         {"category": target.category} if target.category else {"query": target.query})
        out["buyer_events"] = list(self.buyer_events)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "SegmentRule":
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        target = dict(values.get("target") or {})
        values["target"] = Target(items=tuple(target.get("items") or ()), category=target.get("category"),
                                  query=target.get("query"))
        if "buyer_events" in values:
            values["buyer_events"] = tuple(values["buyer_events"])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "SegmentRule":
        return cls.from_dict(json.loads(text))
