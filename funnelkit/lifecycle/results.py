"""Results of the lifecycle model: frozen, JSON round-trip, text and HTML.

``None`` means "not estimable" (nobody entered a stage, too few bootstrap replicates
succeeded); a number is always a number.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import AliasChoices, Field, model_validator

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.units import TimeUnitField

__all__ = [
    "ASSOCIATION_STATEMENT",
    "AdvanceValue",
    "MembershipUplift",
    "SegmentValue",
    "SegmentValues",
    "StageValue",
    "StageValues",
    "StepConversion",
    "UpliftStratum",
    "ValueEstimate",
]

ASSOCIATION_STATEMENT = (
    "This is an association, not a causal effect: customers choose to join, and the people "
    "who join may have bought more anyway. Stratifying by acquisition channel and entry cohort "
    "removes only the differences those variables explain."
)


def _estimates_frame(
    ids: dict[str, np.ndarray], estimates: list[ValueEstimate], backend: Backend
) -> Any:
    """The fixed-schema table: identifying columns, then estimate, std_error, lower, upper."""

    def column(values: list[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=float)

    bounds = [(None, None) if e.ci is None else tuple(e.ci) for e in estimates]
    return frame_from_columns(
        {
            **ids,
            "estimate": column([e.value for e in estimates]),
            "std_error": column([e.std_error for e in estimates]),
            "lower": column([b[0] for b in bounds]),
            "upper": column([b[1] for b in bounds]),
        },
        backend,
    )


def _money(value: float | None, ci: Interval | None = None) -> str:
    if value is None:
        return "not estimable"
    lower, upper = (None, None) if ci is None else ci
    band = "" if lower is None or upper is None else f" ({lower:,.2f} to {upper:,.2f})"
    return f"{value:,.2f}{band}"


class ValueEstimate(Result):
    """A value with its interval: ``ci`` (an :class:`~funnelkit._results.Interval`, which
    unpacks as ``(lower, upper)``) or None when not estimable."""

    title: ClassVar[str] = "Value"
    value: float | None
    ci: Interval | None = None
    std_error: float | None = None

    def __str__(self) -> str:
        return _money(self.value, self.ci)


class StageValue(ValueEstimate):
    """The value of a customer who has just entered one stage (see :mod:`.values`)."""

    title: ClassVar[str] = "Stage value"
    stage: str
    n_entrants: int
    share_bought_before: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, data: Any) -> Any:
        # ``expected_purchases`` was never computed (always null); files written with it load.
        if isinstance(data, dict) and data.get("expected_purchases", 0) is None:
            data = {k: v for k, v in data.items() if k != "expected_purchases"}
        return data


class _Header(Result):
    horizon: float
    time_unit: TimeUnitField
    discount_rate: float
    conf_level: float
    n_resamples: int = Field(validation_alias=AliasChoices("n_resamples", "n_bootstrap"))
    interval_method: str
    value_unit: str

    @property
    def n_bootstrap(self) -> int:
        """Former name of ``n_resamples``."""
        return self.n_resamples

    def _horizon_text(self) -> str:
        unit = self.time_unit.value
        return (
            f"horizon {self.horizon:g} {unit}s, discount {self.discount_rate:g} per {unit}, "
            f"values in {self.value_unit}; {self.conf_level:.0%} intervals: {self.interval_method}"
        )


class StageValues(_Header, Mapping[str, StageValue]):
    """Stage name → :class:`StageValue`, in funnel order, plus the value of a new buyer.

    Examples
    --------
    >>> from funnelkit.lifecycle import StageValue, StageValues
    >>> sv = StageValues(stages={"visitor": StageValue(stage="visitor", value=12.0,
    ...     ci=(10.0, 14.0), n_entrants=100)}, horizon=52, time_unit="W", discount_rate=0.0,
    ...     conf_level=0.95, n_resamples=100, interval_method="bootstrap", value_unit="USD")
    >>> lower, upper = sv["visitor"].ci
    >>> (lower, upper)
    (10.0, 14.0)
    """

    title: ClassVar[str] = "Stage values"
    stages: dict[str, StageValue]
    buyer_values: dict[str, ValueEstimate] = Field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> StageValue:
        return self.stages[key]

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def table(self) -> list[Mapping[str, Any]]:
        rows: list[Mapping[str, Any]] = []
        for name, sv in self.stages.items():
            lower, upper = sv.ci if sv.ci is not None else (None, None)
            rows.append(
                {
                    "stage": name,
                    "entrants": sv.n_entrants,
                    "value": sv.value,
                    "lower": lower,
                    "upper": upper,
                    "bought before entry": sv.share_bought_before,
                }
            )
        return rows

    def summary(self, backend: Backend = "pandas") -> Any:
        """One row per stage: ``stage``, ``n_entrants``, ``estimate``, ``std_error``,
        ``lower``, ``upper`` (NaN where not estimable), as a pandas, polars or pyarrow frame.
        """
        rows = list(self.stages.values())
        ids = {
            "stage": np.array([r.stage for r in rows], dtype=object),
            "n_entrants": np.array([r.n_entrants for r in rows], dtype=np.int64),
        }
        return _estimates_frame(ids, list(rows), backend)

    def as_text(self) -> str:
        lines = [f"{self.title} ({self._horizon_text()})"]
        for name, sv in self.stages.items():
            lines.append(f"  {name:<16}{_money(sv.value, sv.ci):>36}   n={sv.n_entrants:,}")
        for name, bv in self.buyer_values.items():
            lines.append(f"  new buyer, {name:<16}{_money(bv.value, bv.ci):>30}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        return html_table(self.table(), caption=f"{self.title} ({self._horizon_text()})")


class AdvanceValue(_Header):
    """Value created when a customer moves from ``source`` to ``target``.

    ``value = V(target) - V(source)``, with the interval computed within each bootstrap
    sample. It describes customers who advanced, not the effect of making others do so.
    """

    title: ClassVar[str] = "Value of advancing"
    source: str
    target: str
    value: float | None
    ci: Interval | None = None
    std_error: float | None = None
    source_value: float | None = None
    target_value: float | None = None

    def as_text(self) -> str:
        return (
            f"{self.title} {self.source} -> {self.target}: {_money(self.value, self.ci)} "
            f"({self._horizon_text()})"
        )

    def _display_items(self) -> list[tuple[str, Any]]:
        return [
            ("transition", f"{self.source} -> {self.target}"),
            ("value created", _money(self.value, self.ci)),
            (f"value at {self.source}", _money(self.source_value)),
            (f"value at {self.target}", _money(self.target_value)),
            ("settings", self._horizon_text()),
        ]


class StepConversion(Result):
    """Eventual (censoring-aware) conversion of one funnel step in one segment."""

    source: str
    target: str
    naive_rate: float | None
    eventual_rate: float | None
    eventual_rate_ci: Interval | None


class SegmentValue(Result):
    """One segment (e.g. one acquisition channel): reach, conversion and value."""

    segment: str
    n_prospects: int
    share: float
    conversion: tuple[StepConversion, ...]
    member_share: float | None
    buyer_value: ValueEstimate
    value_per_prospect: ValueEstimate
    stage_values: dict[str, ValueEstimate]
    pooled_models: tuple[str, ...] = ()


class SegmentValues(_Header):
    """Per segment: how many it reaches, how they convert, and what they are worth.

    ``value_per_prospect`` is the stage value of the segment's first stage: the number that
    says whether a channel's reach pays off (compare it with the cost per prospect).
    """

    title: ClassVar[str] = "Value by segment"
    by: str
    first_stage: str
    rows: tuple[SegmentValue, ...]
    notes: tuple[str, ...] = ()

    def table(self) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        for row in self.rows:
            rec: dict[str, Any] = {
                self.by: row.segment,
                "prospects": row.n_prospects,
                "share": row.share,
            }
            for step in row.conversion:
                rec[f"{step.source} -> {step.target}"] = step.eventual_rate
            rec["member share of buyers"] = row.member_share
            rec["value per new buyer"] = row.buyer_value.value
            rec["value per prospect"] = row.value_per_prospect.value
            lo, hi = row.value_per_prospect.ci or (None, None)
            rec["lower"], rec["upper"] = lo, hi
            out.append(rec)
        return out

    def summary(self, backend: Backend = "pandas") -> Any:
        """Value per prospect by segment: the segment (named ``by``), ``n_prospects``,
        ``estimate``, ``std_error``, ``lower``, ``upper`` (NaN where not estimable)."""
        ids = {
            self.by: np.array([r.segment for r in self.rows], dtype=object),
            "n_prospects": np.array([r.n_prospects for r in self.rows], dtype=np.int64),
        }
        return _estimates_frame(ids, [r.value_per_prospect for r in self.rows], backend)

    def as_text(self) -> str:
        lines = [f"{self.title}: {self.by} ({self._horizon_text()})"]
        for row in self.rows:
            steps = ", ".join(
                f"{s.target} {s.eventual_rate:.1%}"
                if s.eventual_rate is not None
                else f"{s.target} n/a"
                for s in row.conversion
            )
            per = row.value_per_prospect
            lines.append(
                f"  {row.segment:<14}{row.n_prospects:>10,} {self.first_stage}s  "
                f"per {self.first_stage}: {_money(per.value, per.ci)}"
                f"  per new buyer: {_money(row.buyer_value.value)}  [{steps}]"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        return html_table(self.table(), caption=f"{self.title}: {self.by} ({self._horizon_text()})")


class UpliftStratum(Result):
    """One stratum of the membership comparison."""

    stratum: str
    n_members: int
    n_non_members: int
    member_value: float | None
    non_member_value: float | None


class MembershipUplift(_Header):
    """Expected horizon value of member buyers vs comparable non-member buyers.

    Each buyer's value is the discounted value of their purchases over the horizon from their
    first purchase: what they bought so far within it, plus the model's conditional
    expectation for the rest. Within each stratum (acquisition channel x cohort of the first
    purchase) the mean of members is compared with the mean of non-members; ``difference`` is
    the average of those differences weighted by the members in each stratum (the members'
    mix). Strata without both groups are left out (``n_members_compared`` says how many
    members were compared). ``statement`` says what this is not: a causal effect.
    """

    title: ClassVar[str] = "Membership uplift"
    strata: tuple[str, ...]
    difference: ValueEstimate
    member_value: float | None
    non_member_value: float | None
    ratio: float | None
    crude_difference: float | None
    n_members: int
    n_non_members: int
    n_members_compared: int
    n_strata_compared: int
    rows: tuple[UpliftStratum, ...]
    statement: str = ASSOCIATION_STATEMENT

    def as_text(self) -> str:
        d = self.difference
        lines = [
            f"{self.title} ({self._horizon_text()})",
            f"  members vs comparable non-members, stratified by {' x '.join(self.strata)}",
            f"  member buyer:            {_money(self.member_value)}",
            f"  comparable non-member:   {_money(self.non_member_value)}",
            f"  difference:              {_money(d.value, d.ci)}",
            f"  unstratified difference: {_money(self.crude_difference)}",
            f"  members compared: {self.n_members_compared:,} of {self.n_members:,} in "
            f"{self.n_strata_compared} strata",
            f"  {self.statement}",
        ]
        return "\n".join(lines)

    def _display_items(self) -> list[tuple[str, Any]]:
        return [
            ("stratified by", " x ".join(self.strata)),
            ("member buyer", _money(self.member_value)),
            ("comparable non-member buyer", _money(self.non_member_value)),
            ("difference", _money(self.difference.value, self.difference.ci)),
            ("unstratified difference", _money(self.crude_difference)),
            ("members compared", f"{self.n_members_compared:,} of {self.n_members:,}"),
            ("settings", self._horizon_text()),
            ("caveat", self.statement),
        ]

    def as_html(self) -> str:
        return html_table(dict(self._display_items()), caption=self.title)
