"""The log-rank test reads rows in any order: the same statistics to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.conversion.segments import logrank


@pytest.mark.parametrize(("k", "rounding"), [(3, None), (5, 1.0)])
def test_logrank_is_the_same_for_every_row_order(k: int, rounding: float | None) -> None:
    rng = np.random.default_rng(k)
    n = 60_000  # more distinct conversion times than one chunk of the computation
    durations = rng.exponential(5.0, n)
    if rounding is not None:  # ties between conversions and censorings
        durations = np.round(durations / rounding) * rounding
    converted = rng.random(n) < 0.7
    codes = rng.integers(0, k, n)
    ours = logrank(durations, converted, codes, k, pairwise=True)
    shuffle = rng.permutation(n)
    again = logrank(durations[shuffle], converted[shuffle], codes[shuffle], k, pairwise=True)
    assert ours is not None and again is not None
    assert again.statistic == ours.statistic and again.p_value == ours.p_value
    np.testing.assert_array_equal(again.observed_minus_expected, ours.observed_minus_expected)
    np.testing.assert_array_equal(again.pair_statistic, ours.pair_statistic)
    assert ours.df == k - 1
