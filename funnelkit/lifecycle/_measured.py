"""What an event log tells before any purchase model: the customer table and first purchases.

A lifecycle model needs a purchase model for its values; the funnel, the conversion and the
time to first purchase do not. :func:`measure` computes those alone, so that a report can
still show them when the purchase model cannot be fitted (too few repeat buyers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from funnelkit.conversion import TransitionEstimate
from funnelkit.events import EventLog
from funnelkit.lifecycle._components import first_purchase_estimates
from funnelkit.lifecycle._data import CustomerTable, build_table
from funnelkit.lifecycle._settings import validate_settings
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnit

if TYPE_CHECKING:
    from funnelkit.lifecycle.model import LifecycleModel

__all__ = ["Measured", "measure", "membership_stage", "table_notes"]


@dataclass(frozen=True)
class Measured:
    """The customer table, the time from each stage to the first purchase, and the notes."""

    table: CustomerTable
    first_purchase: dict[str, TransitionEstimate]
    time_unit: TimeUnit
    notes: tuple[str, ...]


def membership_stage(stage: str | None, funnel: Funnel, notes: list[str]) -> str | None:
    """The membership stage to use: None, with a note, when the funnel has no such stage.

    A stage other than the default ``"member"`` that the funnel lacks is a mistake and raises
    (through :meth:`Funnel.stage`).
    """
    if stage is not None and stage not in funnel.stage_names:
        if stage != "member":
            funnel.stage(stage)  # raises: no stage of that name
        notes.append(f"the funnel has no stage {stage!r}: one purchase model for all buyers")
        return None
    return stage


def table_notes(table: CustomerTable) -> list[str]:
    """What building the table dropped or assumed, as sentences for the notes."""
    notes = list(table.notes)
    if table.journeys.n_events_after_end:
        notes.append(
            f"{table.journeys.n_events_after_end:,} event(s) after the observation end were ignored"
        )
    notes += [f"journeys: {n}" for n in table.journeys.notes]
    if not table.has_values:
        notes.append("the log has no values: every purchase is worth 1 (values in purchases)")
    return notes


def customer_table(
    model: LifecycleModel,
    log: EventLog,
    funnel: Funnel | None,
    observation_end: Any,
    notes: list[str],
    *,
    by_membership: bool = True,
) -> tuple[CustomerTable, TimeUnit]:
    """The customer table ``model.fit`` works on, and the time unit of its settings.

    Checks the settings, defaults to the community funnel and, unless ``by_membership`` is
    False, splits buyers by membership at their first purchase (its notes go to ``notes``).
    """
    unit = validate_settings(model, funnel)
    funnel = funnel if funnel is not None else Funnel.community()
    membership = membership_stage(model.membership_stage, funnel, notes) if by_membership else None
    table = build_table(
        log,
        funnel,
        observation_end=observation_end,
        unit=unit,
        purchase_events_=tuple(model.purchase_events),
        membership_stage=membership,
    )
    return table, unit


def measure(
    model: LifecycleModel, log: EventLog, funnel: Funnel | None, observation_end: Any
) -> Measured:
    """The table and first-purchase estimates ``model.fit`` would build, without its values.

    Raises what ``model.fit`` raises for settings or data that cannot make a table.
    """
    notes: list[str] = []
    table, unit = customer_table(model, log, funnel, observation_end, notes)
    estimates = first_purchase_estimates(
        table, None, str(model.conversion_model), float(model.conf_level)
    )
    notes += table_notes(table)
    return Measured(table, estimates, unit, tuple(dict.fromkeys(notes)))
