"""Censoring-aware stage conversion.

What share of the people who enter a stage will *eventually* reach the next one, how long it
takes, and how sure we are: Kaplan-Meier curves with Greenwood bands and mixture cure models
(exponential, Weibull or log-normal delays), per transition and per segment.

Examples
--------
>>> from funnelkit.conversion import ConversionFitter
>>> from funnelkit.datasets.conversion import simulate_transitions
>>> fitter = ConversionFitter().fit(simulate_transitions(1000, seed=0).journeys)
>>> fitter.estimate("visitor", "member").n_entered
1000
"""

from funnelkit.conversion.comparison import SegmentComparison, SegmentTest
from funnelkit.conversion.covariate_result import (
    AdjustedShare,
    CovariateConversion,
    CovariateEffect,
    CovariateTransition,
)
from funnelkit.conversion.cure import fit_cure_model
from funnelkit.conversion.cure_result import CureFit
from funnelkit.conversion.fit_result import ConversionResult
from funnelkit.conversion.fitter import ConversionFitter
from funnelkit.conversion.kaplan_meier import KaplanMeierCurve, kaplan_meier
from funnelkit.conversion.plotting import plot_conversion_curve, plot_funnel, plot_time_to_convert
from funnelkit.conversion.results import TimeQuantile, TransitionEstimate, WindowRate
from funnelkit.conversion.summary import ConversionRow, ConversionSummary, format_conversion_table
from funnelkit.intervals import holm_adjust, wilson_interval

__all__ = [
    "AdjustedShare",
    "ConversionFitter",
    "ConversionResult",
    "ConversionRow",
    "ConversionSummary",
    "CovariateConversion",
    "CovariateEffect",
    "CovariateTransition",
    "CureFit",
    "KaplanMeierCurve",
    "SegmentComparison",
    "SegmentTest",
    "TimeQuantile",
    "TransitionEstimate",
    "WindowRate",
    "fit_cure_model",
    "format_conversion_table",
    "holm_adjust",
    "kaplan_meier",
    "plot_conversion_curve",
    "plot_funnel",
    "plot_time_to_convert",
    "wilson_interval",
]
