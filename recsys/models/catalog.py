"""Registry entries, one per model (explicit: adding a model means adding its entry here)."""

from recsys.models.registry import ModelSpec, ParamSpec, register  # noqa: F401
