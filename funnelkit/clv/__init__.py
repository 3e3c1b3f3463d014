"""Customer-lifetime-value models: BTYD purchase/dropout models fitted by maximum likelihood."""

from funnelkit.clv._base import FitResult, MLEFitter, ParameterEstimate
from funnelkit.clv.beta_geo import BetaGeoFitter

__all__ = [
    "BetaGeoFitter",
    "FitResult",
    "MLEFitter",
    "ParameterEstimate",
]
