"""TimeAxis: one set of rules for raw times, units, calendar periods and engine ticks."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit import FunnelkitError
from funnelkit.ingest import TimeAxis
from funnelkit.units import NS_PER_DAY, TimeUnit


def test_datetime_periods_are_calendar_periods() -> None:
    axis = TimeAxis.of(True, "D")
    # 2024-01-07 is a Sunday, 2024-01-08 a Monday: weeks run Monday..Sunday
    raw = np.array([axis.raw("2024-01-07 23:00"), axis.raw("2024-01-08 01:00")])
    assert axis.period_index(raw, "W").tolist() == [2818, 2819]
    assert axis.period_index(raw, "D").tolist() == [19729, 19730]
    assert axis.period_index(raw, "h").tolist() == [473519, 473521]
    assert axis.period_index(raw, "M").tolist() == [648, 648]
    assert axis.period_index(raw, "Y").tolist() == [54, 54]
    assert axis.period(raw[0], "W") == 2818


def test_numeric_times_are_read_in_the_axis_unit() -> None:
    axis = TimeAxis.of(False, "W")
    assert axis.raw(3) == 3.0
    assert axis.to_unit(np.array([1.5]), "D").tolist() == [10.5]
    assert axis.period_index(np.array([1.5, 2.0]), "D").tolist() == [10, 14]
    assert axis.stamp(2) == 2.0 and axis.to_timestamp(2.5) == 2.5


def test_stamps_and_ticks_round_trip() -> None:
    axis = TimeAxis.of(True, TimeUnit.DAY, tick_ns=1000)
    raw = axis.raw("2024-03-01 12:00:00.000001")
    assert axis.stamp(raw) == np.datetime64("2024-03-01T12:00:00.000001", "ns")
    assert axis.raw_from_ticks(axis.ticks_from_raw(raw)) == raw
    assert axis.ticks_from_raw(raw + 999) == axis.ticks_from_raw(raw)  # the tick not after
    assert axis.raw_array(np.array([1, 2])).tolist() == [1000, 2000]
    assert float(axis.to_unit(NS_PER_DAY)) == 1.0


def test_times_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(FunnelkitError, match=r"^observation_end: this log has datetime"):
        TimeAxis.of(True, "D").raw(5, name="observation_end")
    with pytest.raises(FunnelkitError, match=r"in weeks\); pass a number, not '2024-01-01'\.$"):
        TimeAxis.of(False, "W").raw("2024-01-01")
    with pytest.raises(FunnelkitError, match=r"\(it must be finite\)\.$"):
        TimeAxis.of(False, "D").raw(float("inf"))
