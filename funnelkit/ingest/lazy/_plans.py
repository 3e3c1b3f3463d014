"""What an engine must aggregate: the constants of an RFM or journeys query.

The orchestrators (:mod:`.rfm_lazy`, :mod:`.journeys_lazy`) resolve dates and windows once in
Python; the engine-specific builders (SQL, Polars) only turn a plan into a query.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["JourneysPlan", "RFMPlan", "StagePlan"]


@dataclass(frozen=True)
class RFMPlan:
    """Per-customer RFM aggregation.

    ``purchase_events`` is ``None`` when every row is a purchase. Without calibration, a
    purchase counts when its period is at most ``end_period`` (no bound when ``None``). With
    ``cal_tick``, purchases at or before it are calibration purchases and later ones, up to
    ``end_tick`` (no bound when ``None``), are holdout purchases. ``spend_scale`` splits
    period spends so that the repeat spend is exact (see :mod:`.rfm_sql`). With
    ``counted_only`` the rows that do not count (other events, purchases outside the window)
    are left out instead of grouped: customers without a purchase then do not come back, and
    are counted apart (see :func:`.rfm_lazy.prepare`). ``summary_end`` is the period from
    which ``T`` is counted (the observation end, or the calibration end).
    """

    purchase_events: tuple[str, ...] | None
    has_value: bool
    end_period: int | None = None
    cal_tick: int | float | None = None
    end_tick: int | float | None = None
    spend_scale: float = 1.0
    counted_only: bool = False
    summary_end: int = 0

    @property
    def has_holdout(self) -> bool:
        return self.cal_tick is not None


@dataclass(frozen=True)
class StagePlan:
    """Events that count for a stage (``None``: every row) and how many are needed."""

    events: tuple[str, ...] | None
    min_count: int


@dataclass(frozen=True)
class JourneysPlan:
    """First entry into each stage, events at or before ``end_tick`` (no bound when ``None``)."""

    stages: tuple[StagePlan, ...]
    ordered: bool
    n_attributes: int
    end_tick: int | float | None = None
