"""Fit results: the summary table's columns, Interval-shaped estimates, old documents."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from funnelkit._results import Interval
from funnelkit.clv import BetaGeoFitter, FitResult, ParameterEstimate
from funnelkit.clv._limits import ParameterSpace
from funnelkit.clv._result import SUMMARY_COLUMNS, covariance_from_hessian
from funnelkit.datasets.btyd import simulate_bgnbd


@pytest.fixture(scope="module")
def model() -> BetaGeoFitter:
    return BetaGeoFitter(conf_level=0.9).fit(simulate_bgnbd(1500, T=40.0, seed=5).rfm)


def test_summary_is_a_method_with_the_standard_columns(model: BetaGeoFitter) -> None:
    frame = model.summary()
    assert list(frame.columns) == ["parameter", "estimate", "std_error", "lower", "upper"]
    assert list(frame.columns) == list(SUMMARY_COLUMNS)
    assert frame.attrs["conf_level"] == 0.9
    assert list(frame["parameter"]) == ["r", "alpha", "a", "b"]
    for row in frame.itertuples():
        est = model.result_.params[row.parameter]
        assert (row.estimate, row.std_error, row.lower, row.upper) == (
            est.estimate,
            est.std_error,
            est.lower,
            est.upper,
        )
        assert row.lower < row.estimate < row.upper
    assert model.summary().equals(model.result_.summary())


def test_summary_backends(model: BetaGeoFitter) -> None:
    polars = model.summary("polars")
    arrow = model.summary(backend="pyarrow")
    assert isinstance(polars, pl.DataFrame) and isinstance(arrow, pa.Table)
    assert polars.columns == list(SUMMARY_COLUMNS) == arrow.column_names
    np.testing.assert_array_equal(polars["upper"].to_numpy(), model.summary()["upper"])


def test_estimates_are_intervals_at_the_fit_level(model: BetaGeoFitter) -> None:
    est = model.result_.params["r"]
    assert isinstance(est, Interval) and est.level == 0.9
    assert est.standard_error == est.std_error  # alias of the earlier name
    lower, upper = est.ci  # type: ignore[misc]
    assert (lower, upper) == (est.lower, est.upper)
    assert est.ci == (est.lower, est.upper)
    assert est.contains(est.estimate)
    z90 = 1.6448536269514722
    # Wald interval on the log scale
    assert math.log(est.upper / est.estimate) == pytest.approx(
        z90 * est.std_error / est.estimate, rel=1e-9
    )


def test_not_estimable_bounds_are_none_and_nan() -> None:
    est = ParameterEstimate(estimate=2.0)
    assert est.ci is None and est.lower is None and est.std_error is None
    result = FitResult(
        model="X",
        fitter="XFitter",
        params={"a": est},
        log_likelihood=-1.0,
        aic=4.0,
        bic=5.0,
        n_customers=3,
        n_unique_rows=2,
        converged=True,
        message="converged",
        iterations=1,
    )
    assert result.table() == [
        {"parameter": "a", "estimate": 2.0, "std_error": None, "lower": None, "upper": None}
    ]
    frame = result.summary()
    assert frame["estimate"].iloc[0] == 2.0
    assert np.isnan(frame[["std_error", "lower", "upper"]].to_numpy()).all()


def test_documents_with_the_earlier_ci_pair_still_load(model: BetaGeoFitter) -> None:
    doc = json.loads(model.to_json())
    for name, est in doc["result"]["params"].items():
        doc["result"]["params"][name] = {
            "estimate": est["estimate"],
            "std_error": est["std_error"],
            "ci": [est["lower"], est["upper"]],
        }
    doc["result"]["params"]["b"]["ci"] = None
    loaded = BetaGeoFitter.from_json(json.dumps(doc))
    assert loaded.result_.params["r"].ci == model.result_.params["r"].ci
    assert loaded.result_.params["b"].ci is None
    np.testing.assert_array_equal(
        loaded.expected_purchases(10.0, simulate_bgnbd(50, T=40.0, seed=6).rfm),
        model.expected_purchases(10.0, simulate_bgnbd(50, T=40.0, seed=6).rfm),
    )


def test_text_and_html_name_the_level(model: BetaGeoFitter) -> None:
    text = model.result_.as_text()
    assert "confidence level: 0.9" in text
    assert "lower" in text and "upper" in text and "%" not in text.split("confidence")[0]


def test_the_natural_scale_covariance_is_exactly_symmetric() -> None:
    # J_i S_ij J_j summed left to right differs from J_j S_ji J_i in the last bit for
    # these draws; the stored covariance must not
    rng = np.random.default_rng(0)
    params = rng.lognormal(size=4) * 10
    a = rng.normal(size=(4, 4))
    cov_theta = a @ a.T
    space = ParameterSpace(names=("r", "alpha", "a", "b"))
    cov = np.array(FitResult.natural_covariance(space, params, cov_theta))
    assert np.array_equal(cov, cov.T)
    expected = np.outer(params, params) * cov_theta
    np.testing.assert_allclose(cov, expected, rtol=1e-15)


def test_curvature_below_the_differences_resolution_is_no_information() -> None:
    # eigenvalues 1 and 1e-12: the second is rounding of the differenced gradient
    rotation = np.array([[0.6, -0.8], [0.8, 0.6]])
    jacobian = np.eye(2)
    resolved = rotation @ np.diag([1.0, 1e-6]) @ rotation.T
    unresolved = rotation @ np.diag([1.0, 1e-12]) @ rotation.T
    cov = covariance_from_hessian(resolved, jacobian, 10.0)
    assert cov is not None
    np.testing.assert_allclose(cov @ resolved * 10.0, np.eye(2), atol=1e-8)
    assert covariance_from_hessian(unresolved, jacobian, 10.0) is None
