"""Lifecycle value: what each stage, channel and community membership is worth.

:class:`LifecycleModel` joins the funnel (how customers move from prospect to repeat buyer,
censoring-aware) with customer-lifetime-value models (what buyers are worth after their first
purchase) on the same event data. A fitted model's :class:`LifecycleFit` holds everything its
predictions need; ``LifecycleModel.to_json`` / ``from_json`` save and load it.
"""

from funnelkit.lifecycle.covariate_effects import (
    AdjustedValue,
    CovariateComparison,
    CovariateEffect,
)
from funnelkit.lifecycle.model import LifecycleModel
from funnelkit.lifecycle.results import (
    ASSOCIATION_STATEMENT,
    AdvanceValue,
    MembershipUplift,
    SegmentValue,
    SegmentValues,
    StageValue,
    StageValues,
    StepConversion,
    UpliftStratum,
    ValueEstimate,
)
from funnelkit.lifecycle.state import LifecycleFit

__all__ = [
    "ASSOCIATION_STATEMENT",
    "AdjustedValue",
    "AdvanceValue",
    "CovariateComparison",
    "CovariateEffect",
    "LifecycleFit",
    "LifecycleModel",
    "MembershipUplift",
    "SegmentValue",
    "SegmentValues",
    "StageValue",
    "StageValues",
    "StepConversion",
    "UpliftStratum",
    "ValueEstimate",
]
