"""Input coercion of the CLV fitters: anything that is not RFM data is a DataError."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelkit import DataError
from funnelkit.clv import BetaGeoFitter
from funnelkit.clv._data import (
    SAMPLE_FROM,
    FitData,
    distinct_combinations,
    mostly_distinct,
    repeated_combinations,
)


@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame({"frequency": [1, 0, 2], "recency": [3.0, 0.0, 5.0], "T": [5.0, 4.0, 6.0]})


def test_a_plain_list_is_refused() -> None:
    with pytest.raises(
        DataError,
        match=r"^Unsupported type list for the data: pass an RFM, a dataframe or a mapping",
    ):
        BetaGeoFitter().fit([1, 2, 3])


def test_a_missing_weights_column_suggests_the_close_names(summary: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"column 'weight' \(given as weights\) is not in the data"):
        BetaGeoFitter().fit(summary.assign(weights=1), weights="weight")


def test_text_summary_columns_are_counted(summary: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"^1 customer\(s\) have a frequency that is not a number"):
        BetaGeoFitter().fit(summary.assign(frequency=["1", "x", "2"]))


def test_distinct_rows_are_found_whatever_the_columns() -> None:
    rng = np.random.default_rng(6)
    size = 5000
    columns = [
        rng.integers(-3, 40, size).astype(float),  # whole numbers: their own codes
        rng.choice(rng.uniform(0.0, 50.0, 30), size),  # real-valued times: sorted
        np.full(size, 52.0),  # constant: skipped
        rng.choice([1e9, 3e9, 1e12 + 0.5], size),  # whole numbers too far apart for a table
    ]
    first, inverse = distinct_combinations(*columns)
    table = np.stack(columns, axis=1)
    # every row is its representative's copy, and representatives differ from each other
    np.testing.assert_array_equal(table[first][inverse], table)
    assert len({tuple(row) for row in table[first]}) == first.size
    assert first.size == len({tuple(row) for row in table})
    # four wide whole-number columns: their combined code would leave int64
    wide = [rng.choice([0.0, 65000.0], size) for _ in range(4)]
    first, inverse = distinct_combinations(*wide)
    table = np.stack(wide, axis=1)
    np.testing.assert_array_equal(table[first][inverse], table)
    assert first.size == 16
    same, where = distinct_combinations(np.full(4, 2.0))
    np.testing.assert_array_equal(where, np.zeros(4))
    assert same.size == 1
    # in lexicographic order, as np.unique(axis=0) gives them
    order = np.unique(table, axis=0)
    np.testing.assert_array_equal(table[first], order)


@pytest.mark.parametrize(
    "column",
    [
        np.array([True, False, True]),
        np.array([3, -2, 3], dtype=np.int8),
        np.array([2**64 - 1, 2**64 - 2, 2**64 - 1], dtype=np.uint64),  # beyond int64
        np.array([1e300, -1e300, 1e300]),
        np.array(["b", "a", "b"]),
    ],
)
def test_distinct_rows_of_any_dtype(column: np.ndarray) -> None:
    first, inverse = distinct_combinations(column, np.array([1.5, 1.5, 1.5]))
    np.testing.assert_array_equal(column[first], np.unique(column))
    np.testing.assert_array_equal(column[first][inverse], column)


def test_rows_that_rarely_repeat_are_not_searched() -> None:
    rng = np.random.default_rng(8)
    counts = rng.integers(0, 5, SAMPLE_FROM).astype(float)
    ages = rng.uniform(10.0, 52.0, SAMPLE_FROM)  # continuous clocks: all distinct
    assert mostly_distinct(counts, ages)
    first, inverse = repeated_combinations(counts, ages)
    np.testing.assert_array_equal(first, np.arange(SAMPLE_FROM))
    np.testing.assert_array_equal(inverse, np.arange(SAMPLE_FROM))
    # whole weeks repeat: searched, as distinct_combinations finds them
    weeks = ages.round()
    assert not mostly_distinct(counts, weeks)
    for got, want in zip(
        repeated_combinations(counts, weeks), distinct_combinations(counts, weeks), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    # too few rows to sample: always searched
    assert not mostly_distinct(counts[:1000], ages[:1000])


def test_rows_that_repeat_evenly_are_searched_though_a_sample_looks_distinct() -> None:
    # 2,000,000 rows of 100,000 distinct histories, twenty each: a sample of 10,000 is 95%
    # distinct, the rows 5%
    rng = np.random.default_rng(4)
    histories = rng.integers(0, 100_000, 2_000_000)
    counts, ages = (histories % 7).astype(float), rng.uniform(10.0, 52.0, 100_000)[histories]
    sample = slice(None, None, 2_000_000 // 10_000)
    assert np.unique(ages[sample]).size > 0.9 * ages[sample].size
    assert not mostly_distinct(counts, ages)


@pytest.mark.parametrize("model", ["bgnbd", "pareto"])
def test_predictions_on_repeated_histories_equal_those_row_by_row(model, monkeypatch) -> None:
    from funnelkit import RFM
    from funnelkit.clv import ParetoNBDFitter, _data
    from funnelkit.datasets.btyd import simulate_bgnbd, simulate_pareto_nbd

    simulate, fitter = {
        "bgnbd": (simulate_bgnbd, BetaGeoFitter),
        "pareto": (simulate_pareto_nbd, ParetoNBDFitter),
    }[model]
    n = 2 * SAMPLE_FROM
    rng = np.random.default_rng(5)
    rfm = simulate(n, T=rng.integers(7, 60, n).astype(float), seed=6).rfm
    days = RFM.from_arrays(frequency=rfm.frequency, recency=np.floor(rfm.recency), T=rfm.T)
    fitted = fitter().fit(days)
    evaluated: list[int] = []
    spread = _data.on_distinct_rows

    def counting(fn, *columns):
        evaluated.append(columns[0].size)
        return spread(lambda *rows: evaluated.append(-rows[0].size) or fn(*rows), *columns)

    monkeypatch.setattr(_data, "on_distinct_rows", counting)
    for module in ("funnelkit.clv._geometric", "funnelkit.clv.pareto_nbd"):
        monkeypatch.setattr(f"{module}.on_distinct_rows", counting)
    both = (fitted.expected_purchases(10.0, days), fitted.probability_alive(days))
    # once per distinct history: far fewer rows than customers
    assert evaluated[0] == n and 0 < -evaluated[1] < n // 10
    monkeypatch.setattr(_data, "SAMPLE_FROM", 10 * n)  # every row computed as it is
    for got, row_by_row in zip(
        both, (fitted.expected_purchases(10.0, days), fitted.probability_alive(days)), strict=True
    ):
        np.testing.assert_array_equal(got, row_by_row)


def test_one_common_history_does_not_make_distinct_rows_repeat() -> None:
    # continuous clocks where 1% of customers share one history (arrived together and
    # never bought): worth no sort; half of them in a hundred histories: worth one
    rng = np.random.default_rng(6)
    ages = rng.uniform(10.0, 52.0, 1_000_000)
    counts = np.zeros(ages.size)
    ages[rng.choice(ages.size, 10_000, replace=False)] = 30.0
    assert mostly_distinct(counts, ages)
    common = rng.random(ages.size) < 0.5
    ages[common] = rng.integers(0, 100, int(common.sum())).astype(float)
    assert not mostly_distinct(counts, ages)


@pytest.mark.parametrize("in_order", [True, False])
def test_sums_by_distinct_value_are_those_of_a_count(in_order: bool) -> None:
    rng = np.random.default_rng(4)
    frequency = rng.geometric(0.3, 3000).astype(float)
    if in_order:  # as compressed rows come: summed in runs
        frequency.sort()
    values = rng.normal(size=3000)
    data = FitData({"frequency": frequency}, np.ones(3000), 3000)
    (distinct,), index = data.groups("frequency")
    found = data.group_sums("frequency", values)
    np.testing.assert_allclose(
        found, np.bincount(index, weights=values, minlength=distinct.size), rtol=1e-12, atol=1e-12
    )
    assert (data.cache["runs:frequency"] is not None) == in_order
    empty = FitData({"frequency": np.zeros(0)}, np.zeros(0), 0)
    assert empty.group_sums("frequency", np.zeros(0)).size == 0
