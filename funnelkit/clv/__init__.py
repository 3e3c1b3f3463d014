"""Customer-lifetime-value models: BTYD purchase/dropout models fitted by maximum likelihood."""

from funnelkit.clv._base import FitResult, MLEFitter, ParameterEstimate
from funnelkit.clv.beta_geo import BetaGeoFitter
from funnelkit.clv.gamma_gamma import GammaGammaFitter
from funnelkit.clv.shifted_beta_geo import ShiftedBetaGeoFitter

__all__ = [
    "BetaGeoFitter",
    "FitResult",
    "GammaGammaFitter",
    "MLEFitter",
    "ParameterEstimate",
    "ShiftedBetaGeoFitter",
]
