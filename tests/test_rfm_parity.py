"""RFM must reproduce lifetimes' summary and calibration/holdout tables exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import random_transactions

from funnelkit import EventLog

lifetimes_utils = pytest.importorskip("lifetimes.utils")

HOLDOUT_COLUMNS = {
    "frequency_cal": "frequency",
    "recency_cal": "recency",
    "T_cal": "T",
    "monetary_value_cal": "monetary_value",
    "frequency_holdout": "holdout_frequency",
    "monetary_value_holdout": "holdout_monetary_value",
    "duration_holdout": "holdout_duration",
}


def _ours(log: EventLog, **kwargs: object) -> pd.DataFrame:
    return log.rfm(**kwargs).to_frame().set_index("customer_id")  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("unit", ["D", "W", "h"])
@pytest.mark.parametrize("end", [None, "2021-06-30"])
def test_summary_matches_lifetimes(seed: int, unit: str, end: str | None) -> None:
    tx = random_transactions(seed)
    ref = lifetimes_utils.summary_data_from_transaction_data(
        tx, "customer_id", "date", "value", observation_period_end=end, freq=unit
    )
    got = _ours(
        EventLog.from_frame(tx, time_col="date", value_col="value"),
        time_unit=unit,
        observation_end=end,
    )
    assert sorted(got.index) == sorted(ref.index)
    got = got.loc[ref.index]
    for column in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(got[column], ref[column], rtol=1e-12, err_msg=column)


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("unit", ["D", "W"])
def test_calibration_holdout_matches_lifetimes(seed: int, unit: str) -> None:
    tx = random_transactions(seed)
    ref = lifetimes_utils.calibration_and_holdout_data(
        tx,
        "customer_id",
        "date",
        calibration_period_end="2020-12-31",
        observation_period_end="2021-09-30",
        freq=unit,
        monetary_value_col="value",
    )
    got = _ours(
        EventLog.from_frame(tx, time_col="date", value_col="value"),
        time_unit=unit,
        observation_end="2021-09-30",
        calibration_end="2020-12-31",
    )
    assert sorted(got.index) == sorted(ref.index)
    got = got.loc[ref.index]
    for theirs, ours in HOLDOUT_COLUMNS.items():
        np.testing.assert_allclose(got[ours], ref[theirs], rtol=1e-12, err_msg=theirs)


def test_transaction_log_without_values_matches_lifetimes() -> None:
    tx = random_transactions(5)[["customer_id", "date"]]
    ref = lifetimes_utils.summary_data_from_transaction_data(tx, "customer_id", "date")
    got = _ours(EventLog.from_frame(tx, time_col="date")).loc[ref.index]
    assert "monetary_value" not in got.columns
    np.testing.assert_array_equal(got[["frequency", "recency", "T"]], ref)
