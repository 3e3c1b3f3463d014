"""Degenerate journeys under ``np.errstate(all="raise")``: no FloatingPointError, no lie.

Underflow to 0 is how probabilities vanish and is allowed; overflow, division by zero and
invalid operations must not happen in any public method, and every point estimate must lie
inside its own interval.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from funnelkit import StatisticalWarning
from funnelkit.dynamics import StageMarkovFitter
from funnelkit.dynamics.results import Estimate, log_scale_estimate, wilson_estimate
from funnelkit.exceptions import ConvergenceWarning

from ._helpers import make_journeys

NAN = np.nan


def _some_advance(n: int, k: int, entry: float, delay: float, end: float):
    rows = [[entry, entry + delay * (i + 1)] if i < k else [entry, NAN] for i in range(n)]
    return rows, end


CASES = {
    "advance at entry": ([[i, i] if i < 10 else [i, NAN] for i in range(30)], 40.0),
    "entered at the end": _some_advance(30, 10, 40.0, 0.0, 40.0),
    "everyone advanced at entry": ([[i, i] for i in range(13)], 40.0),
    "nobody advanced": ([[i, NAN] for i in range(10)], 40.0),
    "all censored at 0": ([[40.0, NAN] for _ in range(10)], 40.0),
    "single customer": ([[1.0, 3.0]], 40.0),
    "everyone advanced": _some_advance(10, 10, 0.0, 1.0, 40.0),
    "tiny durations": _some_advance(12, 6, 0.0, 1e-300, 1e-290),
    "huge durations": _some_advance(12, 6, 0.0, 1e300, 1e301),
}


def _check(est: Estimate, *, probability: bool) -> None:
    if est.estimate is None:
        assert est.lower is None and est.upper is None
        return
    assert math.isfinite(est.estimate)
    if probability:
        assert 0.0 <= est.estimate <= 1.0
    if est.lower is not None:
        assert est.lower <= est.estimate
    if est.upper is not None:
        assert est.estimate <= est.upper


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("by", [None, "g"])
def test_public_methods_raise_no_floating_point_error(name: str, by: str | None) -> None:
    entry, end = CASES[name]
    n = len(entry)
    groups = np.array((["a", "b"] * n)[:n], dtype=object)
    journeys = make_journeys(entry, end, attributes={"g": groups})
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("ignore", StatisticalWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitter = StageMarkovFitter().fit(journeys, by=by)
        fitter.result_.as_text()
        active = fitter.probability_active(journeys)
        forecast = fitter.forecast(journeys, horizon=10.0, n_draws=20)
        forecast.as_text()
        reaches = [fitter.reach("s1", segment=s) for s in (fitter.segments_ or [None])]
    assert np.all(np.isnan(active) | ((active >= 0.0) & (active <= 1.0)))
    for t in fitter.result_.transitions:
        _check(t.advance_probability, probability=True)
        for est in (t.advance_rate, t.dropout_rate, t.mean_time_in_stage):
            _check(est, probability=False)
    for reach in reaches:
        for est in reach.probability.values():
            _check(est, probability=True)
        for est in reach.expected_time.values():
            _check(est, probability=False)
    for stage in forecast.stage_names:
        value, lo, hi = (forecast.reached[stage], forecast.reached_lower[stage],
                         forecast.reached_upper[stage])  # fmt: skip
        if value is not None:
            assert lo is not None and hi is not None and lo <= value <= hi


@pytest.mark.parametrize("k", [1, 3, 7, 10, 13, 1000])
def test_wilson_estimate_of_all_successes_reaches_one(k: int) -> None:
    # Rounding once left the upper end at 0.9999999999999999, below the estimate 1.0.
    est = wilson_estimate(k, k, 0.95)
    assert est.estimate == 1.0 and est.upper == 1.0
    assert est.lower is not None and 0.0 < est.lower < 1.0
    assert wilson_estimate(0, k, 0.95).lower == 0.0


def test_log_scale_interval_saturates_instead_of_overflowing() -> None:
    with np.errstate(all="raise"):
        wide = log_scale_estimate(1e300, 10.0, 1.96)
        narrow = log_scale_estimate(2.0, 0.1, 1.96)
    assert wide.estimate == 1e300 and wide.upper == math.inf
    assert wide.lower is not None and 0.0 < wide.lower < 1e300
    assert (round(narrow.lower, 4), round(narrow.upper, 4)) == (1.644, 2.4331)
