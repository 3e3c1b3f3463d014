"""Simulated prospects with covariates and known effects on their stage transitions.

Two worlds share the same prospects: ``channel`` (``email``, the reference, ``search``,
``social``), ``member`` (0/1) and ``noise`` (a standard normal with no effect at all).

- :func:`simulate_covariate_conversion`: the covariate cure model of
  :class:`~funnelkit.ConversionFitter` (a logistic eventual share, a Weibull delay whose
  log scale moves with the covariates);
- :func:`simulate_covariate_chain`: the log-linear intensities of
  :class:`~funnelkit.StageMarkovFitter` (``q(z) = q exp(β'z)``).

Arrivals are uniform over ``entry_window`` and observation stops at ``observation_end``, so
recent arrivals are censored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit.exceptions import FunnelkitError
from funnelkit.journeys import Journeys

__all__ = [
    "SimulatedCovariateJourneys",
    "simulate_covariate_chain",
    "simulate_covariate_conversion",
]

#: the terms of the simulated covariates, in the order the fitters encode them
TERMS = ("channel[search]", "channel[social]", "member", "noise")
_CHANNELS = np.array(["email", "search", "social"], dtype=object)

#: default effects: logit of the eventual share, and log of the delay's scale
SHARE_EFFECTS = {
    "(intercept)": -1.0,
    "channel[search]": 0.5,
    "channel[social]": 1.0,
    "member": 0.8,
    "noise": 0.0,
}
TIME_EFFECTS = {
    "(intercept)": math.log(10.0),
    "channel[search]": -0.3,
    "channel[social]": 0.4,
    "member": -0.5,
    "noise": 0.0,
}
#: default effects on the log intensities of every transition of the chain
ADVANCE_EFFECTS = {"channel[search]": 0.4, "channel[social]": -0.3, "member": 0.5, "noise": 0.0}
DROPOUT_EFFECTS = {"channel[search]": -0.2, "channel[social]": 0.3, "member": -0.6, "noise": 0.0}


@dataclass(frozen=True)
class SimulatedCovariateJourneys:
    """Simulated journeys, the prospects' covariates and the true coefficients.

    ``truth`` maps ``(transition, part, covariate)`` to the true coefficient, with the names
    the fitters' coefficient tables use (``"visitor -> buyer"``, ``"share"``,
    ``"channel[social]"``).
    """

    journeys: Journeys
    covariates: dict[str, np.ndarray]
    truth: dict[tuple[str, str, str], float]

    def frame(self, backend: Backend = "pandas") -> Any:
        """The covariates, one row per ``customer_id``, as a pandas, polars or pyarrow frame."""
        return frame_from_columns(self.covariates, backend)


def _prospects(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    channel = _CHANNELS[rng.choice(3, size=n, p=[0.4, 0.35, 0.25])]
    member = (rng.random(n) < 0.4).astype(np.int64)
    noise = rng.standard_normal(n)
    ids = np.char.add("p", np.arange(n).astype(str)).astype(object)
    z = np.stack([channel == "search", channel == "social", member, noise], axis=1).astype(float)
    return {"customer_id": ids, "channel": channel, "member": member, "noise": noise}, z


def _effects(effects: Mapping[str, float] | None, default: Mapping[str, float]) -> np.ndarray:
    merged = {**default, **(effects or {})}
    unknown = set(merged) - set(default)
    if unknown:
        raise FunnelkitError(
            f"Unknown covariate terms {sorted(unknown)}; the terms are {list(default)}."
        )
    return np.array([merged[t] for t in TERMS], dtype=float)


def _journeys(
    entry: np.ndarray, stages: tuple[str, ...], columns: dict[str, np.ndarray], end: float
) -> Journeys:
    return Journeys(
        stage_names=stages,
        entry_times=entry,
        customer_ids=columns["customer_id"],
        censoring_times=np.full(entry.shape[0], end),
        time_unit="D",
        attributes={k: v for k, v in columns.items() if k != "customer_id"},
    )


def simulate_covariate_conversion(
    n_customers: int,
    *,
    seed: int | np.random.Generator | None,
    share_effects: Mapping[str, float] | None = None,
    time_effects: Mapping[str, float] | None = None,
    shape: float = 1.5,
    entry_window: float = 120.0,
    observation_end: float = 120.0,
) -> SimulatedCovariateJourneys:
    """Visitors who may become buyers, with covariate effects on the share and the delay.

    ``logit p_i = β0 + β'z_i``; a converter's delay is Weibull with ``shape`` and
    ``log scale_i = log scale + γ'z_i``. Effects are keyed by term (``"channel[social]"``,
    ``"member"``, ``"noise"``, and ``"(intercept)"``); unspecified ones keep their default.

    Examples
    --------
    >>> sim = simulate_covariate_conversion(500, seed=0)
    >>> sim.journeys.stage_names, sorted(sim.journeys.attributes)
    (('visitor', 'buyer'), ['channel', 'member', 'noise'])
    >>> sim.truth["visitor -> buyer", "share", "member"]
    0.8
    """
    if not (isinstance(shape, int | float) and shape > 0):
        raise FunnelkitError(f"shape must be a number > 0. Got {shape!r} instead.")
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    columns, z = _prospects(n, rng)
    share0 = {**SHARE_EFFECTS, **(share_effects or {})}.get("(intercept)", -1.0)
    time0 = {**TIME_EFFECTS, **(time_effects or {})}.get("(intercept)", math.log(10.0))
    beta = _effects(
        {k: v for k, v in (share_effects or {}).items() if k != "(intercept)"},
        {k: v for k, v in SHARE_EFFECTS.items() if k != "(intercept)"},
    )
    gamma = _effects(
        {k: v for k, v in (time_effects or {}).items() if k != "(intercept)"},
        {k: v for k, v in TIME_EFFECTS.items() if k != "(intercept)"},
    )
    p = 1.0 / (1.0 + np.exp(-(share0 + z @ beta)))
    will = rng.random(n) < p
    scale = np.exp(time0 + z @ gamma)
    delay = scale * rng.weibull(shape, n)
    start = rng.uniform(0.0, entry_window, n)
    moved = will & (start + delay <= observation_end)
    entry = np.stack([start, np.where(moved, start + delay, np.nan)], axis=1)
    name = "visitor -> buyer"
    truth = {
        (name, "share", "(intercept)"): float(share0),
        (name, "time", "(intercept)"): float(time0),
        (name, "time", "(log s)"): -math.log(shape),
    }
    for i, term in enumerate(TERMS):
        truth[name, "share", term] = float(beta[i])
        truth[name, "time", term] = float(gamma[i])
    journeys = _journeys(entry, ("visitor", "buyer"), columns, observation_end)
    return SimulatedCovariateJourneys(journeys=journeys, covariates=columns, truth=truth)


def simulate_covariate_chain(
    n_customers: int,
    *,
    seed: int | np.random.Generator | None,
    advance_rates: tuple[float, ...] = (0.2, 0.1),
    dropout_rates: tuple[float, ...] = (0.1, 0.05),
    advance_effects: Mapping[str, float] | None = None,
    dropout_effects: Mapping[str, float] | None = None,
    entry_window: float = 100.0,
    observation_end: float = 100.0,
) -> SimulatedCovariateJourneys:
    """A stage chain ``s0 -> s1 -> ...`` whose intensities move with the covariates.

    In stage ``k`` prospect ``i`` advances with intensity ``λ_k exp(β'z_i)`` and goes dormant
    with ``μ_k exp(δ'z_i)`` (the same effects in every stage), as in msm's log-linear
    covariate model (Jackson 2011). The base rates are those of the reference profile
    (email, not a member, noise 0).

    Examples
    --------
    >>> sim = simulate_covariate_chain(500, seed=0)
    >>> sim.journeys.stage_names
    ('s0', 's1', 's2')
    >>> sim.truth["s0 -> s1", "advance", "member"]
    0.5
    """
    lam = np.asarray(advance_rates, dtype=float)
    mu = np.asarray(dropout_rates, dtype=float)
    if (
        lam.ndim != 1
        or lam.shape != mu.shape
        or lam.size == 0
        or np.any(lam <= 0)
        or np.any(mu <= 0)
    ):
        raise FunnelkitError(
            "advance_rates and dropout_rates need one positive value per non-final stage, "
            f"got {list(lam)} and {list(mu)}."
        )
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    columns, z = _prospects(n, rng)
    beta = _effects(advance_effects, ADVANCE_EFFECTS)
    delta = _effects(dropout_effects, DROPOUT_EFFECTS)
    entry = np.full((n, lam.size + 1), np.nan)
    entry[:, 0] = rng.uniform(0.0, entry_window, n)
    truth: dict[tuple[str, str, str], float] = {}
    for k in range(lam.size):
        lam_i, mu_i = lam[k] * np.exp(z @ beta), mu[k] * np.exp(z @ delta)
        leave = entry[:, k] + rng.exponential(1.0 / (lam_i + mu_i))
        advance = rng.random(n) < lam_i / (lam_i + mu_i)
        entry[:, k + 1] = np.where(advance & (leave <= observation_end), leave, np.nan)
        name = f"s{k} -> s{k + 1}"
        truth[name, "advance", "(intercept)"] = math.log(lam[k])
        truth[name, "dropout", "(intercept)"] = math.log(mu[k])
        for i, term in enumerate(TERMS):
            truth[name, "advance", term] = float(beta[i])
            truth[name, "dropout", term] = float(delta[i])
    stages = tuple(f"s{k}" for k in range(lam.size + 1))
    journeys = _journeys(entry, stages, columns, observation_end)
    return SimulatedCovariateJourneys(journeys=journeys, covariates=columns, truth=truth)
