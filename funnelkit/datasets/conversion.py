"""Censored stage transitions with known eventual rates and delay distributions.

:func:`simulate_community` generates a whole community funnel from events; this simulator
goes straight to :class:`~funnelkit.Journeys` with any delay family, so conversion estimators
can be checked against an exactly known truth, including under heavy censoring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from funnelkit._results import Spec
from funnelkit.conversion.delay import FAMILIES, MIXTURE
from funnelkit.exceptions import SpecError
from funnelkit.journeys import Journeys
from funnelkit.stages import _spec_error as spec_error
from funnelkit.units import TimeUnitLike

__all__ = [
    "DelaySpec",
    "MixtureDelaySpec",
    "SimulatedTransitions",
    "TransitionParams",
    "simulate_transitions",
]

_FIX = (
    "See funnelkit.datasets.conversion.TransitionParams for a valid chain, e.g. "
    "TransitionParams(stages=('visitor', 'buyer'), eventual_rates=(0.3,), "
    "delays=(DelaySpec(scale=10.0),))."
)


class DelaySpec(Spec):
    """A delay distribution among eventual converters, in natural parameters.

    ``scale`` is the Weibull scale, the exponential mean or the log-normal median; ``shape``
    the Weibull shape (1 for the exponential) or the log-normal sigma.

    Examples
    --------
    >>> round(DelaySpec(distribution="weibull", scale=10.0, shape=1.0).quantile(0.5), 4)
    6.9315
    """

    distribution: Literal["exponential", "weibull", "lognormal"] = "weibull"
    scale: float = Field(gt=0)
    shape: float = Field(default=1.0, gt=0)

    def __init__(self, **data: Any) -> None:
        # pydantic wraps a validator's error in its ValidationError, which is no FunnelkitError
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, _FIX) from exc

    @model_validator(mode="after")
    def _exponential_shape(self) -> DelaySpec:
        if self.distribution == "exponential" and self.shape != 1.0:
            raise SpecError(
                f"the exponential distribution has shape 1, not {self.shape!r}: leave shape "
                "out, or use distribution='weibull' for another shape"
            )
        return self

    def _internal(self) -> tuple[float, float]:
        return FAMILIES[self.distribution].internal(self.scale, self.shape)

    def cdf(self, t: float | np.ndarray) -> np.ndarray:
        """P(delay <= t)."""
        return FAMILIES[self.distribution].cdf(np.asarray(t, float), *self._internal())

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the delay."""
        m, log_s = self._internal()
        z = float(FAMILIES[self.distribution].std_quantile(q))
        return float(np.exp(m + np.exp(log_s) * z))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return FAMILIES[self.distribution].sample(rng, size, *self._internal())


class MixtureDelaySpec(Spec):
    """Two log-normal delay components: a share ``weight`` around ``scale`` (sigma
    ``shape``), the rest around ``scale_2`` (sigma ``shape_2``).

    Conversions within a session and others days later, as on a real clickstream.

    Examples
    --------
    >>> spec = MixtureDelaySpec(weight=0.5, scale=0.01, shape=0.5, scale_2=10.0, shape_2=0.5)
    >>> round(float(spec.cdf(1.0)), 3)
    0.5
    """

    distribution: Literal["lognormal-mixture"] = "lognormal-mixture"
    weight: float = Field(gt=0, lt=1)
    scale: float = Field(gt=0)
    shape: float = Field(gt=0)
    scale_2: float = Field(gt=0)
    shape_2: float = Field(gt=0)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, _FIX) from exc

    def _internal(self) -> tuple[float, ...]:
        w = self.weight
        return (
            math.log(w / (1.0 - w)),
            math.log(self.scale),
            math.log(self.shape),
            math.log(self.scale_2),
            math.log(self.shape_2),
        )

    def cdf(self, t: float | np.ndarray) -> np.ndarray:
        """P(delay <= t)."""
        return MIXTURE.cdf(np.asarray(t, float), *self._internal())

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of the delay."""
        return math.exp(MIXTURE.log_quantile(q, *self._internal()))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return MIXTURE.sample(rng, size, *self._internal())


class TransitionParams(Spec):
    """A chain of stages: entry into the first is uniform over ``entry_window``; from each
    stage a share ``eventual_rates[k]`` moves on after a ``delays[k]`` delay. Observation
    stops at ``observation_end`` (everything later is censored)."""

    stages: tuple[str, ...] = ("visitor", "member", "buyer")
    eventual_rates: tuple[float, ...] = (0.4, 0.5)
    delays: tuple[DelaySpec | MixtureDelaySpec, ...] = (
        DelaySpec(distribution="weibull", scale=10.0, shape=1.5),
        DelaySpec(distribution="lognormal", scale=15.0, shape=0.8),
    )
    entry_window: float = Field(default=120.0, gt=0)
    observation_end: float = Field(default=120.0, gt=0)

    def __init__(self, **data: Any) -> None:
        # pydantic wraps a validator's error in its ValidationError, which is no FunnelkitError
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, _FIX) from exc

    @model_validator(mode="after")
    def _consistent(self) -> TransitionParams:
        k = len(self.stages) - 1
        if k < 1 or len(set(self.stages)) != len(self.stages):
            raise SpecError(
                f"at least two distinct stage names are needed; got {list(self.stages)}"
            )
        if len(self.eventual_rates) != k or len(self.delays) != k:
            raise SpecError(
                f"{k} transitions need {k} eventual_rates and {k} delays (one per move between "
                f"the {k + 1} stages); got {len(self.eventual_rates)} and {len(self.delays)}"
            )
        if not all(0.0 <= p <= 1.0 for p in self.eventual_rates):
            raise SpecError(
                f"eventual_rates are probabilities in [0, 1]; got {list(self.eventual_rates)}"
            )
        return self


@dataclass(frozen=True)
class SimulatedTransitions:
    """Simulated journeys plus the truth: per customer, whether and when each move happens.

    ``truth["will_convert"][:, k]`` and ``truth["delay"][:, k]`` describe transition ``k``
    before censoring; ``truth["segment"]`` the segment of each customer.
    """

    journeys: Journeys
    params: Mapping[str, TransitionParams]
    truth: dict[str, np.ndarray]

    @property
    def eventual_rates(self) -> tuple[float, ...]:
        """The eventual rates of the first (or only) segment."""
        return next(iter(self.params.values())).eventual_rates


def simulate_transitions(
    n_customers: int,
    *,
    seed: int | np.random.Generator | None,
    params: TransitionParams | None = None,
    segments: Mapping[str, TransitionParams] | None = None,
    shares: Mapping[str, float] | None = None,
    time_unit: TimeUnitLike = "D",
) -> SimulatedTransitions:
    """Simulate censored stage transitions with known eventual rates and delays.

    Parameters
    ----------
    n_customers
        Customers entering the first stage.
    seed
        Seed or generator (required, so every simulation is reproducible).
    params
        One chain for everybody (default :class:`TransitionParams`).
    segments
        Instead of ``params``: one chain per segment (same stage names); customers are
        assigned at random with ``shares`` (equal by default), stored as the ``"segment"``
        attribute.
    time_unit
        Unit of all times.

    Examples
    --------
    >>> sim = simulate_transitions(500, seed=0)
    >>> sim.journeys.counts()["visitor"]
    500
    """
    rng = np.random.default_rng(seed)
    if segments is None:
        segments = {"all": params or TransitionParams()}
    elif params is not None:
        raise SpecError(
            "simulate_transitions takes params (one chain for everybody) or segments (one "
            "chain per segment), not both: put the chain in segments={'name': params}."
        )
    names = list(segments)
    chains = [segments[k] for k in names]
    stages = chains[0].stages
    if any(c.stages != stages for c in chains):
        raise SpecError(
            "every segment needs the same stages; got "
            + ", ".join(f"{k}: {list(c.stages)}" for k, c in zip(names, chains, strict=True))
            + ". Give each segment's TransitionParams the same stages."
        )
    weights = np.array([1.0 if shares is None else shares[k] for k in names], dtype=float)
    n = int(n_customers)
    seg = rng.choice(len(names), size=n, p=weights / weights.sum())
    k_trans = len(stages) - 1
    will = np.zeros((n, k_trans), dtype=bool)
    delay = np.full((n, k_trans), np.nan)
    entry = np.full((n, len(stages)), np.nan)
    end = np.empty(n)
    for g, chain in enumerate(chains):
        rows = np.flatnonzero(seg == g)
        entry[rows, 0] = rng.uniform(0.0, chain.entry_window, rows.size)
        end[rows] = chain.observation_end
        for k in range(k_trans):
            will[rows, k] = rng.random(rows.size) < chain.eventual_rates[k]
            delay[rows, k] = chain.delays[k].sample(rng, rows.size)
    for k in range(k_trans):
        nxt = entry[:, k] + delay[:, k]
        moved = will[:, k] & ~np.isnan(entry[:, k]) & (nxt <= end)
        entry[:, k + 1] = np.where(moved, nxt, np.nan)
    ids = np.char.add("s", np.arange(n).astype(str)).astype(object)
    label = np.array(names, dtype=object)[seg]
    journeys = Journeys(
        stage_names=stages,
        entry_times=entry,
        customer_ids=ids,
        censoring_times=end,
        time_unit=time_unit,
        attributes={"segment": label},
    )
    truth = {"segment": label, "will_convert": will, "delay": delay}
    return SimulatedTransitions(journeys=journeys, params=dict(segments), truth=truth)
