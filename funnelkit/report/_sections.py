"""Running the report's sections: a numerical failure leaves a section out with its reason,
and sections that need only the fitted model run while the channel table's bootstrap samples
are fitted in worker processes, some of them in forked processes of their own."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Collection
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from funnelkit._blas import single_threaded_blas
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


@dataclass(frozen=True)
class _Job:
    section: str
    step: str
    fn: Callable[[], Any]
    after: str
    default: Any

    def run(self, results: dict[str, Any], sections: Sections) -> None:
        """Run as ``section`` into ``results``, only if ``after``'s result is not None."""
        if not self.after or results.get(self.after) is not None:
            results[self.section] = sections.run(self.section, self.step, self.fn, self.default)


#: the chains of jobs of the running fork and their Meanwhile, inherited by the forked
#: processes (closures over the fitted model cannot be pickled, and need not be: fork copies)
_CHAINS: list[tuple[Meanwhile, list[_Job]]] = []


def _run_chain(index: int) -> tuple[dict[str, Any], dict[str, str], dict[str, float]]:
    """In a forked process: run a chain, return its results, failures and step seconds."""
    later, jobs = _CHAINS[index]
    # the forked copy's own record: what the jobs read of each other's results is there
    sections = Sections(StepTimer(None, total=0))
    for job in jobs:
        job.run(later.results, sections)
    mine = {job.section: later.results[job.section] for job in jobs if job.section in later.results}
    return mine, sections.unavailable, sections.timer.seconds


class Meanwhile:
    """Sections that need only the fitted model (the membership uplifts, the adjusted
    comparison), run while the channel table's bootstrap samples are fitted in worker
    processes: with idle cores they take no wall time of their own. Without a channel
    table (or when it fails first) they run where they are taken.

    :meth:`fork` runs some of them in forked processes of their own, from before the channel
    table's own full-data fits: its samples take a few seconds of the workers, while the
    sections run in this process would otherwise run one after another, on one core.

    Each section's failure is kept apart and moved to the report's record when the section
    is taken, so the report is the one of running them in order (the step seconds of forked
    sections are those measured in their process).
    """

    def __init__(self, timer: StepTimer) -> None:
        self.sections = Sections(timer)
        self.jobs: list[_Job] = []
        self.results: dict[str, Any] = {}
        self._forked: dict[str, Future[Any]] = {}
        self._pool: ProcessPoolExecutor | None = None

    def __call__(self) -> None:
        """Run the sections not run yet in this process."""
        while self.jobs:
            self.jobs.pop(0).run(self.results, self.sections)

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
        self.jobs.append(_Job(section, step, fn, after, default))

    def fork(self, sections: Collection[str]) -> None:
        """Run ``sections`` (with the sections after them) in forked processes, one process
        per chain of sections that follow each other; the others stay here.

        Their results travel back pickled; a section's failure is recorded as if it had run
        here, and any other exception is raised where the section is taken.
        """
        chains: list[list[_Job]] = []
        for job in list(self.jobs):
            chain = next((c for c in chains if job.after in {j.section for j in c}), None)
            if chain is not None:
                chain.append(job)
            elif job.section in sections and not job.after:
                chains.append([job])
            else:
                continue
            self.jobs.remove(job)
        if not chains:
            return
        _CHAINS[:] = [(self, chain) for chain in chains]
        context = multiprocessing.get_context("fork")
        self._pool = ProcessPoolExecutor(len(chains), mp_context=context)
        # forked at the first submission, beside the bootstrap workers: one BLAS thread
        # each, inherited from here (set there, OpenBLAS would start its threads again)
        with single_threaded_blas():
            for index, chain in enumerate(chains):
                future = self._pool.submit(_run_chain, index)
                self._forked.update((job.section, future) for job in chain)

    def take(self, section: str, into: Sections) -> Any:
        """The section's result (None if it did not run or failed), its failure moved ``into``."""
        if section in self._forked:
            self._collect()
        else:
            self()
        if section in self.sections.unavailable:
            into.unavailable[section] = self.sections.unavailable.pop(section)
        return self.results.get(section)

    def _collect(self) -> None:
        """Wait for the forked sections and record them as if they had run here."""
        futures = list(dict.fromkeys(self._forked.values()))
        self._forked.clear()
        try:
            for future in futures:
                results, unavailable, seconds = future.result()
                self.results.update(results)
                self.sections.unavailable.update(unavailable)
                timer = self.sections.timer
                for step, spent in seconds.items():
                    timer.run(step, lambda: None)  # reported as a step, as in this process
                    timer.seconds[step] = spent
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            _CHAINS.clear()


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
