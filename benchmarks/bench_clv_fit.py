"""Fit and scoring speed of the BTYD fitters against lifetimes, measured in the same run.

Prints ratios (lifetimes time / funnelkit time); nothing here is a timed assertion.

    python benchmarks/bench_clv_fit.py          # 1M BG/NBD, 100k Pareto/NBD, 10M scoring
    python benchmarks/bench_clv_fit.py --quick  # 100k, 20k, 1M

Data are simulated at day resolution (integer recency and T, as an RFM built from daily
event data has), from the published CDNOW estimates converted to days.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from funnelkit.clv import BetaGeoFitter, ParetoNBDFitter
from funnelkit.datasets.btyd import simulate_bgnbd, simulate_pareto_nbd
from funnelkit.rfm import RFM

DAYS_PER_WEEK = 7.0


def day_resolution(rfm: RFM) -> RFM:
    """Floor recency and T to whole days, as calendar-day summaries are."""
    T = np.floor(rfm.T)
    return RFM.from_arrays(
        frequency=rfm.frequency,
        recency=np.minimum(np.floor(rfm.recency), T),
        T=T,
        time_unit="D",
    )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_bgnbd(n: int, seed: int) -> None:
    from lifetimes import BetaGeoFitter as LifetimesBG

    rng = np.random.default_rng(seed)
    sim = simulate_bgnbd(
        n, T=rng.integers(7, 366, n).astype(float), alpha=4.414 * DAYS_PER_WEEK, seed=rng
    )
    rfm = day_resolution(sim.rfm)
    ours_s, ours = timed(lambda: BetaGeoFitter().fit(rfm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_s, theirs = timed(lambda: LifetimesBG().fit(rfm.frequency, rfm.recency, rfm.T))
    rel = max(abs(ours.params_[k] / theirs.params_[k] - 1) for k in ours.params_)
    print(
        f"BG/NBD fit, {n:,} customers ({ours.result_.n_unique_rows:,} unique rows): "
        f"funnelkit {ours_s:.2f}s, lifetimes {theirs_s:.2f}s -> {theirs_s / ours_s:.1f}x "
        f"(max relative parameter difference {rel:.1e})"
    )


def bench_pareto(n: int, seed: int) -> None:
    from lifetimes import ParetoNBDFitter as LifetimesPareto

    rng = np.random.default_rng(seed)
    sim = simulate_pareto_nbd(
        n,
        T=rng.integers(7, 366, n).astype(float),
        alpha=10.578 * DAYS_PER_WEEK,
        beta=11.669 * DAYS_PER_WEEK,
        seed=rng,
    )
    rfm = day_resolution(sim.rfm)
    ours_s, ours = timed(lambda: ParetoNBDFitter().fit(rfm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_s, theirs = timed(lambda: LifetimesPareto().fit(rfm.frequency, rfm.recency, rfm.T))
    rel = max(abs(ours.params_[k] / theirs.params_[k] - 1) for k in ours.params_)
    print(
        f"Pareto/NBD fit, {n:,} customers ({ours.result_.n_unique_rows:,} unique rows): "
        f"funnelkit {ours_s:.2f}s, lifetimes {theirs_s:.2f}s -> {theirs_s / ours_s:.1f}x "
        f"(max relative parameter difference {rel:.1e}; lifetimes stops at tol=1e-4)"
    )


def bench_scoring(n: int, seed: int) -> None:
    import pandas as pd
    from lifetimes import BetaGeoFitter as LifetimesBG, ParetoNBDFitter as LifetimesPareto

    rng = np.random.default_rng(seed)
    T = rng.integers(7, 366, n).astype(float)
    weekly = {"alpha": 4.414 * DAYS_PER_WEEK}
    pareto = {"alpha": 10.578 * DAYS_PER_WEEK, "beta": 11.669 * DAYS_PER_WEEK}
    for ours, theirs, names, simulate, scale in (
        (BetaGeoFitter(), LifetimesBG(), ("r", "alpha", "a", "b"), simulate_bgnbd, weekly),
        (
            ParetoNBDFitter(),
            LifetimesPareto(),
            ("r", "alpha", "s", "beta"),
            simulate_pareto_nbd,
            pareto,
        ),
    ):
        rfm = day_resolution(simulate(n, T=T, seed=rng, **scale).rfm)
        freq, rec, age = rfm.frequency, rfm.recency, rfm.T
        ours.fit(RFM.from_arrays(frequency=freq[:20_000], recency=rec[:20_000], T=age[:20_000]))
        theirs.params_ = pd.Series([ours.params_[k] for k in names], index=list(names))
        ours_s, _ = timed(
            lambda ours=ours, rfm=rfm: (
                ours.expected_purchases(30.0, rfm),
                ours.probability_alive(rfm),
            )
        )
        m = min(n, 1_000_000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs_s, _ = timed(
                lambda theirs=theirs, m=m, freq=freq, rec=rec, age=age: (
                    theirs.conditional_expected_number_of_purchases_up_to_time(
                        30.0, freq[:m], rec[:m], age[:m]
                    ),
                    theirs.conditional_probability_alive(freq[:m], rec[:m], age[:m]),
                )
            )
        theirs_full = theirs_s * n / m
        print(
            f"{type(ours).__name__} scoring {n:,} customers (expected purchases + P(alive)): "
            f"funnelkit {ours_s:.2f}s, lifetimes {theirs_full:.2f}s"
            + (f" (extrapolated from {m:,})" if m < n else "")
            + f" -> {theirs_full / ours_s:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    sizes = (100_000, 20_000, 1_000_000) if args.quick else (1_000_000, 100_000, 10_000_000)
    bench_bgnbd(sizes[0], args.seed)
    bench_pareto(sizes[1], args.seed + 1)
    bench_scoring(sizes[2], args.seed + 2)


if __name__ == "__main__":
    main()
