"""Simulate the stage chain with known intensities: the ground truth of the recovery tests.

The generative model of :class:`funnelkit.dynamics.StageMarkovFitter`; also importable as
``funnelkit.dynamics.simulate_stage_chain``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit.events import EventLog
from funnelkit.exceptions import FunnelkitError
from funnelkit.stages import Funnel, Stage

__all__ = ["SimulatedChain", "simulate_stage_chain"]


@dataclass(frozen=True)
class SimulatedChain:
    """Simulated stage-entry events plus the full, uncensored truth.

    ``columns`` holds the event columns ``customer_id, timestamp, event`` (and ``segment`` when
    one was given); every stage entry is emitted, however late, so censoring is chosen later
    with ``Funnel.journeys(log, observation_end=...)``. ``entry_times`` (customers × stages)
    and ``dormant_times`` are the true times (``inf``: never).
    """

    columns: dict[str, np.ndarray]
    funnel: Funnel
    advance_rates: tuple[float, ...]
    dropout_rates: tuple[float, ...]
    entry_times: np.ndarray
    dormant_times: np.ndarray

    def frame(self, backend: Backend = "pandas") -> Any:
        """The events as a pandas, polars or pyarrow frame."""
        return frame_from_columns(self.columns, backend)

    def log(self) -> EventLog:
        """The events as an :class:`EventLog` with numeric times in days."""
        extra = ["segment"] if "segment" in self.columns else []
        return EventLog.from_frame(self.frame(), attribute_cols=extra, time_unit="D")


def simulate_stage_chain(
    n_customers: int,
    *,
    advance_rates: Sequence[float],
    dropout_rates: Sequence[float],
    seed: int | np.random.Generator | None,
    arrival_window: float = 100.0,
    stage_names: Sequence[str] | None = None,
    segment: str | None = None,
) -> SimulatedChain:
    """Customers enter the first stage uniformly over ``arrival_window`` days, then move on.

    In stage ``k`` a customer waits an exponential time with rate ``λ_k + μ_k`` and then
    advances with probability ``λ_k / (λ_k + μ_k)``, else becomes dormant for good.

    Examples
    --------
    >>> sim = simulate_stage_chain(100, advance_rates=[0.5], dropout_rates=[0.5], seed=0)
    >>> sim.funnel.stage_names
    ('s0', 's1')
    """
    lam = np.asarray(advance_rates, dtype=float)
    mu = np.asarray(dropout_rates, dtype=float)
    if lam.ndim != 1 or lam.shape != mu.shape or lam.size == 0:
        raise FunnelkitError("advance_rates and dropout_rates need one value per non-final stage.")
    if np.any(lam < 0) or np.any(mu < 0) or np.any(lam + mu <= 0):
        raise FunnelkitError("Rates must be >= 0, with λ + μ > 0 in every stage.")
    names = tuple(stage_names) if stage_names is not None else tuple(
        f"s{k}" for k in range(lam.size + 1)
    )  # fmt: skip
    if len(names) != lam.size + 1:
        raise FunnelkitError(f"Need {lam.size + 1} stage names, got {len(names)}.")
    rng = np.random.default_rng(seed)
    n = int(n_customers)
    entry = np.full((n, lam.size + 1), np.inf)
    dormant = np.full(n, np.inf)
    entry[:, 0] = rng.uniform(0.0, arrival_window, n)
    for k in range(lam.size):
        theta = lam[k] + mu[k]
        active = np.isfinite(entry[:, k])
        leave = entry[:, k] + rng.exponential(1.0 / theta, n)
        advance = rng.random(n) < lam[k] / theta
        entry[:, k + 1] = np.where(active & advance, leave, np.inf)
        dormant = np.where(active & ~advance, leave, dormant)

    cust, stage = np.nonzero(np.isfinite(entry))
    prefix = "c" if segment is None else f"{segment}-"
    columns = {
        "customer_id": np.char.add(prefix, cust.astype(str)).astype(object),
        "timestamp": entry[cust, stage],
        "event": np.asarray(names, dtype=object)[stage],
    }
    if segment is not None:
        columns["segment"] = np.full(cust.size, segment, dtype=object)
    funnel = Funnel(stages=[Stage(name=s, events=[s]) for s in names])
    return SimulatedChain(
        columns=columns,
        funnel=funnel,
        advance_rates=tuple(lam.tolist()),
        dropout_rates=tuple(mu.tolist()),
        entry_times=entry,
        dormant_times=dormant,
    )
