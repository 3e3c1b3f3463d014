"""Shared simulated communities and fitted models (fitted once per test session)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from funnelkit import EventLog, Funnel
from funnelkit.datasets import simulate_community
from funnelkit.lifecycle import LifecycleModel


@dataclass(frozen=True)
class Community:
    sim: Any
    log: EventLog


@pytest.fixture(scope="session")
def community() -> Community:
    sim = simulate_community(8_000, seed=21)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return Community(sim, log)


@pytest.fixture(scope="session")
def fitted(community: Community) -> LifecycleModel:
    model = LifecycleModel(n_bootstrap=20, random_state=3)
    return model.fit(
        community.log, Funnel.community(), observation_end=community.sim.observation_end
    )
