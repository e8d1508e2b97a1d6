"""The model registry: explicit entries with lazy imports and parameter specs.

The dashboard builds its training forms from ``ParamSpec``s and the CLI resolves
``--model KEY`` here. Entries import their module only when a model is created,
so listing models never pulls in torch-heavy code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from recsys.models.base import Recommender


@dataclass(frozen=True)
class ParamSpec:
    """One hyper-parameter: kind is "int", "float", "bool" or "choice"."""

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    log: bool = False
    help: str = ""

    def validate(self, value: Any) -> Any:
        """Coerce ``value`` to the right type and check its range; ValueError if invalid."""
        if self.kind == "int":
            value = int(value)
        elif self.kind == "float":
            value = float(value)
        elif self.kind == "bool":
            value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
        elif self.kind == "choice" and value not in self.choices:
            raise ValueError(f"{self.name} must be one of {list(self.choices)}, got {value!r}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise ValueError(f"{self.name} must be within [{self.low}, {self.high}], got {value!r}")
        return value


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: where the class lives and what the UI needs to know about it."""

    key: str
    display_name: str
    family: str
    module: str
    class_name: str
    description: str
    params: tuple[ParamSpec, ...] = ()
    needs_timestamps: bool = False
    needs_item_text: bool = False
    uses_torch: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)

    def load_class(self) -> type[Recommender]:
        return getattr(importlib.import_module(self.module), self.class_name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def create(self, **params) -> Recommender:
        """Instantiate with defaults overridden by validated ``params``."""
        specs = {p.name: p for p in self.params}
        unknown = set(params) - set(specs)
        if unknown:
            raise ValueError(f"unknown parameter(s) for {self.key}: {', '.join(sorted(unknown))}")
        values = self.defaults()
        values.update({name: specs[name].validate(v) for name, v in params.items()})
        return self.load_class()(**values)


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.key in REGISTRY:
        raise ValueError(f"model key {spec.key!r} registered twice")
    REGISTRY[spec.key] = spec
    return spec


def get_spec(key: str) -> ModelSpec:
    try:
        return REGISTRY[key.lower()]
    except KeyError:
        raise KeyError(f"unknown model {key!r}; available: {', '.join(REGISTRY)}") from None


def create(key: str, **params) -> Recommender:
    return get_spec(key).create(**params)


def availability(spec: ModelSpec, *, has_timestamps: bool = True, has_item_text: bool = True) -> tuple[bool, str]:
    """Whether ``spec`` can run on data of this shape, and why not."""
    if spec.needs_timestamps and not has_timestamps:
        return False, "needs timestamps (this dataset has none)"
    if spec.needs_item_text and not has_item_text:
        return False, "needs an items table with text (title/description)"
    return True, ""


from recsys.models import catalog  # noqa: E402,F401  (registers the entries)
