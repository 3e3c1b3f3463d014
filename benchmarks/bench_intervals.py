"""What the default intervals cost: default fit and report over their point-estimate runs.

Run ``python benchmarks/bench_intervals.py`` (100,000 and 1,000,000 customers, about 10
events each) or ``--customers 100000`` for one size. For each size the same simulated
community (busier buyers than the default, as in ``bench_report.py``; simulating and
ingesting are not timed) is fitted

* by ``LifecycleModel`` with ``n_resamples=0`` (the point estimate) and with its defaults
  (100 bootstrap samples, ``n_jobs=None``), and with ``--serial`` also with the samples in
  one process (``n_jobs=1``);
* by ``funnelkit.report`` with ``n_resamples=0`` and with its defaults.

Prints the times and the ratios default / point estimate (the goal: at most 3); asserts
nothing. ``--samples`` changes the number of bootstrap samples (for quick looks).
"""

from __future__ import annotations

import argparse
import gc
import time

from _common import timed
from bench_report import PARAMS

import funnelkit as fk
from funnelkit.datasets import simulate_community
from funnelkit.lifecycle import LifecycleModel
from funnelkit.lifecycle._bootstrap import worker_count


def run(n_customers: int, samples: int, serial: bool) -> None:
    start = time.perf_counter()
    sim = simulate_community(n_customers, seed=1, params=PARAMS)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    end = sim.observation_end
    n_events = len(sim.events)
    del sim
    gc.collect()
    jobs = worker_count(None, samples, n_customers)
    print(
        f"\n{n_customers:,} customers, {n_events:,} events (prepared in "
        f"{time.perf_counter() - start:.0f} s, not timed); n_jobs=None uses {jobs} process(es)"
    )

    def fit(**settings: object) -> float:
        seconds, _ = timed(lambda: LifecycleModel(**settings).fit(log, observation_end=end))
        return seconds

    def report(**settings: object) -> float:
        seconds, _ = timed(lambda: fk.report(log, observation_end=end, **settings))
        return seconds

    point = fit(n_resamples=0)
    default = fit(n_resamples=samples)
    print(f"LifecycleModel, point estimate       {point:8.1f} s")
    print(f"LifecycleModel, {samples} samples         {default:8.1f} s   {default / point:5.1f}x")
    if serial:
        one = fit(n_resamples=samples, n_jobs=1)
        print(f"LifecycleModel, {samples} samples, n_jobs=1 {one:6.1f} s   {one / point:5.1f}x")
    report_point = report(n_resamples=0)
    report_default = report(n_resamples=samples)
    print(f"report, point estimate               {report_point:8.1f} s")
    print(
        f"report, {samples} samples                 {report_default:8.1f} s   "
        f"{report_default / report_point:5.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, action="append")
    parser.add_argument("--samples", type=int, default=LifecycleModel().n_resamples)
    parser.add_argument("--serial", action="store_true", help="also time n_jobs=1")
    args = parser.parse_args()
    for n in args.customers or [100_000, 1_000_000]:
        run(n, args.samples, args.serial)


if __name__ == "__main__":
    main()
