"""Simulation specs and loaders refuse bad settings with a FunnelkitError that says the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from funnelkit.datasets.community import BuyingParams, ChannelParams, CommunityParams
from funnelkit.datasets.conversion import DelaySpec, TransitionParams, simulate_transitions
from funnelkit.exceptions import FunnelkitError, SpecError

CASES: list[tuple[Callable[[], Any], str]] = [
    (
        lambda: DelaySpec(distribution="exponential", scale=1.0, shape=2.0),
        r"the exponential distribution has shape 1, not 2\.0: leave shape out",
    ),
    (lambda: TransitionParams(stages=("a",)), r"at least two distinct stage names .* \['a'\]"),
    (
        lambda: TransitionParams(eventual_rates=(0.5,)),
        r"2 transitions need 2 eventual_rates and 2 delays .*; got 1 and 2",
    ),
    (
        lambda: TransitionParams(eventual_rates=(2.0, 0.1)),
        r"eventual_rates are probabilities in \[0, 1\]; got \[2\.0, 0\.1\]",
    ),
    (
        lambda: simulate_transitions(
            10, seed=0, params=TransitionParams(), segments={"a": TransitionParams()}
        ),
        r"params .* or segments .*, not both",
    ),
    (
        lambda: simulate_transitions(
            10,
            seed=0,
            segments={
                "a": TransitionParams(),
                "b": TransitionParams(
                    stages=("x", "y"), eventual_rates=(0.3,), delays=(DelaySpec(scale=2.0),)
                ),
            },
        ),
        r"every segment needs the same stages; got a: \['visitor', 'member', 'buyer'\], "
        r"b: \['x', 'y'\]",
    ),
    (lambda: CommunityParams(channels={}), r"at least one channel is needed, e\.g\."),
    (
        lambda: ChannelParams(share=-1.0, visit_prob=0.2, visit_delay_mean=1.0),
        r"Invalid ChannelParams: 1 problem\(s\): share: .*greater than 0 \(got -1\.0\)",
    ),
    (
        lambda: BuyingParams(r=1.0, alpha=1.0, a=0.0, b=1.0),
        r"Invalid BuyingParams: 1 problem\(s\): a: .*greater than 0 \(got 0\.0\)",
    ),
]


@pytest.mark.parametrize(("build", "match"), CASES)
def test_bad_settings_raise_spec_errors(build: Callable[[], Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        build()


def test_unknown_cdnow_kind() -> None:
    from funnelkit.datasets import load_cdnow

    with pytest.raises(FunnelkitError, match=r"kind must be 'summary' .* got 'rfm'"):
        load_cdnow("rfm")  # type: ignore[arg-type]
