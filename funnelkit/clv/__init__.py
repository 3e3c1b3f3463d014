"""Customer-lifetime-value models: BTYD purchase/dropout models fitted by maximum likelihood."""

from funnelkit.clv._base import FitResult, MLEFitter, ParameterEstimate
from funnelkit.clv.beta_geo import BetaGeoFitter
from funnelkit.clv.beta_geo_beta_binom import BetaGeoBetaBinomFitter
from funnelkit.clv.covariates import CovariateTest
from funnelkit.clv.diagnostics import (
    CumulativeTransactions,
    FrequencyHistogram,
    HoldoutComparison,
    cumulative_transactions,
    frequency_histogram,
    holdout_comparison,
)
from funnelkit.clv.gamma_gamma import GammaGammaFitter
from funnelkit.clv.modified_beta_geo import ModifiedBetaGeoFitter
from funnelkit.clv.pareto_nbd import ParetoNBDFitter
from funnelkit.clv.purchase_fitters import purchase_fitter
from funnelkit.clv.scoring import score
from funnelkit.clv.shifted_beta_geo import ShiftedBetaGeoFitter
from funnelkit.clv.time_varying import TimeVaryingParetoNBDFitter
from funnelkit.clv.value import (
    customer_lifetime_value,
    discounted_expected_residual_transactions,
    score_customers,
)

__all__ = [
    "BetaGeoBetaBinomFitter",
    "BetaGeoFitter",
    "CovariateTest",
    "CumulativeTransactions",
    "FitResult",
    "FrequencyHistogram",
    "GammaGammaFitter",
    "HoldoutComparison",
    "MLEFitter",
    "ModifiedBetaGeoFitter",
    "ParameterEstimate",
    "ParetoNBDFitter",
    "ShiftedBetaGeoFitter",
    "TimeVaryingParetoNBDFitter",
    "cumulative_transactions",
    "customer_lifetime_value",
    "discounted_expected_residual_transactions",
    "frequency_histogram",
    "holdout_comparison",
    "purchase_fitter",
    "score",
    "score_customers",
]
