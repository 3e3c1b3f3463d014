"""Sample and simulated data: the CDNOW sample (via lifetimes) and generative simulators."""

from funnelkit.datasets.cdnow import load_cdnow
from funnelkit.datasets.community import (
    ChannelParams,
    CommunityParams,
    SimulatedCommunity,
    simulate_community,
)

__all__ = [
    "ChannelParams",
    "CommunityParams",
    "SimulatedCommunity",
    "load_cdnow",
    "simulate_community",
]
