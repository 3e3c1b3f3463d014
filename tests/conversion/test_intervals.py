"""Wilson score interval, logit interval and Holm's correction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from funnelkit.intervals import holm_adjust, logit_interval, wilson_interval


def _wilson_by_inversion(x: int, n: int, conf_level: float) -> tuple[float, float]:
    # The Wilson interval is {p : |x/n - p| <= z sqrt(p(1-p)/n)}: solve the quadratic.
    z = stats.norm.ppf(0.5 + conf_level / 2)
    a = 1 + z * z / n
    b = -(2 * x / n + z * z / n)
    c = (x / n) ** 2
    disc = math.sqrt(b * b - 4 * a * c)
    return ((-b - disc) / (2 * a), (-b + disc) / (2 * a))


@pytest.mark.parametrize(
    ("x", "n", "conf"), [(0, 10, 0.95), (3, 10, 0.95), (10, 10, 0.9), (57, 400, 0.99)]
)
def test_wilson_interval_solves_the_score_equation(x: int, n: int, conf: float) -> None:
    lo, hi = wilson_interval(x, n, conf_level=conf)
    exp_lo, exp_hi = _wilson_by_inversion(x, n, conf)
    assert lo == pytest.approx(max(exp_lo, 0.0), abs=1e-12)
    assert hi == pytest.approx(min(exp_hi, 1.0), abs=1e-12)
    assert 0.0 <= lo <= x / n <= hi <= 1.0


def test_wilson_interval_without_trials_is_not_estimable() -> None:
    assert wilson_interval(0, 0) is None


def test_logit_interval_is_symmetric_on_the_logit_scale() -> None:
    lo, hi = logit_interval(0.0, 0.5)
    assert lo == pytest.approx(1 - hi)
    assert logit_interval(0.3, None) is None
    assert logit_interval(math.inf, 0.1) is None


def test_holm_matches_the_step_down_definition() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.2, 7)
    adjusted = holm_adjust(p)
    order = np.argsort(p)
    m = p.size
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        assert adjusted[i] == pytest.approx(running)
    assert holm_adjust(np.array([])).size == 0
