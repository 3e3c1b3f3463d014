"""The uplift's bootstrap comparison, members and non-members summed apart, to the last bit."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.lifecycle._bootstrap import replicate_weights
from funnelkit.lifecycle.uplift import _Split, _stratified


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_sums_give_the_stratified_difference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 5000, 37
    codes = rng.integers(0, k, n)
    member = rng.random(n) < 0.3
    values = rng.gamma(2.0, 50.0, n) * (rng.random(n) < 0.8)
    weights = replicate_weights(seed, n).astype(float)
    split = _Split(member, codes, k)
    assert (
        split.difference(values, weights)
        == _stratified(values, member, codes, k, weights).difference
    )


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_values_spread_as_over_all_buyers(bad: float) -> None:
    rng = np.random.default_rng(4)
    n, k = 400, 5
    codes = rng.integers(0, k, n)
    member = rng.random(n) < 0.5
    values = rng.gamma(2.0, 50.0, n)
    values[np.flatnonzero(member)[0]] = bad
    weights = replicate_weights(9, n).astype(float)
    got = _Split(member, codes, k).difference(values, weights)
    expected = _stratified(values, member, codes, k, weights).difference
    assert np.isnan(got) and np.isnan(expected)
