"""Running the report's sections: a numerical failure leaves a section out with its reason,
and sections that need only the fitted model run while the channel table's bootstrap samples
are fitted in worker processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from funnelkit.lifecycle._bootstrap import FIT_FAILURES, failure_reason
from funnelkit.report.html import SECTIONS
from funnelkit.report.report import StepTimer

__all__ = ["Meanwhile", "Sections", "take_first", "unavailable_notes"]


class Sections:
    """Runs each report section; a numerical failure leaves that section out with its reason.

    Only :data:`~funnelkit.lifecycle._bootstrap.FIT_FAILURES` are contained: a model that
    cannot be fitted on this data is a fact about the data, stated in the report; any other
    exception is a bug and propagates.
    """

    def __init__(self, timer: StepTimer) -> None:
        self.timer = timer
        self.unavailable: dict[str, str] = {}

    def run(self, section: str, step: str, fn: Callable[[], Any], default: Any) -> Any:
        try:
            return self.timer.run(step, fn)
        except FIT_FAILURES as exc:
            self.unavailable[section] = failure_reason(exc)
            return default

    def notes(self) -> list[str]:
        return unavailable_notes(self.unavailable)


def unavailable_notes(unavailable: dict[str, str]) -> list[str]:
    """One sentence per reason, naming the sections (page order) it left empty."""
    by_reason: dict[str, list[str]] = {}
    for key, heading in SECTIONS:
        if key in unavailable:
            by_reason.setdefault(unavailable[key], []).append(heading)
    return [
        f"{', '.join(headings)}: could not be computed: {why}"
        for why, headings in by_reason.items()
    ]


class Meanwhile:
    """Sections that need only the fitted model (the membership uplifts, the adjusted
    comparison), run while the channel table's bootstrap samples are fitted in worker
    processes: with idle cores they take no wall time of their own. Without a channel
    table (or when it fails first) they run where they are taken.

    Each section's failure is kept apart and moved to the report's record when the section
    is taken, so the report is the one of running them in order.
    """

    def __init__(self, timer: StepTimer) -> None:
        self.sections = Sections(timer)
        self.jobs: list[Callable[[], None]] = []
        self.results: dict[str, Any] = {}

    def __call__(self) -> None:
        """Run the sections not run yet."""
        while self.jobs:
            self.jobs.pop(0)()

    def add(
        self,
        section: str,
        step: str,
        fn: Callable[[], Any],
        *,
        after: str = "",
        default: Any = None,
    ) -> None:
        """Run ``fn`` as ``section`` (``default`` when it fails), only if ``after``'s result
        is not None."""

        def job() -> None:
            if not after or self.results.get(after) is not None:
                self.results[section] = self.sections.run(section, step, fn, default)

        self.jobs.append(job)

    def take(self, section: str, into: Sections) -> Any:
        """The section's result (None if it did not run or failed), its failure moved ``into``."""
        self()
        if section in self.sections.unavailable:
            into.unavailable[section] = self.sections.unavailable.pop(section)
        return self.results.get(section)


def take_first(later: Meanwhile, sections: Sections, *, first: bool) -> tuple[Any, Any]:
    """The stage conversion and the trends; with ``first`` (taken after the sections that
    follow them), their failures go first among the report's, where they stood when they
    ran right after the lifecycle model."""
    conversion = later.take("conversion", sections)
    trends = later.take("trends", sections)
    if not first:
        return conversion, trends
    keys = ("conversion", "trends")
    ordered = {k: sections.unavailable[k] for k in keys if k in sections.unavailable}
    ordered.update((k, v) for k, v in sections.unavailable.items() if k not in keys)
    sections.unavailable.clear()
    sections.unavailable.update(ordered)
    return conversion, trends
