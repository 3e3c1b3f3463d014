"""Stage dynamics: fitting and forecasting speed against the alternatives, measured here.

* fit: StageMarkovFitter (all stages) vs lifelines' exponential MixtureCureFitter run on
  each stage (the same model, same estimates);
* forecast: the grouped closed form vs the same expected counts summed one customer at a
  time (one scipy.linalg.expm shared by all);
* batched matrix exponentials vs scipy.linalg.expm on each generator of the draws.

Run: python benchmarks/bench_dynamics.py [n_customers]
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import expm

from funnelkit.dynamics import StageMarkovFitter, simulate_stage_chain
from funnelkit.dynamics.chain import expm_stack, generator, quantity_matrix

LAM = (0.12, 0.05, 0.03)
MU = (0.08, 0.05, 0.02)


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def bench_fit(journeys: Any) -> None:
    ours, fitter = timed(lambda: StageMarkovFitter().fit(journeys))
    try:
        from lifelines import ExponentialFitter, MixtureCureFitter
    except ImportError:
        print(f"fit: {ours * 1e3:.1f} ms (lifelines not installed, no comparison)")
        return

    def lifelines_fit() -> list[float]:
        out = []
        names = journeys.stage_names
        for k in range(len(names) - 1):
            _, d, e = journeys.transition(names[k], names[k + 1])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = MixtureCureFitter(base_fitter=ExponentialFitter()).fit(np.maximum(d, 1e-9), e)
            out.append(1 - float(m.cured_fraction_))
        return out

    theirs, probs = timed(lifelines_fit, repeat=1)
    ours_p = [t.advance_probability.estimate for t in fitter.result_.transitions]
    gap = max(abs(a - b) for a, b in zip(ours_p, probs, strict=True))
    print(
        f"fit ({len(journeys)} customers, 3 stages): funnelkit {ours * 1e3:.1f} ms, lifelines "
        f"{theirs * 1e3:.1f} ms -> {theirs / ours:.1f}x faster; max |Δ advance prob| {gap:.1e}"
    )


def bench_forecast(journeys: Any, fitter: StageMarkovFitter) -> None:
    horizon = 30.0
    ours, _ = timed(lambda: fitter.forecast(journeys, horizon=horizon, n_draws=0))
    pi = fitter.probability_active(journeys)
    rates = [(t.advance_rate.estimate, t.dropout_rate.estimate) for t in fitter.result_.transitions]
    lam, mu = (np.array(x) for x in zip(*rates, strict=True))
    qm = quantity_matrix(4)
    reached = ~np.isnan(journeys.entry_times)
    idx = np.flatnonzero(reached[:, 0])[:2000]  # a subset: the loop is slow

    def per_customer() -> np.ndarray:
        total = np.zeros(qm.shape[1])
        p = expm(generator(lam, mu) * horizon)
        for i in idx:
            k = int(np.flatnonzero(reached[i])[-1])
            dormant = qm[4 + k] if k < 3 else np.zeros(qm.shape[1])
            total += pi[i] * (p[k] @ qm) + (1 - pi[i]) * dormant
        return total

    loop, _ = timed(per_customer, repeat=1)
    loop_all = loop * reached[:, 0].sum() / idx.size
    print(
        f"forecast ({int(reached[:, 0].sum())} customers, 51 points): funnelkit "
        f"{ours * 1e3:.1f} ms vs a per-customer Python loop ~{loop_all * 1e3:.0f} ms for one point "
        f"-> {loop_all / ours:.0f}x"
    )
    ours_d, _ = timed(lambda: fitter.forecast(journeys, horizon=horizon, n_draws=200))
    print(f"forecast with 200 parameter draws: {ours_d * 1e3:.1f} ms")


def bench_expm() -> None:
    rng = np.random.default_rng(0)
    q = generator(rng.uniform(0.01, 0.2, (200, 3)), rng.uniform(0.01, 0.2, (200, 3))) * 5.0
    ours, a = timed(lambda: expm_stack(q))
    theirs, b = timed(lambda: np.stack([expm(x) for x in q]))
    err = float(np.abs(a - b).max())
    print(
        f"200 matrix exponentials (7x7): batched {ours * 1e3:.2f} ms, scipy one by one "
        f"{theirs * 1e3:.2f} ms -> {theirs / ours:.0f}x; max |Δ| {err:.1e}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    sim = simulate_stage_chain(n, advance_rates=LAM, dropout_rates=MU, seed=0, arrival_window=120)
    journeys = sim.funnel.journeys(sim.log(), observation_end=150.0)
    bench_fit(journeys)
    bench_forecast(journeys, StageMarkovFitter().fit(journeys))
    bench_expm()


if __name__ == "__main__":
    main()
