"""The fitted state of a lifecycle model: everything its predictions need, and nothing else.

:class:`LifecycleFit` is frozen data: the fitted purchase and spend models (as their own JSON
documents), the first-purchase curves and member shares, the value grid, the bootstrap
replicates' models and seeds, and the settings the values were computed with. A
:class:`~funnelkit.lifecycle.LifecycleModel` loaded back from JSON predicts from it exactly
like the model that was fitted. The per-customer training table is data, not state: it is
kept beside it (``LifecycleModel.customers_``) and never written to JSON.

Modules that compute from a fitted model (segments, uplift, scores, the report) take a
:class:`LifecycleFit` and, where they need the customers, a customer table as arguments.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from funnelkit._results import Result
from funnelkit.conversion import TransitionEstimate
from funnelkit.conversion.cure_result import CureFit
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle._components import (
    Components,
    FirstPurchaseCurve,
    GroupModel,
    MemberShare,
    fit_components,
)
from funnelkit.lifecycle._data import NOBODY_REACHED, CustomerTable
from funnelkit.lifecycle._rows import SampleWeights
from funnelkit.lifecycle.results import StageValues
from funnelkit.lifecycle.values import ValueGrid
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnitField

__all__ = [
    "POOLED_INSTEAD",
    "ComponentsState",
    "CurveState",
    "GroupState",
    "LifecycleFit",
    "Replicate",
    "check_customers",
    "check_membership_groups",
    "refit_components",
]

SCHEMA = "funnelkit.lifecycle.fit"

#: ends the note of a fit whose split of the buyers by membership could not be fitted
POOLED_INSTEAD = "One purchase model is fitted for all buyers instead."

_FROZEN = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")


class CurveState(BaseModel):
    """A first-purchase curve: a mixture cure model, a Kaplan-Meier step function, or none."""

    model_config = _FROZEN
    cure: CureFit | None = None
    km_times: tuple[float, ...] | None = None
    km_rate: tuple[float, ...] | None = None

    @classmethod
    def of(cls, curve: FirstPurchaseCurve) -> CurveState:
        return cls(
            cure=curve.cure,
            km_times=None if curve.km_times is None else tuple(curve.km_times.tolist()),
            km_rate=None if curve.km_rate is None else tuple(curve.km_rate.tolist()),
        )

    def curve(self) -> FirstPurchaseCurve:
        return FirstPurchaseCurve(
            cure=self.cure,
            km_times=None if self.km_times is None else np.array(self.km_times, dtype=float),
            km_rate=None if self.km_rate is None else np.array(self.km_rate, dtype=float),
        )


class GroupState(BaseModel):
    """One buyer group's fitted purchase and spend models (their own JSON documents)."""

    model_config = _FROZEN
    name: str
    purchase: str
    spend: str | None = None
    spend_mean: float
    first_spend: float
    n_buyers: float
    pooled: bool = False

    @classmethod
    def of(cls, group: GroupModel) -> GroupState:
        return cls(
            name=group.name,
            purchase=group.purchase.to_json(),
            spend=None if group.spend is None else group.spend.to_json(),
            spend_mean=group.spend_mean,
            first_spend=group.first_spend,
            n_buyers=group.n_buyers,
            pooled=group.pooled,
        )

    def group(self) -> GroupModel:
        from funnelkit.clv import MLEFitter

        return GroupModel(
            name=self.name,
            purchase=MLEFitter.from_json(self.purchase),
            spend=None if self.spend is None else MLEFitter.from_json(self.spend),
            spend_mean=self.spend_mean,
            first_spend=self.first_spend,
            n_buyers=self.n_buyers,
            pooled=self.pooled,
        )


class ComponentsState(BaseModel):
    """Curves and member shares per stage, models per buyer group: one fit of the components."""

    model_config = _FROZEN
    curves: dict[str, CurveState]
    #: stage → ``(intercept, slope)`` of the member share on log time
    shares: dict[str, tuple[float, float]]
    groups: tuple[GroupState, ...]

    @classmethod
    def of(cls, comps: Components) -> ComponentsState:
        return cls(
            curves={k: CurveState.of(c) for k, c in comps.curves.items()},
            shares={k: (s.intercept, s.slope) for k, s in comps.shares.items()},
            groups=tuple(GroupState.of(g) for g in comps.groups),
        )

    def components(self) -> Components:
        """The live components (fitters loaded from their JSON)."""
        return Components(
            curves={k: c.curve() for k, c in self.curves.items()},
            shares={k: MemberShare(intercept=a, slope=b) for k, (a, b) in self.shares.items()},
            groups=[g.group() for g in self.groups],
        )


class Replicate(BaseModel):
    """One bootstrap replicate that could be fitted: its seed and its components."""

    model_config = _FROZEN
    seed: int
    components: ComponentsState


class LifecycleFit(Result):
    """Everything a fitted :class:`~funnelkit.lifecycle.LifecycleModel` predicts from.

    Times are in the model unit ``period`` (``grid_horizon``, ``grid_delta``,
    ``observation_end``); ``horizon``, ``time_unit`` and ``discount_rate`` are the reporting
    settings. ``point_values`` and ``bootstrap_values`` hold the stage values of the full
    fit and of each replicate (in ``stage_names`` order), from which differences between
    stages are computed within each sample.
    """

    title: ClassVar[str] = "Lifecycle fit"
    schema_name: str = SCHEMA
    funnel: Funnel
    period: TimeUnitField
    purchase_events: tuple[str, ...]
    purchase_model: str | None = Field(
        description="the purchase model's name, or None when a fitter was given as template"
    )
    conversion_model: str
    membership_stage: str | None
    stage_names: tuple[str, ...]
    group_names: tuple[str, ...]
    observation_end: float
    # reporting settings and the interval method (the header of every value result)
    horizon: float
    time_unit: TimeUnitField
    discount_rate: float
    conf_level: float
    interval_method: str
    value_unit: str
    # the value grid, in model time
    grid_horizon: float
    grid_delta: float
    n_grid: int
    # the fit
    components: ComponentsState
    first_purchase: dict[str, TransitionEstimate]
    seed: int
    seeds: tuple[int, ...]
    replicates: tuple[Replicate, ...]
    n_failed: int
    point_values: tuple[float, ...]
    bootstrap_values: tuple[tuple[float, ...], ...]
    stage_values: StageValues
    n_customers: int
    notes: tuple[str, ...] = ()

    # The fitters loaded from the stored documents, built once on first use: a cache, not
    # state, so it takes no part in equality.
    _live: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @property
    def grid(self) -> ValueGrid:
        """The horizon, discount and integration grid in model time."""
        return ValueGrid(horizon=self.grid_horizon, delta=self.grid_delta, n_grid=self.n_grid)

    @property
    def n_resamples(self) -> int:
        """Bootstrap replicates that could be fitted (those the intervals come from)."""
        return len(self.replicates)

    def header(self) -> dict[str, Any]:
        """The settings every value result carries."""
        return {
            "horizon": self.horizon,
            "time_unit": self.time_unit,
            "discount_rate": self.discount_rate,
            "conf_level": self.conf_level,
            "n_resamples": self.n_resamples,
            "interval_method": self.interval_method,
            "value_unit": self.value_unit,
        }

    def main_components(self) -> Components:
        """The components of the full fit, loaded once and cached."""
        if "main" not in self._live:
            self._live["main"] = self.components.components()
        return self._live["main"]

    def replicate_components(self) -> list[tuple[int, Components]]:
        """``(seed, components)`` of every replicate that could be fitted, loaded once."""
        if "replicates" not in self._live:
            self._live["replicates"] = [
                (r.seed, r.components.components()) for r in self.replicates
            ]
        return list(self._live["replicates"])

    def purchase_spec(self) -> Any:
        """What to refit the purchase models from: the model name, or a fitted template."""
        if self.purchase_model is not None:
            return self.purchase_model
        return self.main_components().groups[0].purchase


def refit_components(
    fit: LifecycleFit,
    table: CustomerTable,
    weights: np.ndarray | SampleWeights | None,
    *,
    template: Components | None = None,
    pooled: Components | None = None,
    forced: frozenset[int] = frozenset(),
    strict: bool = False,
) -> Components:
    """Fit the components again on ``table`` with customer ``weights``, as ``fit`` did."""
    return fit_components(
        table,
        weights,
        purchase_model=fit.purchase_spec(),
        conversion_model=fit.conversion_model,
        conf_level=fit.conf_level,
        template=template,
        pooled_fallback=pooled,
        forced_pooled=forced,
        strict=strict,
        horizon=fit.grid_horizon,
    )


def check_customers(fit: LifecycleFit, table: CustomerTable, what: str) -> None:
    """Refuse a customer table whose stages or buyer groups are not those of the fit."""
    if table.stage_names != fit.stage_names or table.group_names != fit.group_names:
        raise FunnelkitError(
            f"{what} needs customers built with the fitted funnel and buyer groups "
            f"(stages {list(fit.stage_names)}, groups {list(fit.group_names)}); got stages "
            f"{list(table.stage_names)} and groups {list(table.group_names)}."
        )


def check_membership_groups(fit: LifecycleFit, what: str) -> None:
    """Refuse a fit without members and non-members as buyer groups, saying why it has none.

    The usual reason is in the fit's notes: the split by membership was asked for, but one
    of the two purchase models could not be fitted (too few repeat buyers, mostly), and one
    model for all buyers stands in (:data:`POOLED_INSTEAD`); or nobody in the log reached
    the membership stage (:data:`~funnelkit.lifecycle._data.NOBODY_REACHED`).
    """
    if len(fit.group_names) == 2:
        return
    pooled = [n for n in fit.notes if n.endswith(POOLED_INSTEAD)]
    failed = [n.removesuffix(POOLED_INSTEAD).strip() for n in pooled]
    if failed:
        raise FunnelkitError(
            f"{what} needs a purchase model for members and one for non-members, and this "
            f"model has one for all buyers: {failed[0]} More customers or a longer observation "
            "window would give each group the repeat buyers its own model needs."
        )
    nobody = [n for n in fit.notes if n.startswith(NOBODY_REACHED)]
    if nobody:
        raise FunnelkitError(
            f"{what} needs members and non-members, and in this log {nobody[0]}. A log in "
            "which some buyers reached it (the events of that stage included, or a longer "
            "observation window) would give both groups."
        )
    raise FunnelkitError(
        f"{what} needs members and non-members: fit the model with a funnel that has the "
        "membership stage (membership_stage=...) and a log in which some buyers reached it."
    )
