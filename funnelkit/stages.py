"""Typed lifecycle stages and funnels.

A :class:`Stage` says which events put a customer in it and how many of them are needed; a
:class:`Funnel` orders stages and says how order is enforced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from funnelkit._results import Spec, html_table
from funnelkit.exceptions import SpecError
from funnelkit.ingest.columns import DEFAULT_EVENT_COL
from funnelkit.units import TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.journeys import Journeys

__all__ = ["Exclusion", "Funnel", "Stage", "readable_name"]


class Stage(Spec):
    """A lifecycle stage and the rule that puts a customer in it.

    A customer enters the stage at the time of their ``min_count``-th event whose type is in
    ``events``. With ``within``, an entry later than ``within`` time units (of the log) after
    the previous required stage's entry does not count: the customer has not reached the
    stage, nor any later one, and the step's estimand is the share converted within the
    window (Kaplan-Meier at ``within`` is unaffected by dropping the late entries).

    Examples
    --------
    >>> Stage(name="repeat_buyer", events=["purchase"], min_count=2).min_count
    2
    >>> Stage(name="repeat_buyer", events=["purchase"], min_count=2).display_name
    'Repeat buyer'
    >>> Stage(name="buyer", events=["purchase"], within=7).within
    7.0
    """

    name: str = Field(min_length=1, description="Stage name, unique within a funnel.")
    events: tuple[str, ...] = Field(min_length=1, description="Event types that count.")
    min_count: int = Field(default=1, ge=1, description="Occurrences needed to enter.")
    label: str | None = Field(
        default=None,
        min_length=1,
        description="Name shown to readers (reports); default derived from `name`.",
    )
    optional: bool = Field(
        default=False,
        description=(
            "In an ordered funnel, a step people may skip: later stages count from the "
            "previous required stage, whether or not this one was reached."
        ),
    )
    within: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description=(
            "In an ordered funnel, a conversion window: the stage counts only if entered "
            "within this time (in the log's time unit) of the previous required stage's "
            "entry, and the step's estimand becomes the rate within that window."
        ),
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _spec_error(exc, _STAGE_FIX) from exc

    @field_validator("events", mode="before")
    @classmethod
    def _events_as_tuple(cls, value: Any) -> Any:
        if isinstance(value, str):
            return (value,)
        return tuple(value) if isinstance(value, list | tuple | set | frozenset) else value

    @field_validator("events")
    @classmethod
    def _events_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not e for e in value):
            raise ValueError("event names must be non-empty strings")
        if len(set(value)) != len(value):
            raise ValueError(f"event names are repeated in {list(value)}")
        return value

    @property
    def display_name(self) -> str:
        """``label`` if given, else ``name`` made readable (``repeat_buyer`` → "Repeat buyer")."""
        return self.label if self.label is not None else readable_name(self.name)


def readable_name(name: str) -> str:
    """A stage or event name as a reader would write it: ``repeat_buyer`` → "Repeat buyer".

    Underscores become spaces and the first letter is capitalised; hyphens stay
    (``non-member``), and a name that already has capitals (``"VIP"``) keeps them.

    Examples
    --------
    >>> readable_name("first_purchase"), readable_name("non-member"), readable_name("VIP")
    ('First purchase', 'Non-member', 'VIP')
    """
    words = " ".join(name.replace("_", " ").split()) or name
    return words[:1].upper() + words[1:]


class Exclusion(Spec):
    """A step that must not happen between two stages of an ordered funnel.

    A customer whose ``event`` happens after entering ``after`` and before entering
    ``before`` leaves the funnel there: entries into ``before`` and every later stage are
    dropped, and they are observed (censored) only up to that event, so they count neither
    as converting nor as still waiting afterwards.

    Examples
    --------
    >>> Exclusion(event="refund", after="buyer", before="repeat_buyer").event
    'refund'
    """

    event: str = Field(min_length=1, description="The event type that must not happen.")
    after: str = Field(min_length=1, description="Stage after whose entry it is checked.")
    before: str = Field(min_length=1, description="Stage before whose entry it is checked.")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _spec_error(exc, _EXCLUSION_FIX) from exc


class Funnel(Spec):
    """An ordered list of stages plus an ordering mode.

    ``order="ordered"``: a stage only counts once the previous stage was reached; its events
    are counted at or after that time. ``order="strict"``: as ``"ordered"``, and the steps
    must also be consecutive among the funnel's events: a customer who, after entering a
    stage and before entering the next, does an event that only a *later* stage counts
    (skipping ahead) leaves the funnel there, exactly as with an :class:`Exclusion` of that
    event (entries from the next stage on dropped, censored at the out-of-order event).
    Repeats of events of the current or earlier stages do not break the order, and an
    event at the very time the stage was entered is not "in between". ``order="any"``:
    stages are counted independently and reaching a later stage implies the earlier ones
    (entered, at the latest, when the later one was).

    Examples
    --------
    >>> funnel = Funnel(stages=[Stage(name="visitor", events=["visit"]),
    ...                         Stage(name="buyer", events=["purchase"])], order="ordered")
    >>> funnel.stage_names
    ('visitor', 'buyer')
    """

    stages: tuple[Stage, ...] = Field(min_length=1)
    order: Literal["ordered", "strict", "any"] = "ordered"
    #: steps that must not happen between two stages (ordered funnels only)
    exclusions: tuple[Exclusion, ...] = ()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _spec_error(exc, _FUNNEL_FIX) from exc

    @field_validator("stages", "exclusions", mode="before")
    @classmethod
    def _stages_as_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _unique_names(self) -> Funnel:
        names = [s.name for s in self.stages]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"stage names must be unique; repeated: {repeated}")
        richer = self.exclusions or any(s.optional or s.within for s in self.stages)
        if richer and self.order == "any":
            raise ValueError(
                "optional stages, conversion windows and exclusions need order='ordered' or "
                "'strict' (in an 'any' funnel a later stage implies every earlier one)"
            )
        for k, stage in enumerate(self.stages):
            if stage.within is not None and all(s.optional for s in self.stages[:k]):
                raise ValueError(
                    f"stage {stage.name!r} has a conversion window (within) but no required "
                    "stage before it to measure the window from"
                )
        for ex in self.exclusions:
            unknown = [n for n in (ex.after, ex.before) if n not in names]
            if unknown:
                raise ValueError(f"exclusion {ex.event!r} names unknown stages {unknown}")
            if names.index(ex.after) >= names.index(ex.before):
                raise ValueError(
                    f"exclusion {ex.event!r}: stage {ex.after!r} must come before {ex.before!r}"
                )
        return self

    @property
    def is_plain(self) -> bool:
        """No optional stage, window, exclusion or strict order: every engine can build it."""
        rich = any(s.optional or s.within is not None for s in self.stages)
        return not self.exclusions and not rich and self.order != "strict"

    @property
    def windows(self) -> dict[str, float]:
        """Stage name → conversion window (``within``), for the stages that have one.

        Pass it to ``ConversionFitter(windows=funnel.windows)`` so that each windowed step
        reports its rate within the window.
        """
        return {s.name: s.within for s in self.stages if s.within is not None}

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def _repr_html_(self) -> str:
        rows: list[Mapping[str, Any]] = [
            {"stage": s.name, "events": ", ".join(s.events), "min_count": s.min_count}
            for s in self.stages
        ]
        return html_table(rows, caption=f"Funnel ({self.order}): {len(self.stages)} stages")

    @property
    def display_names(self) -> dict[str, str]:
        """Stage name → the name shown to readers (:attr:`Stage.display_name`)."""
        return {s.name: s.display_name for s in self.stages}

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type any stage counts, in first-mention order."""
        seen: dict[str, None] = {}
        for stage in self.stages:
            seen.update(dict.fromkeys(stage.events))
        return tuple(seen)

    def stage(self, name: str) -> Stage:
        """The stage called ``name`` (clear error listing the valid names otherwise)."""
        for s in self.stages:
            if s.name == name:
                return s
        from funnelkit.exceptions import FunnelkitError

        raise FunnelkitError(f"No stage named {name!r}; the funnel has {list(self.stage_names)}.")

    def index(self, name: str) -> int:
        """Position of stage ``name`` in the funnel."""
        return self.stage_names.index(self.stage(name).name)

    @classmethod
    def community(cls, *, order: Literal["ordered", "strict", "any"] = "ordered") -> Funnel:
        """The default community funnel: prospect → visitor → member → repeat_buyer.

        =============  ==================================================  =========
        stage          events                                              min_count
        =============  ==================================================  =========
        prospect       ``touch`` (an ad impression, post view or click)    1
        visitor        ``visit`` (a session on the brand's own site)       1
        member         ``join`` (joins the community)                      1
        repeat_buyer   ``purchase``                                        2
        =============  ==================================================  =========

        These are the event names :func:`funnelkit.datasets.simulate_community` emits.
        """
        return cls(
            stages=[
                Stage(name="prospect", events=["touch"]),
                Stage(name="visitor", events=["visit"]),
                Stage(name="member", events=["join"]),
                Stage(name="repeat_buyer", events=["purchase"], min_count=2),
            ],
            order=order,
        )

    def journeys(
        self,
        log: Any,
        *,
        observation_end: Any = None,
        time_unit: TimeUnitLike | None = None,
        customer_col: str = "customer_id",
        time_col: str = "timestamp",
        event_col: str | None = DEFAULT_EVENT_COL,
        attribute_cols: Sequence[str] = (),
    ) -> Journeys:
        """Per-customer first entry time into every stage, censored at ``observation_end``.

        Parameters
        ----------
        log
            An :class:`funnelkit.EventLog`, or raw events: an eager frame (pandas, polars,
            pyarrow), a CSV or Parquet path, or a lazy source (DuckDB relation, Parquet
            directory or glob, Polars LazyFrame, PySpark DataFrame) aggregated where it lives.
        observation_end
            Censoring time (a timestamp, or a number for numeric logs); default the last event
            time in the log. Events after it are ignored and counted in
            ``Journeys.n_events_after_end``.
        time_unit
            Unit of ``entry_times``; default the log's time unit (days for raw events, whose
            numeric times are read in this unit).
        customer_col, time_col, event_col, attribute_cols
            For raw events only, as in :meth:`funnelkit.EventLog.from_frame`. Every door shares
            :func:`funnelkit.ingest.summaries.journey_fields`;
            :func:`funnelkit.aggregate.journeys_from_events` is this method.
        """
        from funnelkit.ingest.summaries import journey_fields
        from funnelkit.journeys import Journeys

        fields = journey_fields(
            self,
            log,
            observation_end=observation_end,
            time_unit=time_unit,
            customer_col=customer_col,
            time_col=time_col,
            event_col=event_col,
            attribute_cols=attribute_cols,
        )
        return Journeys(**fields)


_STAGE_FIX = (
    "A stage needs a non-empty name, at least one distinct non-empty event name and "
    "min_count >= 1, and a conversion window (within) is a positive finite duration, e.g. "
    "Stage(name='buyer', events=['purchase'], within=30)."
)
_EXCLUSION_FIX = (
    "An exclusion names an event and the two stages it must not happen between, e.g. "
    "Exclusion(event='refund', after='buyer', before='repeat_buyer')."
)
_FUNNEL_FIX = (
    "A funnel needs at least one stage, stage names unique within it, and order 'ordered', "
    "'strict' or 'any', e.g. Funnel(stages=[Stage(name='visitor', events=['visit'])])."
)


def _spec_error(exc: ValidationError, fix: str) -> SpecError:
    """One line per problem pydantic found, then how to write a valid spec.

    A constructor raising a plain :class:`pydantic.ValidationError` would escape
    ``except FunnelkitError``; pydantic validators cannot raise other exception types (they
    are wrapped), so the constructor translates the error instead.
    """
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or exc.title.lower()
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:  # a whole-model problem would only repeat every field
            got = repr(error.get("input"))
            message += f" (got {got if len(got) <= 60 else got[:57] + '...'})"
        problems.append(f"{where}: {message}")
    count = len(problems)
    return SpecError(
        f"Invalid {exc.title}: {count} problem(s): " + "; ".join(problems) + f". {fix}"
    )
