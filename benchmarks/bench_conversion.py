"""Censoring-aware conversion: speed on a large simulated community, against lifelines.

* journeys + ConversionFitter().fit (Kaplan-Meier, three cure models per transition, AIC
  choice) for every transition of the 4-stage community funnel;
* Kaplan-Meier curves alone: funnelkit's kaplan_meier vs lifelines' KaplanMeierFitter on the
  same (duration, converted) arrays, with the largest difference between the two curves, on
  continuous durations and on the same durations in whole days (many ties).

Simulating the events and ingesting them (EventLog.from_frame) are not part of the timing.

Run: python benchmarks/bench_conversion.py [--quick] [--customers N] [--by channel]
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from funnelkit import EventLog, Funnel
from funnelkit.conversion import ConversionFitter, format_conversion_table, kaplan_meier
from funnelkit.datasets import simulate_community


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time over ``repeat`` runs, and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_kaplan_meier(journeys: Any, repeat: int) -> None:
    pairs = list(zip(journeys.stage_names[:-1], journeys.stage_names[1:], strict=True))
    data = [journeys.transition(s, t)[1:] for s, t in pairs]
    compare_kaplan_meier(data, "continuous durations", repeat)
    # durations counted in whole days: few distinct times, many ties at each
    days = [(np.ceil(d), c) for d, c in data]
    compare_kaplan_meier(days, "whole-day durations", repeat)


def compare_kaplan_meier(
    data: list[tuple[np.ndarray, np.ndarray]], label: str, repeat: int
) -> None:
    ours, curves = timed(lambda: [kaplan_meier(d, c) for d, c in data], repeat)
    try:
        from lifelines import KaplanMeierFitter
    except ImportError:
        print(f"Kaplan-Meier curves: {ours:.3f} s (lifelines not installed, no comparison)")
        return

    def lifelines_curves() -> list[Any]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [KaplanMeierFitter().fit(d, c) for d, c in data]

    theirs, fitted = timed(lifelines_curves, repeat)
    worst = 0.0
    for km, kmf in zip(curves, fitted, strict=True):
        sf = kmf.survival_function_.iloc[:, 0].loc[km.times].to_numpy()
        lower = kmf.confidence_interval_survival_function_.iloc[:, 0].loc[km.times].to_numpy()
        ok = ~np.isnan(km.upper)
        worst = max(worst, float(np.max(np.abs(1 - km.rate - sf))))
        worst = max(worst, float(np.max(np.abs(1 - km.upper[ok] - lower[ok]))))
    n = sum(d.size for d, _ in data)
    print(
        f"Kaplan-Meier curves + log-log bands, {len(data)} transitions, {n:,} rows, {label}: "
        f"funnelkit {ours:.3f} s, lifelines {theirs:.3f} s -> {theirs / ours:.1f}x faster "
        f"(largest difference {worst:.1e})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50,000 customers")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--by", default=None, help="also time a segmented fit, e.g. channel")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n = args.customers or (50_000 if args.quick else 1_000_000)
    repeat = 3 if n <= 100_000 else 1

    start = time.perf_counter()
    sim = simulate_community(n, seed=args.seed)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    print(
        f"{n:,} simulated prospects, {len(log):,} events "
        f"(simulated and ingested in {time.perf_counter() - start:.1f} s, not timed below)"
    )
    funnel = Funnel.community()
    t_journeys, journeys = timed(
        lambda: funnel.journeys(log, observation_end=sim.observation_end), repeat
    )
    t_fit, fitter = timed(lambda: ConversionFitter().fit(journeys), repeat)
    print(
        f"journeys {t_journeys:.2f} s + ConversionFitter.fit {t_fit:.2f} s = "
        f"{t_journeys + t_fit:.2f} s for {len(journeys.stage_names)} stages"
    )
    if args.by:
        t_by, _ = timed(lambda: ConversionFitter().fit(journeys, by=args.by), 1)
        print(f"ConversionFitter.fit(by={args.by!r}) {t_by:.2f} s (segments + tests)")
    bench_kaplan_meier(journeys, repeat)
    print()
    print(format_conversion_table(fitter))


if __name__ == "__main__":
    main()
