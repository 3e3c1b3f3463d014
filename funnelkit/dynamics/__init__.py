"""Stage dynamics: a Markov model of the funnel with a latent dormant exit, and forecasts.

:class:`StageMarkovFitter` estimates, for every stage, the intensity of advancing to the next
stage and of silently dropping out, from censored journeys; :meth:`StageMarkovFitter.forecast`
projects how many of today's customers will have reached, or will be active in, each stage.
"""

from funnelkit.datasets.stage_chain import SimulatedChain, simulate_stage_chain
from funnelkit.dynamics.covariate_result import MarkovCovariates, MarkovCovariateTransition
from funnelkit.dynamics.forecast import forecast_stages
from funnelkit.dynamics.forecast_result import ForecastBand, StageForecast
from funnelkit.dynamics.markov import StageMarkovFitter
from funnelkit.dynamics.plotting import plot_stage_forecast
from funnelkit.dynamics.results import Estimate, StageMarkovResult, StageReach, TransitionFit
from funnelkit.dynamics.state import StageIntensities

__all__ = [
    "Estimate",
    "ForecastBand",
    "MarkovCovariateTransition",
    "MarkovCovariates",
    "SimulatedChain",
    "StageForecast",
    "StageIntensities",
    "StageMarkovFitter",
    "StageMarkovResult",
    "StageReach",
    "TransitionFit",
    "forecast_stages",
    "plot_stage_forecast",
    "simulate_stage_chain",
]
