"""The RFM summary kept in the engine equals RFM.from_events, column by column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from funnelkit import RFM, FunnelkitError
from funnelkit.aggregate import rfm_frame

from ._helpers import as_source, random_events

WINDOWS = [
    {},
    {"calibration_end": "2023-09-14 13:30"},
    {"calibration_end": "2023-06-30", "observation_end": "2024-05-20 08:00"},
    {"observation_end": "2024-02-10 12:00"},
]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return random_events(2)


def _collect(frame, engine: str) -> pd.DataFrame:
    native = frame.collect().to_pandas() if engine == "polars" else frame.df()
    return native.sort_values("customer_id").reset_index(drop=True)


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@pytest.mark.parametrize("window", range(len(WINDOWS)))
@pytest.mark.parametrize("value_col", ["value", None])
def test_frame_equals_rfm(events, engine, window, value_col):
    options = {"value_col": value_col, "event_col": "event", "time_unit": "W", **WINDOWS[window]}
    expected = RFM.from_events(as_source(events, engine), **options).to_frame()
    got = _collect(rfm_frame(as_source(events, engine), **options), engine)
    assert list(got.columns) == list(expected.columns)
    for name in expected.columns:
        assert np.array_equal(got[name].to_numpy(), expected[name].to_numpy()), name


def test_in_memory_frames_are_pointed_to_rfm_from_events(events):
    with pytest.raises(FunnelkitError, match=r"RFM.from_events\(...\).to_frame\(\)"):
        rfm_frame(events)
