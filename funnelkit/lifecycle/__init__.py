"""Lifecycle value: what each stage, channel and community membership is worth.

:class:`LifecycleModel` joins the funnel (how customers move from prospect to repeat buyer,
censoring-aware) with customer-lifetime-value models (what buyers are worth after their first
purchase) on the same event data.
"""

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

__all__ = [
    "ASSOCIATION_STATEMENT",
    "AdvanceValue",
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
