"""Audiences and campaign exports: rules, scoring, views, per-customer lists, files and manifests.

``rules`` (what a segment is), ``audience`` (who is in it), ``views`` (size, distribution,
composition, overlap, held-out lift), ``lists`` (per-customer top-N), ``formats`` (CSV,
Parquet, Excel, Google Customer Match, Meta), ``manifest``, ``privacy`` and ``store``
(workspace records of kinds "segments" and "exports").
"""

from recsys.segments.audience import Audience, build_audience
from recsys.segments.lists import CustomerLists, ListOptions, customer_lists
from recsys.segments.manifest import Manifest
from recsys.segments.privacy import DEFAULT_MIN_SIZE, SegmentTooSmall
from recsys.segments.rules import AFFINITY_MODES, RuleError, SegmentRule, Target, parse_query

__all__ = [
    "AFFINITY_MODES", "Audience", "CustomerLists", "DEFAULT_MIN_SIZE", "ListOptions", "Manifest", "RuleError",
    "SegmentRule", "SegmentTooSmall", "Target", "build_audience", "customer_lists", "parse_query",
]
