"""What per-customer purchase-count intervals cost, for light and heavy buyers.

Usage: python benchmarks/bench_uncertainty.py [--customers N] [--draws D] [--models ...]

For BG/NBD and Pareto/NBD, simulates ``N`` customers (52 calibration weeks) in two shapes,

* light: the simulators' default (CDNOW-like) parameters, most customers buying once or not
  at all (under one purchase each in the calibration period);
* heavy: busy buyers, about 40 purchases each,

fits the model (not timed) and prints the time per 1,000 customers of

* ``prediction_interval(52.0, customers, n_resamples=D)``, whose count grid grows with each
  customer's expected count;
* ``conditional_probability_of_purchases(52.0, customers, n=k)`` for k = 0, 1, 5 and 20,
  and for Pareto/NBD the same four calls of lifetimes'
  ``conditional_probability_of_n_purchases_up_to_time`` at the same parameters, with the
  ratio lifetimes / funnelkit (lifetimes has the conditional pmf for Pareto/NBD only; its
  BG/NBD ``probability_of_n_purchases_up_to_time`` is unconditional). Customers where
  lifetimes returns no finite number are counted.

Prints wall and CPU seconds (CPU time is steadier on a shared machine). Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed

from funnelkit.clv import BetaGeoFitter, ParetoNBDFitter
from funnelkit.datasets.btyd import simulate_bgnbd, simulate_pareto_nbd

#: parameters of busy buyers (about 40 purchases in 52 weeks), as in the interval tests
HEAVY = {
    "bgnbd": {"r": 2.0, "alpha": 2.0, "a": 0.3, "b": 30.0},
    "pareto": {"r": 2.0, "alpha": 2.0, "s": 0.3, "beta": 100.0},
}
MODELS: dict[str, tuple[type, Callable[..., Any]]] = {
    "bgnbd": (BetaGeoFitter, simulate_bgnbd),
    "pareto": (ParetoNBDFitter, simulate_pareto_nbd),
}
COUNTS = (0, 1, 5, 20)
HORIZON = 52.0


def lifetimes_pmf(model: Any, rfm: Any) -> tuple[float, int] | None:
    """Seconds of lifetimes' conditional pmf at ``COUNTS`` and its non-finite customers."""
    try:
        import lifetimes
        import pandas as pd
    except ImportError:
        return None
    oracle = lifetimes.ParetoNBDFitter()
    oracle.params_ = pd.Series(model.params_)
    x, tx, T = (np.asarray(v, dtype=float) for v in (rfm.frequency, rfm.recency, rfm.T))

    def run() -> np.ndarray:
        return np.stack(
            [
                oracle.conditional_probability_of_n_purchases_up_to_time(k, HORIZON, x, tx, T)
                for k in COUNTS
            ]
        )

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # best of three, as for funnelkit's calls: both sides warmed up
        seconds, values = timed(run, repeat=3)
    return seconds, int(np.sum(~np.isfinite(values).all(axis=0)))


def run(name: str, shape: str, customers: int, draws: int) -> None:
    cls, simulate = MODELS[name]
    params = HEAVY[name] if shape == "heavy" else {}
    sim = simulate(customers, T=52.0, seed=1, **params)
    rfm = sim.rfm
    model = cls().fit(rfm)
    per_k = 1000.0 / customers

    cpu = time.process_time()
    seconds, table = timed(
        lambda: model.prediction_interval(HORIZON, rfm, n_resamples=draws, backend="pandas")
    )
    cpu = time.process_time() - cpu
    print(
        f"{name:7s} {shape:5s} mean purchases {float(np.mean(rfm.frequency)):5.1f}, "
        f"mean upper bound {float(table.upper.mean()):6.1f}: prediction_interval "
        f"{seconds * per_k:7.3f} s per 1,000 customers ({cpu * per_k:7.3f} s CPU; {draws} draws)"
    )

    def pmf() -> np.ndarray:
        return np.stack(
            [model.conditional_probability_of_purchases(HORIZON, rfm, n=k) for k in COUNTS]
        )

    ours, _ = timed(pmf, repeat=3)
    line = f"{'':13s} conditional pmf at n={COUNTS}: {ours * per_k * 1000:8.2f} ms per 1,000"
    theirs = lifetimes_pmf(model, rfm) if name == "pareto" else None
    if theirs is not None:
        line += (
            f"; lifetimes {theirs[0] * per_k * 1000:8.2f} ms (ratio {theirs[0] / ours:5.1f}x, "
            f"{theirs[1]} customer(s) without a finite value)"
        )
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument(
        "--shapes", nargs="+", choices=["light", "heavy"], default=["light", "heavy"]
    )
    args = parser.parse_args()
    for name in args.models:
        for shape in args.shapes:
            run(name, shape, args.customers, args.draws)


if __name__ == "__main__":
    main()
