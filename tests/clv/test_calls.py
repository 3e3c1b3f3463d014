"""Prediction calls in funnelkit's, lifetimes' and PyMC-Marketing's shapes give one answer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from funnelkit.clv import BetaGeoBetaBinomFitter, BetaGeoFitter, ParetoNBDFitter
from funnelkit.clv._calls import is_customer_data
from funnelkit.datasets.btyd import simulate_bgbb, simulate_bgnbd
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.rfm import RFM

FRAME = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d"],
        "frequency": [0.0, 2.0, 5.0, 1.0],
        "recency": [0.0, 20.0, 38.0, 3.0],
        "T": [10.0, 40.0, 40.0, 39.0],
    }
)
COLUMNS = {k: FRAME[k].to_numpy() for k in ("frequency", "recency", "T")}


@pytest.fixture(scope="module", params=[BetaGeoFitter, ParetoNBDFitter])
def model(request: pytest.FixtureRequest) -> Any:
    return request.param().fit(simulate_bgnbd(2000, T=40.0, seed=7).rfm)


def test_every_call_shape_gives_the_same_answer(model: Any) -> None:
    reference = model.expected_purchases(horizon=10.0, data=FRAME)
    calls = [
        lambda: model.expected_purchases(10.0, FRAME),
        lambda: model.expected_purchases(10.0, data=FRAME),
        lambda: model.expected_purchases(t=10.0, data=FRAME),
        lambda: model.expected_purchases(FRAME, future_t=10.0),
        lambda: model.expected_purchases(data=FRAME, future_t=10.0),
        lambda: model.expected_purchases(FRAME.assign(future_t=10.0)),
        lambda: model.expected_purchases(data={**COLUMNS, "future_t": np.full(4, 10.0)}),
        lambda: model.expected_purchases(10.0, *COLUMNS.values()),
        lambda: model.expected_purchases(10.0, **COLUMNS),
        lambda: model.expected_purchases(horizon=10.0, **COLUMNS),
    ]
    assert reference.shape == (4,) and np.all(reference > 0)
    for call in calls:
        np.testing.assert_array_equal(call(), reference)
    # one horizon per customer from a future_t column, as PyMC-Marketing reads it
    horizons = np.array([1.0, 5.0, 10.0, 20.0])
    np.testing.assert_array_equal(
        model.expected_purchases(FRAME.assign(future_t=horizons)),
        model.expected_purchases(horizon=horizons, data=FRAME),
    )
    # the training customers when no data are given
    np.testing.assert_array_equal(
        model.expected_purchases(horizon=3.0), model.expected_purchases(3.0)
    )


def test_probability_of_purchases_keywords_remove_the_order_question(model: Any) -> None:
    reference = model.probability_of_purchases(np.arange(4), 10.0)
    for call in (
        lambda: model.probability_of_purchases(n=np.arange(4), horizon=10.0),
        lambda: model.probability_of_purchases(n=np.arange(4), t=10.0),
        lambda: model.probability_of_purchases(horizon=10.0, n=np.arange(4)),
        lambda: model.probability_of_purchases(np.arange(4), t=10.0),
    ):
        np.testing.assert_array_equal(call(), reference)


def test_bgbb_takes_the_same_shapes() -> None:
    model = BetaGeoBetaBinomFitter().fit(simulate_bgbb(2000, n_periods=6, seed=2).rfm)
    data = {"frequency": [0.0, 2.0, 5.0], "recency": [0.0, 4.0, 6.0], "T": [6.0, 6.0, 6.0]}
    reference = model.expected_purchases(horizon=5, data=data)
    np.testing.assert_array_equal(model.expected_purchases(data, future_t=5), reference)
    np.testing.assert_array_equal(model.expected_purchases(5, *data.values()), reference)
    np.testing.assert_array_equal(
        model.probability_of_purchases(n=2, t=6), model.probability_of_purchases(2, 6)
    )


def test_lifetimes_shapes_match_lifetimes() -> None:
    lifetimes = pytest.importorskip("lifetimes")
    model = BetaGeoFitter().fit(simulate_bgnbd(2000, T=40.0, seed=7).rfm)
    theirs = lifetimes.BetaGeoFitter()
    theirs.params_ = pd.Series(model.params_)
    f, r, T = FRAME["frequency"], FRAME["recency"], FRAME["T"]
    np.testing.assert_allclose(
        model.expected_purchases(10.0, f, r, T),
        theirs.conditional_expected_number_of_purchases_up_to_time(10.0, f, r, T),
        rtol=1e-10,
    )
    # lifetimes: probability_of_n_purchases_up_to_time(t, n); funnelkit by keyword
    for n in range(4):
        assert model.probability_of_purchases(n=n, t=10.0) == pytest.approx(
            theirs.probability_of_n_purchases_up_to_time(10.0, n), rel=1e-9
        )


BAD_PURCHASE_CALLS = [
    (lambda m: m.expected_purchases(10.0, horizon=5.0), "a positional horizon and a horizon"),
    (lambda m: m.expected_purchases(horizon=1.0, t=2.0), "got the horizon 2 times"),
    (lambda m: m.expected_purchases(t=1.0, future_t=2.0), r"\(t=, future_t=\)"),
    (lambda m: m.expected_purchases(FRAME, 10.0), "customers as the first positional"),
    (lambda m: m.expected_purchases(10.0, FRAME, FRAME), "3 positional arguments"),
    (lambda m: m.expected_purchases(FRAME), r"no horizon \(and the data have no future_t"),
    (lambda m: m.expected_purchases(), "got no horizon"),
    (lambda m: m.expected_purchases(horizon=FRAME), "customers where the horizon belongs"),
    (
        lambda m: m.expected_purchases(10.0, frequency=COLUMNS["frequency"]),
        r"together, but \['recency', 'T'\] is missing",
    ),
    (lambda m: m.expected_purchases(10.0, FRAME, **COLUMNS), "customers both positionally"),
    (lambda m: m.expected_purchases(10.0, data=FRAME, **COLUMNS), "both data= and frequency="),
]


@pytest.mark.parametrize(("call", "match"), BAD_PURCHASE_CALLS)
def test_ambiguous_purchase_calls_show_the_keyword_form(model: Any, call: Any, match: str) -> None:
    with pytest.raises(FunnelkitError, match=match) as info:
        call(model)
    assert "expected_purchases(horizon=10.0, data=customers)" in str(info.value)


BAD_COUNT_CALLS = [
    (lambda m: m.probability_of_purchases(2, n=3), "a positional argument and n="),
    (lambda m: m.probability_of_purchases(2, 10.0, t=3), "a second positional argument"),
    (lambda m: m.probability_of_purchases(2, 10.0, 3), "3 positional arguments"),
    (lambda m: m.probability_of_purchases(n=2), "got no the horizon"),
    (lambda m: m.probability_of_purchases(horizon=2), "got no n"),
    (lambda m: m.probability_of_purchases(FRAME, 10.0), "customer data"),
]


@pytest.mark.parametrize(("call", "match"), BAD_COUNT_CALLS)
def test_ambiguous_count_calls_show_the_keyword_form(model: Any, call: Any, match: str) -> None:
    with pytest.raises(FunnelkitError, match=match) as info:
        call(model)
    assert "probability_of_purchases(n=2, horizon=10.0)" in str(info.value)


def test_wrong_shapes_are_funnelkit_errors_not_numpy_errors(model: Any) -> None:
    with pytest.raises(DataError, match="equal length"):
        model.expected_purchases(10.0, [1.0, 2.0], [3.0], [5.0, 6.0])
    with pytest.raises(FunnelkitError, match=r"horizon has shape \(2, 3\) but there are 4"):
        model.expected_purchases(horizon=np.ones((2, 3)), data=FRAME)
    with pytest.raises(FunnelkitError, match=r"horizon has shape \(3,\) but there are 4"):
        model.expected_purchases(horizon=[1.0, 2.0, 3.0], data=FRAME)
    with pytest.raises(FunnelkitError, match="horizon must be a number or an array"):
        model.expected_purchases(horizon="soon", data=FRAME)


def test_customer_data_detection() -> None:
    rfm = RFM.from_arrays(frequency=[1], recency=[1.0], T=[2.0])
    assert is_customer_data(FRAME) and is_customer_data(COLUMNS) and is_customer_data(rfm)
    assert is_customer_data(pl.from_pandas(FRAME)) and is_customer_data(pa.Table.from_pandas(FRAME))
    assert not is_customer_data(FRAME["T"]) and not is_customer_data(np.ones(3))
    assert not is_customer_data(pl.Series([1.0])) and not is_customer_data(pa.array([1.0]))
    assert not is_customer_data(10.0) and not is_customer_data([1.0, 2.0])


def test_new_customer_expectation_takes_the_horizon_by_any_name(model: Any) -> None:
    reference = model.expected_purchases_new_customer(np.array([1.0, 10.0]))
    for call in (
        lambda: model.expected_purchases_new_customer(horizon=np.array([1.0, 10.0])),
        lambda: model.expected_purchases_new_customer(t=np.array([1.0, 10.0])),
        lambda: model.expected_purchases_new_customer(future_t=np.array([1.0, 10.0])),
    ):
        np.testing.assert_array_equal(call(), reference)
    form = r"call it as expected_purchases_new_customer\(horizon=10\.0\)"
    with pytest.raises(FunnelkitError, match="got no horizon: " + form):
        model.expected_purchases_new_customer()
    with pytest.raises(FunnelkitError, match="got more than one horizon: " + form):
        model.expected_purchases_new_customer(1.0, t=2.0)
    with pytest.raises(FunnelkitError, match="takes a horizon, not customers"):
        model.expected_purchases_new_customer(FRAME)
