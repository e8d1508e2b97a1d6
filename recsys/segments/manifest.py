"""The JSON manifest written beside every export: how the file was made, never who is in it.

A manifest names the rule, run, dataset fingerprint, re-ranker, format, row count, time and
software, and the file's SHA-256 so a reader can check the file is the one described. It
holds no personal data: contact columns are never copied in, and any e-mail address that
slips into a free-text field (a rule's description, a query) is masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import platform
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from recsys import __version__
from recsys.segments.privacy import mask_email

MANIFEST_SCHEMA = 1
MANIFEST_SUFFIX = ".manifest.json"
_EMAIL = re.compile(r"[^\s@\"'(),;<>]+@[^\s@\"'(),;<>]+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Manifest:
    """What an export file is and how it was made (JSON round trip: ``to_json`` / ``from_json``)."""

    kind: str
    format: str
    file_name: str
    file_sha256: str
    row_count: int
    run_id: str
    dataset: str
    dataset_fingerprint: str
    created_at: str
    model: str = ""
    rule: dict | None = None
    reranker: dict | None = None
    settings: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    software: dict = field(default_factory=dict)
    schema: int = MANIFEST_SCHEMA

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)

    def to_bytes(self) -> bytes:
        return (self.to_json() + "\n").encode("utf-8")

    @classmethod
    def from_dict(cls, data: dict) -> "Manifest":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        return cls.from_dict(json.loads(text))

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` is the file this manifest describes."""
        return hashlib.sha256(data).hexdigest() == self.file_sha256


def build_manifest(*, kind: str, fmt: str, file_name: str, data: bytes, row_count: int, run_id: str,
                   dataset: str, dataset_fingerprint: str, model: str = "", rule: dict | None = None,
                   reranker: dict | None = None, settings: dict | None = None, stats: dict | None = None,
                   created_at: str | None = None) -> Manifest:
    """A manifest for ``data`` (hashes it; masks any e-mail address in the given fields)."""
    return Manifest(
        kind=kind, format=fmt, file_name=file_name, file_sha256=hashlib.sha256(data).hexdigest(),
        row_count=int(row_count), run_id=run_id, dataset=dataset, dataset_fingerprint=dataset_fingerprint,
        created_at=created_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        model=model, rule=scrub(rule), reranker=scrub(reranker), settings=scrub(settings or {}),
        stats=scrub(stats or {}), software=software())


def software() -> dict:
    import numpy
    import pandas

    return {"recsys": __version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "pandas": pandas.__version__}


def scrub(value: Any) -> Any:
    """``value`` made JSON-safe with every e-mail address in its strings masked."""
    if isinstance(value, dict):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _EMAIL.sub(lambda m: mask_email(m.group()), value)
    if hasattr(value, "item") and not isinstance(value, (bytes, bytearray)):
        try:
            return scrub(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return scrub(str(value))


def manifest_name(file_name: str) -> str:
    """``audience.csv`` -> ``audience.csv.manifest.json``."""
    return f"{file_name}{MANIFEST_SUFFIX}"
