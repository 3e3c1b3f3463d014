"""Diagnostics: holdout comparison, frequency histogram, cumulative tracking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelkit import EventLog
from funnelkit.clv import BetaGeoFitter
from funnelkit.clv.diagnostics import (
    CumulativeTransactions,
    FrequencyHistogram,
    HoldoutComparison,
    cumulative_transactions,
    frequency_histogram,
    holdout_comparison,
)
from funnelkit.exceptions import DataError, FunnelkitError


def simulate_bgnbd_log(n: int, seed: int, *, end: float = 78.0) -> pd.DataFrame:
    """Purchases in weeks from the BG/NBD story: first purchase in weeks 0-12, then repeats."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0.0, 12.0, n)
    lam = rng.gamma(0.5, 1 / 5.0, n)
    drop = rng.beta(0.8, 3.0, n)
    idx, when = np.arange(n), first
    out_idx, out_t = [idx], [when]
    while idx.size:
        alive = rng.random(idx.size) >= drop[idx]
        idx, when = idx[alive], when[alive]
        when = when + rng.exponential(1.0 / lam[idx])
        keep = when < end
        idx, when = idx[keep], when[keep]
        out_idx.append(idx)
        out_t.append(when)
    return pd.DataFrame({"customer_id": np.concatenate(out_idx), "time": np.concatenate(out_t)})


@pytest.fixture(scope="module")
def setup() -> tuple[EventLog, object, BetaGeoFitter]:
    frame = simulate_bgnbd_log(6000, seed=42)
    log = EventLog.from_frame(frame, time_col="time", event_col=None, time_unit="W")
    rfm = log.rfm(time_unit="W", calibration_end=39.0, observation_end=77.99)
    return log, rfm, BetaGeoFitter().fit(rfm)


def test_holdout_comparison(setup: tuple) -> None:
    _, rfm, model = setup
    check = holdout_comparison(model, rfm, max_frequency=5)
    expected = model.expected_purchases(rfm.holdout_duration, rfm)
    actual = rfm.holdout_frequency
    assert check.total_expected == pytest.approx(expected.sum())
    assert check.total_actual == actual.sum()
    assert check.mae == pytest.approx(np.mean(np.abs(expected - actual)))
    assert check.rmse == pytest.approx(np.sqrt(np.mean((expected - actual) ** 2)))
    bucket = np.minimum(rfm.frequency, 5)
    for k in range(6):
        assert check.bucket_customers[k] == np.sum(bucket == k)
        assert check.mean_expected[k] == pytest.approx(expected[bucket == k].mean())
        assert check.mean_actual[k] == pytest.approx(actual[bucket == k].mean())
    # the data follow the model, so the holdout forecast must be close overall
    assert check.total_expected == pytest.approx(check.total_actual, rel=0.08)
    assert check.time_unit is not None and check.time_unit.value == "week"


def test_holdout_needs_a_holdout(setup: tuple) -> None:
    log, _, model = setup
    with pytest.raises(DataError, match="calibration_end"):
        holdout_comparison(model, log.rfm(time_unit="W"))
    _, rfm, _ = setup
    with pytest.raises(FunnelkitError, match="max_frequency"):
        holdout_comparison(model, rfm, max_frequency=0)


def test_frequency_histogram(setup: tuple) -> None:
    _, rfm, model = setup
    hist = frequency_histogram(model, rfm, max_frequency=6)
    assert sum(hist.observed) == len(rfm)
    assert sum(hist.expected) == pytest.approx(len(rfm))
    manual = sum(model.probability_of_purchases(2, t) for t in rfm.T)
    assert hist.expected[2] == pytest.approx(manual)
    assert hist.observed[2] == np.sum(rfm.frequency == 2)
    # a well-specified model: every bucket within 15% or 30 customers of what was observed
    diff = np.abs(np.array(hist.observed) - np.array(hist.expected))
    assert np.all((diff < 30) | (diff < 0.15 * np.array(hist.observed)))
    # data=None means the training customers
    assert frequency_histogram(model, max_frequency=6) == hist


def test_cumulative_transactions_counts_repeat_periods(setup: tuple) -> None:
    events = {"customer_id": ["a", "a", "a", "b", "b", "c"], "time": [0.2, 0.7, 3.5, 1.1, 2.0, 4.0]}
    model = setup[2]
    track = cumulative_transactions(model, events, calibration_end=3.0)
    # a: first in period 0, repeat in period 3 (0.7 shares period 0); b: first 1, repeat 2
    assert track.period == [0, 1, 2, 3, 4]
    assert track.actual == [0, 0, 1, 2, 2]
    assert track.calibration_period == 3
    new = model.expected_purchases_new_customer
    expected_at_4 = new(4.0) + new(3.0) + new(0.0)  # cohorts 0 (a), 1 (b), 4 (c)
    assert track.expected[4] == pytest.approx(float(expected_at_4))
    assert track.expected[0] == 0.0


def test_cumulative_transactions_track_the_simulated_base(setup: tuple) -> None:
    log, _, model = setup
    track = cumulative_transactions(model, log, calibration_end=39.0, observation_end=77.99)
    assert track.n_customers == log.n_customers
    assert track.calibration_period == 39
    assert track.expected[-1] == pytest.approx(track.actual[-1], rel=0.08)
    assert np.all(np.diff(track.expected) >= 0)


def test_datetime_logs_use_calendar_periods(setup: tuple) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 2, 2],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-10", "2024-01-03", "2024-01-04", "2024-02-01"]
            ),
        }
    )
    log = EventLog.from_frame(frame)
    model = setup[2]
    track = cumulative_transactions(model, log)
    assert track.start == "2024-01-01"  # a Monday: weeks run Monday to Sunday
    assert track.actual[-1] == 2  # 1: week of Jan 8; 2: Jan 4 shares week 0, Feb 1 repeats


@pytest.mark.parametrize("cls", [HoldoutComparison, FrequencyHistogram, CumulativeTransactions])
def test_results_round_trip_and_render(setup: tuple, cls: type) -> None:
    log, rfm, model = setup
    result = {
        HoldoutComparison: lambda: holdout_comparison(model, rfm),
        FrequencyHistogram: lambda: frequency_histogram(model, rfm),
        CumulativeTransactions: lambda: cumulative_transactions(model, log),
    }[cls]()
    text = result.to_json()
    assert cls.from_json(text) == result
    assert "<table" in result._repr_html_()
    assert result.title in str(result)
    frame = result.to_frame()
    assert len(frame) == len(result.table())


def test_empty_bucket_is_nan_and_survives_json(setup: tuple) -> None:
    model = setup[2]
    frame = pd.DataFrame({"customer_id": [1, 1, 2], "time": [0.5, 5.5, 1.0]})
    log = EventLog.from_frame(frame, time_col="time", event_col=None, time_unit="W")
    rfm = log.rfm(time_unit="W", calibration_end=3.0, observation_end=8.0)
    check = holdout_comparison(model, rfm, max_frequency=3)
    assert np.isnan(check.mean_actual[2])
    loaded = HoldoutComparison.from_json(check.to_json())
    assert np.isnan(loaded.mean_actual[2])
