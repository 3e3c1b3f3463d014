"""The fitted intensities of a stage Markov model: everything its predictions need.

Forecasts, reach probabilities and per-customer activity are computed from a
:class:`StageIntensities` held by the frozen :class:`~funnelkit.dynamics.StageMarkovResult`,
so a model loaded back from JSON predicts exactly like the one that was fitted.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

from funnelkit.dynamics.likelihood import StageFit, Status
from funnelkit.exceptions import FunnelkitError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from funnelkit.dynamics.results import StageMarkovResult

__all__ = ["StageIntensities", "intensities_of", "segment_index", "stage_index"]

Value = float | None
Grid = tuple[tuple[Value, ...], ...]
Block = tuple[tuple[Value, Value], tuple[Value, Value]]


class StageIntensities(BaseModel):
    """Per segment and transition: λ, μ, the covariance of (log λ, log μ), the status.

    Arrays are indexed ``[segment, transition]`` (one segment when fitted without ``by=``);
    None marks a value that is not estimable (NaN in the arrays). ``boundary_dropout_upper``
    is the profile-likelihood upper bound of μ for a stage fitted on the boundary μ = 0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    advance: Grid
    dropout: Grid
    log_covariance: tuple[tuple[Block, ...], ...]
    status: tuple[tuple[Status, ...], ...]
    boundary_dropout_upper: Grid

    @classmethod
    def from_fits(
        cls,
        fits: Sequence[Sequence[StageFit]],
        boundary: Mapping[tuple[int, int], tuple[float, float]],
    ) -> StageIntensities:
        """From the stage fits ``fits[segment][transition]`` and their boundary bounds."""
        upper = [
            tuple(
                _value(boundary[g, k][0]) if (g, k) in boundary else None for k in range(len(row))
            )
            for g, row in enumerate(fits)
        ]
        return cls(
            advance=tuple(tuple(_value(f.advance_rate) for f in row) for row in fits),
            dropout=tuple(tuple(_value(f.dropout_rate) for f in row) for row in fits),
            log_covariance=tuple(
                tuple(_pair_of_pairs(f.log_covariance) for f in row) for row in fits
            ),
            status=tuple(tuple(f.status for f in row) for row in fits),
            boundary_dropout_upper=tuple(upper),
        )

    @cached_property
    def advance_array(self) -> np.ndarray:
        """λ as a ``(segments, transitions)`` array."""
        return np.asarray(self.advance, dtype=float).reshape(self._shape)

    @cached_property
    def dropout_array(self) -> np.ndarray:
        """μ as a ``(segments, transitions)`` array."""
        return np.asarray(self.dropout, dtype=float).reshape(self._shape)

    @cached_property
    def log_covariance_array(self) -> np.ndarray:
        """Covariance of (log λ, log μ) as a ``(segments, transitions, 2, 2)`` array."""
        return np.asarray(self.log_covariance, dtype=float).reshape((*self._shape, 2, 2))

    @cached_property
    def boundary_dropout_upper_array(self) -> np.ndarray:
        """Profile upper bound of μ on the boundary μ = 0 (NaN elsewhere)."""
        return np.asarray(self.boundary_dropout_upper, dtype=float).reshape(self._shape)

    @property
    def n_segments(self) -> int:
        return len(self.advance)

    @property
    def _shape(self) -> tuple[int, int]:
        # A funnel of two stages has one transition; empty tuples would lose that shape.
        return (len(self.advance), len(self.advance[0]) if self.advance else 0)


def _value(x: float) -> float | None:
    # None, not NaN, for "not estimable": results never show a NaN as a number.
    return float(x) if np.isfinite(x) else None


def _pair_of_pairs(cov: np.ndarray) -> Block:
    c = np.asarray(cov, dtype=float)
    return (_value(c[0, 0]), _value(c[0, 1])), (_value(c[1, 0]), _value(c[1, 1]))


def intensities_of(result: StageMarkovResult) -> StageIntensities:
    """The intensities stored in ``result``, or an error saying how to get them."""
    if result.intensities is None:
        raise FunnelkitError(
            "This StageMarkovResult holds no fitted intensities (it was saved before they were "
            "stored), so it cannot predict: refit the model and save it again with to_json()."
        )
    return result.intensities


def stage_index(result: StageMarkovResult, stage: str) -> int:
    """Position of ``stage`` in the funnel of ``result``."""
    if stage not in result.stage_names:
        raise FunnelkitError(f"No stage named {stage!r}; stages are {list(result.stage_names)}.")
    return result.stage_names.index(stage)


def segment_index(result: StageMarkovResult, segment: str | None) -> int:
    """Row of ``segment`` in the intensities (0 when fitted without ``by=``)."""
    if result.segments is None:
        if segment is not None:
            raise FunnelkitError("This model was fitted without by=, so it has no segments.")
        return 0
    if segment not in result.segments:
        raise FunnelkitError(
            f"Pass segment= one of {list(result.segments)} (the model was fitted "
            f"by={result.by!r}); got {segment!r}."
        )
    return result.segments.index(segment)
