"""Fairness and bias: customer-group breakdowns, item-group exposure, calibration, re-rankers.

``report.fairness_report`` builds everything for one stored run; the pieces are
pure functions over ranked lists, per-customer metrics and group labels.
"""

from recsys.fairness.breakdown import MIN_SIZE, TOO_SMALL, group_breakdown
from recsys.fairness.calibration import ALPHA, kl_miscalibration, miscalibration
from recsys.fairness.exposure import exposure_by_group, gini, item_exposure, item_groups, lorenz_curve
from recsys.fairness.groups import Groups, available_groupings, customer_groups
from recsys.fairness.rerank import CalibratedReranker, ExposureReranker, MMRReranker, Reranker

__all__ = [
    "ALPHA", "MIN_SIZE", "TOO_SMALL", "CalibratedReranker", "ExposureReranker", "Groups", "MMRReranker",
    "Reranker", "available_groupings", "customer_groups", "exposure_by_group", "gini", "group_breakdown",
    "item_exposure", "item_groups", "kl_miscalibration", "lorenz_curve", "miscalibration",
]
