"""ConversionResult: everything a fitted ConversionFitter knows, as one frozen result."""

from __future__ import annotations

from typing import Any, ClassVar

from funnelkit._frames import Backend
from funnelkit._results import Result
from funnelkit.conversion.comparison import SegmentComparison
from funnelkit.conversion.covariate_result import CovariateConversion
from funnelkit.conversion.results import TransitionEstimate
from funnelkit.conversion.summary import ConversionRow, ConversionSummary
from funnelkit.exceptions import FunnelkitError, format_examples
from funnelkit.units import TimeUnitField

__all__ = ["ConversionResult"]


class ConversionResult(Result):
    """Every fitted transition (and segment) of a :class:`ConversionFitter`, and the tests.

    ``transitions`` lists the fitted ``(source, target)`` pairs, adjacent ones first;
    ``segments[i]`` the segment labels of ``transitions[i]`` (empty without ``by``);
    ``estimates`` the pooled estimate of each transition followed by its segments'. A fitter
    loaded from JSON answers :meth:`estimate`, :meth:`summary` and the plots from this alone.

    Examples
    --------
    >>> from funnelkit.datasets.conversion import simulate_transitions
    >>> from funnelkit import ConversionFitter
    >>> result = ConversionFitter().fit(simulate_transitions(1000, seed=2).journeys).result_
    >>> result.estimate("visitor", "member").n_entered
    1000
    >>> ConversionResult.from_json(result.to_json()) == result
    True
    """

    title: ClassVar[str] = "Stage conversion"

    conf_level: float
    time_unit: TimeUnitField
    by: str | None = None
    n_customers: int
    transitions: tuple[tuple[str, str], ...]
    segments: tuple[tuple[str, ...], ...]
    estimates: tuple[TransitionEstimate, ...]
    comparison: SegmentComparison | None = None
    #: the covariate cure models, when fitted with ``covariates=``
    covariates: CovariateConversion | None = None

    def segments_of(self, source: str, target: str) -> tuple[str, ...]:
        """Segment labels of one transition (empty without ``by``)."""
        return self.segments[self._transition_index(source, target)]

    def estimate(self, source: str, target: str, segment: str | None = None) -> TransitionEstimate:
        """The estimate for ``source → target`` (in one ``segment`` if fitted with ``by``)."""
        labels = self.segments_of(source, target)
        if segment is not None:
            if self.by is None:
                raise FunnelkitError("This fitter has no segments: fit it with by=... first.")
            if segment not in labels:
                raise FunnelkitError(
                    f"No segment {segment!r} of {self.by!r} for {source} -> {target}; segments: "
                    f"{format_examples(list(labels), limit=20)}."
                )
        for est in self.estimates:
            if (est.source, est.target, est.segment) == (source, target, segment):
                return est
        raise FunnelkitError(  # only a hand-edited document gets here
            f"The result has no estimate for {source} -> {target}"
            + ("" if segment is None else f" [{segment}]")
            + "; re-create it with ConversionFitter().fit(journeys)."
        )

    def conversion_summary(self, *, segments: bool = True) -> ConversionSummary:
        """The conversion table as a result: one row per transition, then per segment."""
        rows = []
        for (source, target), labels in zip(self.transitions, self.segments, strict=True):
            rows.append(ConversionRow.from_estimate(self.estimate(source, target)))
            if segments:
                rows.extend(
                    ConversionRow.from_estimate(self.estimate(source, target, label))
                    for label in labels
                )
        return ConversionSummary(
            rows=tuple(rows), conf_level=self.conf_level, time_unit=self.time_unit, by=self.by
        )

    def summary(self, backend: Backend = "pandas", *, segments: bool = True) -> Any:
        """The estimates table (see :meth:`ConversionSummary.summary`)."""
        return self.conversion_summary(segments=segments).summary(backend)

    def as_text(self) -> str:
        text = self.conversion_summary().as_text()
        return text if self.covariates is None else text + "\n" + self.covariates.as_text()

    def as_html(self) -> str:
        html = self.conversion_summary().as_html()
        return html if self.covariates is None else html + self.covariates.as_html()

    def _transition_index(self, source: str, target: str) -> int:
        if (source, target) not in self.transitions:
            fitted = [f"{s} -> {t}" for s, t in self.transitions]
            raise FunnelkitError(
                f"No fitted transition {source!r} -> {target!r}; fitted: {fitted}. Ask for other "
                "stage pairs with ConversionFitter(pairs=[(source, target)])."
            )
        return self.transitions.index((source, target))
