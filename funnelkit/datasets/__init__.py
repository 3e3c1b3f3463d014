"""Sample and simulated data: the CDNOW sample (via lifetimes) and generative simulators."""

from funnelkit.datasets.cdnow import load_cdnow
from funnelkit.datasets.community import (
    ChannelParams,
    CommunityParams,
    SimulatedCommunity,
    simulate_community,
)
from funnelkit.datasets.conversion import (
    DelaySpec,
    SimulatedTransitions,
    TransitionParams,
    simulate_transitions,
)
from funnelkit.datasets.spend import (
    GammaGammaParams,
    ShiftedBetaGeoParams,
    SimulatedLifetimes,
    SimulatedSpend,
    simulate_contract_lifetimes,
    simulate_spend,
)

__all__ = [
    "ChannelParams",
    "CommunityParams",
    "DelaySpec",
    "GammaGammaParams",
    "ShiftedBetaGeoParams",
    "SimulatedCommunity",
    "SimulatedLifetimes",
    "SimulatedSpend",
    "SimulatedTransitions",
    "TransitionParams",
    "load_cdnow",
    "simulate_community",
    "simulate_contract_lifetimes",
    "simulate_spend",
    "simulate_transitions",
]
