"""Sample and simulated data: the CDNOW sample (via lifetimes), generative simulators, and the
small example events the documentation runs on."""

from funnelkit.datasets.btyd import (
    SimulatedRFM,
    load_donations,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from funnelkit.datasets.cdnow import load_cdnow
from funnelkit.datasets.community import (
    ChannelParams,
    CommunityParams,
    SimulatedCommunity,
    simulate_community,
)
from funnelkit.datasets.conversion import (
    DelaySpec,
    MixtureDelaySpec,
    SimulatedTransitions,
    TransitionParams,
    simulate_transitions,
)
from funnelkit.datasets.covariate_journeys import (
    SimulatedCovariateJourneys,
    simulate_covariate_chain,
    simulate_covariate_conversion,
)
from funnelkit.datasets.covariates import (
    SimulatedCovariateRFM,
    example_covariates,
    simulate_bgnbd_covariates,
    simulate_pareto_nbd_covariates,
)
from funnelkit.datasets.examples import load_example_events, write_example_events
from funnelkit.datasets.spend import (
    GammaGammaParams,
    ShiftedBetaGeoParams,
    SimulatedLifetimes,
    SimulatedSpend,
    simulate_contract_lifetimes,
    simulate_spend,
)
from funnelkit.datasets.stage_chain import SimulatedChain, simulate_stage_chain
from funnelkit.datasets.time_varying import simulate_time_varying_pareto_nbd

__all__ = [
    "ChannelParams",
    "CommunityParams",
    "DelaySpec",
    "GammaGammaParams",
    "MixtureDelaySpec",
    "ShiftedBetaGeoParams",
    "SimulatedChain",
    "SimulatedCommunity",
    "SimulatedCovariateJourneys",
    "SimulatedCovariateRFM",
    "SimulatedLifetimes",
    "SimulatedRFM",
    "SimulatedSpend",
    "SimulatedTransitions",
    "TransitionParams",
    "example_covariates",
    "load_cdnow",
    "load_donations",
    "load_example_events",
    "simulate_bgbb",
    "simulate_bgnbd",
    "simulate_bgnbd_covariates",
    "simulate_community",
    "simulate_contract_lifetimes",
    "simulate_covariate_chain",
    "simulate_covariate_conversion",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
    "simulate_pareto_nbd_covariates",
    "simulate_spend",
    "simulate_stage_chain",
    "simulate_time_varying_pareto_nbd",
    "simulate_transitions",
    "write_example_events",
]
