"""Score a large customer base: expected purchases, probability alive and 12-month CLV.

Usage: python benchmarks/bench_clv_score.py [--quick] [--shape weekly|continuous] [--n N]

Fits BG/NBD and Gamma-Gamma on the CDNOW sample (weeks), then scores N synthetic customers
through funnelkit.clv.score_customers, printing wall time and peak resident memory above the
starting level. ``--shape weekly`` gives integer-week summaries (many customers share a row);
``--shape continuous`` gives continuous-clock summaries where every customer's row is
distinct, the hard case for row compression. lifetimes scores a smaller base of the same
shape in the same run for a per-customer speed ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS

from funnelkit import RFM
from funnelkit.clv import BetaGeoFitter, GammaGammaFitter, score_customers
from funnelkit.datasets import load_cdnow


def synthetic_rfm(n: int, seed: int = 0) -> RFM:
    """Weekly RFM summaries shaped like CDNOW's: most customers one-time buyers."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 79, n).astype(float)
    frequency = np.minimum(rng.negative_binomial(0.3, 0.2, n), T).astype(float)
    recency = np.where(frequency > 0, np.ceil(rng.random(n) * T), 0.0)
    recency = np.maximum(recency, np.minimum(frequency, T))
    money = np.where(frequency > 0, np.round(rng.gamma(6.0, 5.0, n), 2), 0.0)
    return RFM.from_arrays(
        frequency=frequency, recency=recency, T=T, monetary_value=money, time_unit="W"
    )


def continuous_rfm(n: int, seed: int = 0) -> RFM:
    """Continuous-clock summaries (weeks) shaped like CDNOW's: every row distinct."""
    rng = np.random.default_rng(seed)
    T = rng.random(n) * 78.0 + 1.0
    frequency = np.minimum(rng.negative_binomial(0.3, 0.2, n), np.floor(T)).astype(float)
    recency = np.where(frequency > 0, rng.random(n) * T, 0.0)
    money = np.where(frequency > 0, np.round(rng.gamma(6.0, 5.0, n), 2), 0.0)
    return RFM.from_arrays(
        frequency=frequency, recency=recency, T=T, monetary_value=money, time_unit="W"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI smoke runs")
    parser.add_argument("--shape", choices=("weekly", "continuous"), default="weekly")
    parser.add_argument("--n", type=int, default=None, help="customers to score")
    args = parser.parse_args()
    n = args.n or (200_000 if args.quick else 10_000_000)
    n_ref = 5_000 if args.quick else 50_000
    build = synthetic_rfm if args.shape == "weekly" else continuous_rfm

    cdnow = load_cdnow()
    bgf = BetaGeoFitter().fit(cdnow, time_unit="W")
    ggf = GammaGammaFitter().fit(cdnow)
    settings = {"horizon": 12, "time_unit": "month", "discount_rate": 0.01}

    start = time.perf_counter()
    rfm = build(n)
    print(f"built and validated {n:,} RFM rows in {time.perf_counter() - start:.2f} s")

    with PeakRSS() as memory:
        start = time.perf_counter()
        scores = score_customers(bgf, ggf, rfm, **settings)
        elapsed = time.perf_counter() - start
    mib = memory.added / 2**20
    print(
        f"funnelkit ({args.shape}): scored {n:,} customers (expected purchases, P(alive), "
        f"12-month CLV) in "
        f"{elapsed:.2f} s; peak memory +{mib:,.0f} MiB ({memory.added / n:.0f} bytes/customer)"
    )
    assert np.all(np.isfinite(scores["clv"]))

    small = build(n_ref, seed=1)
    start = time.perf_counter()
    score_customers(bgf, ggf, small, **settings)
    ours_small = time.perf_counter() - start
    try:
        import lifetimes
        import pandas as pd
    except ImportError:
        print("lifetimes not installed: no reference timing")
        return
    frame = pd.DataFrame({k: v for k, v in small.columns().items() if k != "customer_id"})
    repeat = cdnow[cdnow["frequency"] > 0]
    ref_bg = lifetimes.BetaGeoFitter().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    ref_gg = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    start = time.perf_counter()
    f, r, t = frame["frequency"], frame["recency"], frame["T"]
    ref_bg.conditional_expected_number_of_purchases_up_to_time(12 * 365.25 / 12 / 7, f, r, t)
    ref_bg.conditional_probability_alive(f, r, t)
    ref_gg.customer_lifetime_value(
        ref_bg, f, r, t, frame["monetary_value"], time=12, discount_rate=0.01, freq="W"
    )
    theirs = time.perf_counter() - start
    per_customer = (theirs / n_ref) / (elapsed / n)
    print(f"ratio on {n:,} customers (lifetimes per-customer time projected): {per_customer:.1f}x")
    print(
        f"lifetimes: {n_ref:,} customers in {theirs:.2f} s; funnelkit on the same: "
        f"{ours_small:.3f} s ({theirs / ours_small:,.0f}x faster); projected lifetimes time "
        f"for {n:,}: {theirs * n / n_ref:,.0f} s"
    )


if __name__ == "__main__":
    main()
