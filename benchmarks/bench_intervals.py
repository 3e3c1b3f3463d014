"""What the default intervals cost: default fit and report over their point-estimate runs.

Run ``python benchmarks/bench_intervals.py`` (100,000 and 1,000,000 customers, about 10
events each) or ``--customers 100000`` for one size. For each size the same simulated
community (busier buyers than the default, as in ``bench_report.py``; simulating and
ingesting are not timed) is fitted

* by ``LifecycleModel`` with ``n_resamples=0`` (the point estimate) and with its defaults
  (100 bootstrap samples, ``n_jobs=None``), and with ``--serial`` also with the samples in
  one process (``n_jobs=1``);
* by ``funnelkit.report`` with ``n_resamples=0`` and with its defaults.

An untimed point-estimate fit comes first: the first fit in a process pays for fresh
memory and first imports, which would flatter the ratios by inflating the point estimate.

Prints the times (best of ``--repeat`` runs of each, taken in turn), the ratios default /
point estimate (the goal: at most 3), the CPU time of this process and its workers with the
same ratio (steadier than wall time on a shared machine, and what a bootstrap over idle
cores divides), the load average, and the peak memory each run adds to this process
(bootstrap workers are forked copies: the largest worker's peak is printed last); asserts
nothing. ``--samples`` changes the number of bootstrap samples (for quick looks),
``--no-report`` skips the report runs, ``--days`` stamps the events with their date
only, as many exports do (delays then tie in whole days), and ``--purchase-model
paretonbd`` (or ``mbgnbd``) fits that purchase model instead of BG/NBD.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import time
from collections.abc import Callable
from typing import Any

from _common import PeakRSS, timed
from bench_report import PARAMS

import funnelkit as fk
from funnelkit.datasets import simulate_community
from funnelkit.lifecycle import LifecycleModel
from funnelkit.lifecycle._bootstrap import worker_count


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:5.2f} GiB"


def _cpu() -> float:
    """CPU seconds of this process and of its finished workers."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _workers_peak() -> float:
    """Largest resident memory of any finished worker process (bytes)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024.0


def run(
    n_customers: int,
    samples: int,
    serial: bool,
    with_report: bool,
    days: bool,
    repeat: int,
    purchase_model: str,
) -> None:
    start = time.perf_counter()
    sim = simulate_community(n_customers, seed=1, params=PARAMS)
    events = sim.events
    if days:  # stamped with the date only, as many exports are
        events = events.assign(timestamp=events["timestamp"].dt.floor("D"))
    log = fk.EventLog.from_frame(events, value_col="value", attribute_cols=["channel"])
    end = sim.observation_end
    n_events = len(events)
    del sim, events
    gc.collect()
    jobs = worker_count(None, samples, n_customers)
    print(
        f"\n{n_customers:,} customers, {n_events:,} events{' stamped by day' if days else ''} "
        f"(prepared in {time.perf_counter() - start:.0f} s, not timed); n_jobs=None uses "
        f"{jobs} process(es) at load {os.getloadavg()[0]:.1f}; purchase model {purchase_model}"
    )

    def measure(call: Callable[[], object]) -> tuple[float, float, int]:
        """Wall and CPU seconds of one run, and the memory it adds at its peak."""
        gc.collect()
        before = _cpu()
        with PeakRSS() as mem:
            seconds, _ = timed(call)
        return seconds, _cpu() - before, mem.added

    def fit(**settings: Any) -> Callable[[], object]:
        return lambda: LifecycleModel(
            progress=False, purchase_model=purchase_model, **settings
        ).fit(log, observation_end=end)

    def report(**settings: Any) -> Callable[[], object]:
        return lambda: fk.report(
            log, observation_end=end, purchase_model=purchase_model, **settings
        )

    # label, run, the label of its point-estimate run (None: it is one)
    point_fit, point_report = "LifecycleModel, point estimate", "report, point estimate"
    runs = [
        (point_fit, fit(n_resamples=0), None),
        (f"LifecycleModel, {samples} samples", fit(n_resamples=samples), point_fit),
    ]
    if serial:
        label = f"LifecycleModel, {samples} samples, n_jobs=1"
        runs.append((label, fit(n_resamples=samples, n_jobs=1), point_fit))
    if with_report:
        runs.append((point_report, report(n_resamples=0), None))
        runs.append((f"report, {samples} samples", report(n_resamples=samples), point_report))
    fit(n_resamples=0)()  # warm-up: every timed run starts in a process that has fitted
    best: dict[str, tuple[float, float, int]] = {}
    for _ in range(repeat):  # in turn, so that a busy spell of the machine falls on all
        for label, call, _ in runs:
            seconds, cpu, added = measure(call)
            old = best.get(label, (math.inf, math.inf, 0))
            best[label] = (min(old[0], seconds), min(old[1], cpu), max(old[2], added))
    for label, _, point in runs:
        seconds, cpu, added = best[label]
        ratio = cpu_ratio = ""
        if point is not None:
            ratio = f"{seconds / best[point][0]:5.1f}x"
            cpu_ratio = f"{cpu / best[point][1]:5.1f}x"
        print(
            f"{label:<38} {seconds:8.1f} s  {ratio:>6}   cpu {cpu:6.1f} s {cpu_ratio:>6}"
            f"   peak +{_gib(added)}"
        )
    print(f"largest worker: {_gib(_workers_peak())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, action="append")
    parser.add_argument("--samples", type=int, default=LifecycleModel().n_resamples)
    parser.add_argument("--serial", action="store_true", help="also time n_jobs=1")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, best taken")
    parser.add_argument("--no-report", action="store_true", help="time LifecycleModel only")
    parser.add_argument(
        "--days", action="store_true", help="events stamped by day (tied delays), not instants"
    )
    parser.add_argument(
        "--purchase-model", default="bgnbd", help="LifecycleModel's purchase_model (default bgnbd)"
    )
    args = parser.parse_args()
    for n in args.customers or [100_000, 1_000_000]:
        run(
            n,
            args.samples,
            args.serial,
            not args.no_report,
            args.days,
            args.repeat,
            args.purchase_model,
        )


if __name__ == "__main__":
    main()
