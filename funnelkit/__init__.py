"""funnelkit: customer lifecycle analytics.

Typed funnels (prospect → visitor → member → repeat buyer), censoring-aware stage
conversion, and BTYD customer-lifetime-value models, fitted on the same event data.

``import funnelkit`` loads only numpy, scipy, pydantic and narwhals; estimators are imported
on first use (like scipy's submodules), so optional extras stay optional.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from funnelkit._version import __version__
from funnelkit.events import EventLog
from funnelkit.exceptions import (
    ConvergenceError,
    ConvergenceWarning,
    DataError,
    FunnelkitError,
    NotFittedError,
    SpecError,
    StatisticalWarning,
)
from funnelkit.journeys import Journeys
from funnelkit.rfm import RFM
from funnelkit.stages import Exclusion, Funnel, Stage
from funnelkit.units import TimeUnit

# Public name -> module that defines it; imported on first attribute access.
_LAZY: dict[str, str] = {
    "datasets": "funnelkit.datasets",
    # customer lifetime value (funnelkit.clv)
    "BetaGeoFitter": "funnelkit.clv",
    "ParetoNBDFitter": "funnelkit.clv",
    "ModifiedBetaGeoFitter": "funnelkit.clv",
    "BetaGeoBetaBinomFitter": "funnelkit.clv",
    "GammaGammaFitter": "funnelkit.clv",
    "ShiftedBetaGeoFitter": "funnelkit.clv",
    "FitResult": "funnelkit.clv",
    "customer_lifetime_value": "funnelkit.clv",
    "score_customers": "funnelkit.clv",
    "discounted_expected_residual_transactions": "funnelkit.clv",
    # stage conversion (funnelkit.conversion) and stage dynamics (funnelkit.dynamics)
    "ConversionFitter": "funnelkit.conversion",
    "TransitionEstimate": "funnelkit.conversion",
    "StageMarkovFitter": "funnelkit.dynamics",
    "StageForecast": "funnelkit.dynamics",
    # lifecycle value and the report (funnelkit.lifecycle, funnelkit.report)
    "LifecycleModel": "funnelkit.lifecycle",
    "LifecycleReport": "funnelkit.report",
    "report": "funnelkit.report",
}

__all__ = [
    "RFM",
    "ConvergenceError",
    "ConvergenceWarning",
    "DataError",
    "EventLog",
    "Exclusion",
    "Funnel",
    "FunnelkitError",
    "Journeys",
    "NotFittedError",
    "SpecError",
    "Stage",
    "StatisticalWarning",
    "TimeUnit",
    "__version__",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'funnelkit' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # real types for type checkers; at run time these load on first use
    from funnelkit import datasets as datasets
    from funnelkit.clv import (
        BetaGeoBetaBinomFitter as BetaGeoBetaBinomFitter,
        BetaGeoFitter as BetaGeoFitter,
        FitResult as FitResult,
        GammaGammaFitter as GammaGammaFitter,
        ModifiedBetaGeoFitter as ModifiedBetaGeoFitter,
        ParetoNBDFitter as ParetoNBDFitter,
        ShiftedBetaGeoFitter as ShiftedBetaGeoFitter,
        customer_lifetime_value as customer_lifetime_value,
        discounted_expected_residual_transactions as discounted_expected_residual_transactions,
        score_customers as score_customers,
    )
    from funnelkit.conversion import (
        ConversionFitter as ConversionFitter,
        TransitionEstimate as TransitionEstimate,
    )
    from funnelkit.dynamics import (
        StageForecast as StageForecast,
        StageMarkovFitter as StageMarkovFitter,
    )
    from funnelkit.lifecycle import LifecycleModel as LifecycleModel
    from funnelkit.report import LifecycleReport as LifecycleReport, report as report
