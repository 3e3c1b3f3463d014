"""Kaplan-Meier with row weights: the curve of the rows repeated, without the copies."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.conversion import kaplan_meier
from funnelkit.exceptions import DataError


@pytest.mark.parametrize("ci_method", ["log-log", "linear"])
def test_weighted_curve_equals_the_curve_of_repeated_rows(ci_method) -> None:
    rng = np.random.default_rng(1)
    t = np.round(rng.exponential(5.0, 3000), 1)  # ties between conversions and censoring
    e = rng.random(3000) < 0.6
    w = rng.poisson(1.0, 3000)
    weighted = kaplan_meier(t, e, weights=w, ci_method=ci_method)
    repeated = kaplan_meier(np.repeat(t, w), np.repeat(e, w), ci_method=ci_method)
    for field in ("times", "n_at_risk", "n_converted", "rate", "greenwood", "lower", "upper"):
        np.testing.assert_allclose(
            getattr(weighted, field), getattr(repeated, field), rtol=1e-12, equal_nan=True
        )
    assert weighted.n_entered == repeated.n_entered == int(w.sum())
    assert weighted.max_followup == repeated.max_followup


def test_zero_weights_drop_rows_and_bad_weights_are_refused() -> None:
    t, e = np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, True, False, True])
    km = kaplan_meier(t, e, weights=np.array([1, 0, 1, 1]))
    assert km.times.tolist() == [1.0, 4.0]
    assert km.n_at_risk.tolist() == [3, 1]
    assert km.rate.tolist() == pytest.approx([1 / 3, 1.0])
    assert kaplan_meier(t, e, weights=np.zeros(4)).n_entered == 0
    with pytest.raises(DataError, match=r"weights must be whole numbers >= 0"):
        kaplan_meier(t, e, weights=np.array([1.0, np.nan, 1.0, 1.0]))


def test_negative_counts_are_refused() -> None:
    t, e = np.array([1.0, 2.0]), np.array([True, False])
    with pytest.raises(DataError, match=r"rows \[1\] with \[-2.0\]"):
        kaplan_meier(t, e, weights=np.array([1, -2]))
