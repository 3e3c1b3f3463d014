"""The delay families: each family's functions agree with scipy and with each other."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from funnelkit.conversion.delay import FAMILIES, GumbelFamily, NormalFamily
from funnelkit.exceptions import SpecError

W = np.array([-6.0, -1.5, 0.0, 0.7, 2.5])


def _reference(name: str, scale: float, shape: float) -> stats.rv_continuous:
    if name == "lognormal":
        return stats.lognorm(s=shape, scale=scale)
    return stats.weibull_min(c=shape, scale=scale)


@pytest.mark.parametrize(
    ("name", "shape"), [("exponential", 1.0), ("weibull", 1.7), ("lognormal", 0.8)]
)
def test_delay_cdf_pdf_and_quantile_match_scipy(name: str, shape: float) -> None:
    family = FAMILIES[name]
    m, log_s = family.internal(4.0, shape)
    ref = _reference(name, 4.0, shape)
    t = np.array([0.0, 0.3, 2.0, 4.0, 11.0])
    np.testing.assert_allclose(family.cdf(t, m, log_s), ref.cdf(t), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(family.pdf(t[1:], m, log_s), ref.pdf(t[1:]), rtol=1e-12)
    assert family.pdf(np.array([0.0]), m, log_s)[0] == 0.0
    q = np.array([0.1, 0.5, 0.9])
    times = np.exp(m + math.exp(log_s) * family.std_quantile(q))
    np.testing.assert_allclose(times, ref.ppf(q), rtol=1e-12)
    assert family.natural(m, log_s) == pytest.approx({"scale": 4.0, "shape": shape}, rel=1e-14)
    draws = family.sample(np.random.default_rng(0), 20_000, m, log_s)
    assert np.median(draws) == pytest.approx(ref.median(), rel=0.03)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_standard_functions_agree_with_each_other(name: str) -> None:
    family = FAMILIES[name]
    cdf, sf, pdf = family.cdf_sf_pdf(W)
    np.testing.assert_allclose(cdf + sf, 1.0, rtol=1e-15)
    log_pdf, dlog, d2log = family.log_pdf_derivatives(W)
    np.testing.assert_allclose(np.exp(log_pdf), pdf, rtol=1e-12)
    h = 1e-6
    up, down = family.log_pdf_derivatives(W + h)[0], family.log_pdf_derivatives(W - h)[0]
    np.testing.assert_allclose(dlog, (up - down) / (2 * h), rtol=1e-6, atol=1e-8)
    slope_up, slope_down = (
        family.log_pdf_derivatives(W + h)[1],
        family.log_pdf_derivatives(W - h)[1],
    )
    np.testing.assert_allclose(d2log, (slope_up - slope_down) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(family.log_cdf(W), np.log(cdf), rtol=1e-12, atol=1e-15)
    # log(sf) loses digits where sf is close to 1; log_sf does not
    np.testing.assert_allclose(family.log_sf(W), np.log(sf), rtol=1e-12, atol=1e-15)
    buffers = [np.empty(W.size) for _ in range(3)]
    family.sf_pdf_dlog_into(W, *buffers)
    np.testing.assert_array_equal(buffers[0], sf)
    np.testing.assert_allclose(buffers[1], pdf, rtol=1e-15)
    np.testing.assert_allclose(buffers[2], dlog, rtol=1e-15)


def test_one_class_per_family() -> None:
    assert isinstance(FAMILIES["lognormal"], NormalFamily)
    assert isinstance(FAMILIES["weibull"], GumbelFamily)
    assert FAMILIES["exponential"].fixed_scale and FAMILIES["exponential"].n_delay_params == 1
    assert not FAMILIES["weibull"].fixed_scale and FAMILIES["lognormal"].n_delay_params == 2
    assert repr(FAMILIES["lognormal"]) == "NormalFamily('lognormal')"


@pytest.mark.parametrize(
    ("name", "scale", "shape", "message"),
    [
        ("exponential", 5.0, 2.0, "The exponential distribution has shape 1. Got shape=2.0"),
        ("weibull", 0.0, 1.0, "The scale of a weibull delay must be a finite number > 0"),
        ("lognormal", 3.0, -1.0, "The shape of a lognormal delay must be a finite number > 0"),
        ("weibull", 3.0, math.inf, "Got inf instead"),
    ],
)
def test_bad_natural_parameters_raise_a_spec_error(
    name: str, scale: float, shape: float, message: str
) -> None:
    with pytest.raises(SpecError) as info:
        FAMILIES[name].internal(scale, shape)
    assert message in str(info.value)
