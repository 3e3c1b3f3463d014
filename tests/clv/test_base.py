"""MLEFitter machinery: input coercion, bad data, convergence checks, results, persistence."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from funnelkit.clv import BetaGeoFitter, FitResult, GammaGammaFitter, ParameterEstimate
from funnelkit.clv._base import FitData, MLEFitter, _customer_weights
from funnelkit.clv._data import unique_combinations
from funnelkit.datasets.btyd import simulate_bgnbd
from funnelkit.exceptions import ConvergenceError, DataError, FunnelkitError, NotFittedError
from funnelkit.rfm import RFM


@pytest.fixture(scope="module")
def sim_rfm() -> RFM:
    rng = np.random.default_rng(8)
    return simulate_bgnbd(1500, T=rng.uniform(10, 60, 1500), seed=rng, time_unit="W").rfm


def _columns(rfm: RFM) -> dict[str, np.ndarray]:
    return {"frequency": rfm.frequency, "recency": rfm.recency, "T": rfm.T}


def test_rfm_frames_and_mappings_give_the_same_fit(sim_rfm: RFM) -> None:
    reference = BetaGeoFitter().fit(sim_rfm)
    inputs = [
        pd.DataFrame(_columns(sim_rfm)),
        pl.DataFrame(_columns(sim_rfm)),
        _columns(sim_rfm),
    ]
    for data in inputs:
        model = BetaGeoFitter().fit(data, time_unit="W")
        assert model.params_ == reference.params_
        assert model.time_unit_ == reference.time_unit_


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("frequency", -1.0, "negative frequency"),
        ("recency", 1e6, "recency larger than T"),
        ("T", np.nan, "non-finite"),
        ("frequency", 1.5, "non-integer frequency"),
    ],
)
@pytest.mark.parametrize("kind", ["pandas", "mapping"])
def test_bad_rows_are_rejected_with_their_ids(
    sim_rfm: RFM, column: str, value: float, message: str, kind: str
) -> None:
    cols = {k: v.copy() for k, v in _columns(sim_rfm).items()}
    cols[column][[3, 7]] = value
    data = pd.DataFrame(cols) if kind == "pandas" else cols
    with pytest.raises(DataError, match=message) as info:
        BetaGeoFitter().fit(data)
    assert "2 customer(s)" in str(info.value) and "3" in str(info.value)


def test_empty_and_malformed_inputs() -> None:
    with pytest.raises(DataError, match="empty"):
        BetaGeoFitter().fit({"frequency": [], "recency": [], "T": []})
    with pytest.raises(DataError, match="missing"):
        BetaGeoFitter().fit({"frequency": [1.0], "T": [2.0]})
    with pytest.raises(DataError, match="Did you mean"):
        BetaGeoFitter().fit(pd.DataFrame({"frequency": [1.0], "recncy": [1.0], "T": [2.0]}))
    with pytest.raises(DataError, match="No data"):
        BetaGeoFitter().fit(None)
    with pytest.raises(DataError, match="repeat purchase"):
        BetaGeoFitter().fit({"frequency": [0.0, 0.0], "recency": [0.0, 0.0], "T": [3.0, 5.0]})


def test_weights_are_validated(sim_rfm: RFM) -> None:
    n = len(sim_rfm)
    for bad in (np.full(n, 1.5), np.full(n, -1.0), np.ones(n - 1)):
        with pytest.raises(DataError, match="weight"):
            BetaGeoFitter().fit(sim_rfm, weights=bad)
    zero = np.zeros(n)
    with pytest.raises(DataError, match="positive weight"):
        BetaGeoFitter().fit(sim_rfm, weights=zero)
    assert _customer_weights is not None  # kept importable for other fitters


def test_time_units_must_agree(sim_rfm: RFM) -> None:
    with pytest.raises(DataError, match="contradicts"):
        BetaGeoFitter().fit(sim_rfm, time_unit="D")
    model = BetaGeoFitter().fit(sim_rfm)
    in_days = RFM.from_arrays(
        frequency=sim_rfm.frequency, recency=sim_rfm.recency * 7, T=sim_rfm.T * 7, time_unit="D"
    )
    with pytest.raises(DataError, match="fitted in weeks"):
        model.expected_purchases(1.0, in_days)
    # frames and mappings are read in the fitted unit
    np.testing.assert_array_equal(
        model.expected_purchases(1.0, _columns(sim_rfm)), model.expected_purchases(1.0)
    )


def test_horizons_are_validated(sim_rfm: RFM) -> None:
    model = BetaGeoFitter().fit(sim_rfm)
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(FunnelkitError, match="horizon must be finite"):
            model.expected_purchases(bad)
    with pytest.raises(ValueError, match="whole numbers"):
        model.probability_of_purchases(1.5, 10.0)


def test_optimiser_failure_raises_with_numbered_remedies(sim_rfm: RFM) -> None:
    with pytest.raises(ConvergenceError) as info:
        BetaGeoFitter(max_iter=1).fit(sim_rfm)
    text = str(info.value)
    assert "did not converge" in text
    assert all(f"{i}. " in text for i in range(1, 6))


def test_standard_errors_match_an_independent_hessian(sim_rfm: RFM) -> None:
    # second differences of the log-likelihood itself, without the analytic gradient
    model = BetaGeoFitter().fit(sim_rfm)
    data = BetaGeoFitter()._fit_data(sim_rfm)
    p = np.array(list(model.params_.values()))

    def total(q: np.ndarray) -> float:
        return float(model._log_likelihood(q, data) @ data.weights)

    k = p.size
    hess = np.empty((k, k))
    h = 1e-4 * p
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h[i], np.eye(k)[j] * h[j]
            hess[i, j] = (
                total(p + ei + ej) - total(p + ei - ej) - total(p - ei + ej) + total(p - ei - ej)
            ) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    for i, name in enumerate(model.params_):
        assert model.result_.params[name].std_error == pytest.approx(se[i], rel=1e-3)


def test_fit_result_keeps_not_estimable_and_non_finite_values() -> None:
    result = FitResult(
        model="X",
        fitter="XFitter",
        params={
            "a": ParameterEstimate(estimate=1.5, std_error=0.1, ci=(1.3, 1.7)),
            "b": ParameterEstimate(estimate=2.0),
        },
        log_likelihood=-math.inf,
        aic=math.nan,
        bic=math.inf,
        n_customers=3,
        n_unique_rows=2,
        converged=False,
        message="m",
        iterations=0,
        time_unit="W",
    )
    loaded = FitResult.from_json(result.to_json())
    assert loaded.params == result.params
    assert loaded.params["b"].std_error is None
    assert math.isnan(loaded.aic) and loaded.bic == math.inf and loaded.log_likelihood == -math.inf
    assert "not estimable" in result.as_text()
    assert result.table()[1]["std_error"] is None
    assert math.isnan(result.summary()["std_error"].iloc[1])
    assert '"schema_version":1' in result.to_json()


def test_json_of_something_else_is_refused() -> None:
    with pytest.raises(ValueError):
        BetaGeoFitter.from_json('{"not": "a model"}')


def _nan_estimate(doc: dict[str, Any]) -> None:
    next(iter(doc["result"]["params"].values()))["estimate"] = math.nan


@pytest.mark.parametrize(
    ("fitter", "damage", "says"),
    [
        ("BetaGeoFitter", {"state": {"n_excluded": "many"}}, "unknown state entries"),
        ("GammaGammaFitter", {"state": {"n_excluded": "many"}}, "n_excluded must be a whole"),
        ("GammaGammaFitter", {"state": {"n_excluded": -2}}, "got -2"),
        ("GammaGammaFitter", {"state": {"covariates": "junk"}}, "state is damaged"),
        ("BetaGeoFitter", _nan_estimate, "not a number: the estimate of r."),
        (
            "BetaGeoFitter",
            lambda doc: doc["result"].update(log_likelihood=math.nan),
            "not a number: the log-likelihood.",
        ),
    ],
)
def test_a_damaged_document_is_refused_saying_what_is_wrong(
    sim_rfm: RFM, fitter: str, damage: Any, says: str
) -> None:
    # found by the property tests with fresh random examples: a ValueError, or no error
    if fitter == "BetaGeoFitter":
        model: MLEFitter = BetaGeoFitter().fit(sim_rfm)
    else:
        spends = {"frequency": [1, 2, 3, 4] * 10, "monetary_value": [9.0, 20, 14, 31] * 10}
        model = GammaGammaFitter().fit(spends)
    doc = json.loads(model.to_json())
    if callable(damage):
        damage(doc)
    else:
        doc.update(damage)
    with pytest.raises(FunnelkitError, match=r"Re-create the document") as info:
        type(model).from_json(json.dumps(doc))
    assert says in str(info.value)


def test_data_none_uses_the_training_customers(sim_rfm: RFM) -> None:
    model = BetaGeoFitter().fit(sim_rfm)
    np.testing.assert_array_equal(model.probability_alive(), model.probability_alive(sim_rfm))
    assert model.expected_purchases(3.0).shape == (len(sim_rfm),)


def test_a_minimal_subclass_follows_the_module_docstring() -> None:
    from scipy.special import gammaln

    class NBDFitter(MLEFitter):
        _param_names = ("r", "alpha")
        _model_name = "NBD"

        def _log_likelihood(self, params: np.ndarray, data: FitData) -> np.ndarray:
            r, alpha = params
            x, T = data["frequency"], data["T"]
            return np.asarray(
                gammaln(r + x)
                - gammaln(r)
                - gammaln(x + 1)
                + r * np.log(alpha / (alpha + T))
                + x * np.log(T / (alpha + T))
            )

    rng = np.random.default_rng(12)
    lam = rng.gamma(2.0, 1 / 10.0, 5000)
    T = np.full(5000, 30.0)
    x = rng.poisson(lam * T).astype(float)
    model = NBDFitter().fit({"frequency": x, "recency": np.where(x > 0, T / 2, 0.0), "T": T})
    for name, truth in {"r": 2.0, "alpha": 10.0}.items():
        est = model.result_.params[name]
        assert est.std_error is not None and abs(est.estimate - truth) < 4 * est.std_error
    assert type(MLEFitter.from_json(model.to_json())) is NBDFitter


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from([0.0, 0.5, 2.0, -1.0]), st.integers(0, 2)),
        min_size=1,
        max_size=60,
    )
)
def test_unique_combinations_round_trip(rows: list[tuple[int, float, int]]) -> None:
    cols = [np.array([r[i] for r in rows], dtype=float) for i in range(3)]
    uniques, inverse = unique_combinations(*cols)
    for col, uniq in zip(cols, uniques, strict=True):
        np.testing.assert_array_equal(uniq[inverse], col)
    assert len({tuple(u[i] for u in uniques) for i in range(uniques[0].size)}) == uniques[0].size


def test_fitted_only_properties_and_typos_say_what_is_wrong(sim_rfm: RFM) -> None:
    model = BetaGeoFitter()
    with pytest.raises(
        NotFittedError, match="not fitted yet: call fit\\(data\\) before using 'result_'"
    ):
        _ = model.result_
    with pytest.raises(NotFittedError, match="not fitted yet: call fit\\(data\\) first"):
        model.summary()
    model.fit(sim_rfm)
    with pytest.raises(AttributeError, match=r"no attribute 'parms_'\. Did you mean 'params_'"):
        _ = model.parms_
    assert not isinstance(_raised(lambda: model.parms_), NotFittedError)


def test_horizons_must_match_the_customers(sim_rfm: RFM) -> None:
    model = BetaGeoFitter().fit(sim_rfm)
    with pytest.raises(
        FunnelkitError, match=r"horizon has shape \(2,\) but there are 1500 customers"
    ):
        model.expected_purchases(t=[1.0, 2.0])
    with pytest.raises(
        FunnelkitError,
        match=r"got no horizon\. Call it with keywords: expected_purchases\(horizon=",
    ):
        model.expected_purchases(sim_rfm)
    assert model.expected_purchases(np.full(len(sim_rfm), 2.0)).shape == (len(sim_rfm),)


def _raised(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing was raised")


def test_reference_fit_skips_only_the_covariance(
    sim_rfm: RFM, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    evaluate = BetaGeoFitter._weighted_log_likelihood

    def counted(self: BetaGeoFitter, params: np.ndarray, data: FitData) -> object:
        calls.append(1)
        return evaluate(self, params, data)

    monkeypatch.setattr(BetaGeoFitter, "_weighted_log_likelihood", counted)
    full = BetaGeoFitter().fit(sim_rfm)
    with_covariance = len(calls)
    calls.clear()
    data = BetaGeoFitter()._fit_data(sim_rfm, weights=None, time_unit=None)
    reference = BetaGeoFitter()._fit_reference(data)
    # the observed information: a look for the analytic gradient, then two per parameter
    assert with_covariance - len(calls) == 1 + 2 * len(full.params_)
    assert reference.params_ == full.params_
    assert reference.log_likelihood_ == full.log_likelihood_
    assert reference.result_.converged
    assert reference.result_.covariance is None
    assert all(p.std_error is None for p in reference.result_.params.values())
    assert "_refit_metric" not in vars(reference)
