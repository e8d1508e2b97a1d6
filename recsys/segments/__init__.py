"""Audiences and campaign exports: rules, scoring, views, per-customer lists, files and manifests.

``rules`` (what a segment is), ``audience`` (who is in it), ``views`` (size, distribution,
composition, overlap, held-out lift), ``lists`` (per-customer top-N), ``formats`` (CSV,
Parquet, Excel, Google Customer Match, Meta), ``manifest``, ``privacy`` and ``store``
(workspace records of kinds "segments" and "exports").
"""

import importlib

# Loaded on first use (PEP 562): ``recsys.segments.ranking`` runs in Spark's Python workers,
# which must not import the model stack (torch) that ``audience`` brings.
_HOMES = {
    "Audience": "audience", "build_audience": "audience",
    "CustomerLists": "lists", "ListOptions": "lists", "customer_lists": "lists",
    "Manifest": "manifest", "DEFAULT_MIN_SIZE": "privacy", "SegmentTooSmall": "privacy",
    "AFFINITY_MODES": "rules", "RuleError": "rules", "SegmentRule": "rules", "Target": "rules",
    "parse_query": "rules",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'recsys.segments' has no attribute {name!r}")
    return getattr(importlib.import_module(f"recsys.segments.{_HOMES[name]}"), name)


__all__ = [
    "AFFINITY_MODES", "Audience", "CustomerLists", "DEFAULT_MIN_SIZE", "ListOptions", "Manifest", "RuleError",
    "SegmentRule", "SegmentTooSmall", "Target", "build_audience", "customer_lists", "parse_query",
]
