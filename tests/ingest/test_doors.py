"""Every door × every engine gives exactly the same RFM and the same journeys.

One seeded event set (string ids, datetimes, event names, values, a channel attribute) goes in
as a pandas, polars or pyarrow frame, a Polars LazyFrame, a DuckDB relation, a CSV file, a
Parquet file and a Spark DataFrame, through every public door. Each answer must equal the
in-memory path on the pandas frame number for number.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from funnelkit import RFM, EventLog, Funnel, Journeys, aggregate as agg
from tests._spark import local_spark
from tests.aggregate._helpers import assert_same_journeys, assert_same_rfm

CHANNELS = np.array(["instagram", "tiktok", "referral"], dtype=object)
EVENTS = np.array(["touch", "visit", "join", "purchase"], dtype=object)
ENGINES = ["pandas", "polars", "pyarrow", "polars_lazy", "duckdb", "csv", "parquet", "spark"]


def _events(seed: int, *, numeric: bool) -> pd.DataFrame:
    """Unsorted events with same-time ties; values multiples of 0.25, so every sum is exact."""
    rng = np.random.default_rng(seed)
    n_rows, n_customers = 700, 70
    cust = rng.integers(0, n_customers, n_rows)
    event = EVENTS[rng.choice(4, n_rows, p=[0.3, 0.25, 0.1, 0.35])]
    event[(cust >= 60) & (event == "purchase")] = "visit"  # customers who never buy
    value = np.where(event == "purchase", rng.integers(1, 800, n_rows) / 4.0, np.nan)
    if numeric:
        # eighths of a day: exact in binary, in CSV text and in every engine's doubles
        times: Any = rng.integers(0, 400 * 8, n_rows) / 8.0
    else:
        offsets = rng.integers(0, 400 * 86_400 * 10**6, n_rows)
        offsets = np.where(
            rng.random(n_rows) < 0.3, offsets // 3_600_000_000 * 3_600_000_000, offsets
        )
        start = np.datetime64("2023-01-02T00:00:00", "us")
        times = (start + offsets.astype("timedelta64[us]")).astype("datetime64[ns]")
    return pd.DataFrame(
        {
            "customer_id": np.char.add("c", cust.astype(str)).astype(object),
            "timestamp": times,
            "event": event,
            "value": value,
            "channel": CHANNELS[cust % 3],
        }
    )


#: case -> (numeric times?, time unit, RFM window, journeys observation end, funnel order)
CASES: dict[str, tuple[bool, str, dict[str, Any], Any, str]] = {
    "weeks": (False, "W", {}, None, "ordered"),
    "holdout": (
        False,
        "D",
        {"calibration_end": "2023-09-14 13:30", "observation_end": "2024-01-20 08:00"},
        "2023-12-01 12:00",
        "any",
    ),
    "numeric": (True, "D", {"calibration_end": 250.5}, 330.25, "any"),
}


@pytest.fixture(scope="module")
def frames() -> dict[bool, pd.DataFrame]:
    return {numeric: _events(7, numeric=numeric) for numeric in (False, True)}


@pytest.fixture(scope="module")
def spark() -> Any:
    pytest.importorskip("pyspark")
    yield from local_spark()


def _source(engine: str, frame: pd.DataFrame, folder: Path, request: Any) -> Any:
    if engine == "pandas":
        return frame
    if engine == "polars":
        return pl.from_pandas(frame)
    if engine == "pyarrow":
        return pa.Table.from_pandas(frame, preserve_index=False)
    if engine == "polars_lazy":
        return pl.from_pandas(frame).lazy()
    if engine == "duckdb":
        return duckdb.connect().from_df(frame)
    if engine == "csv":
        frame.to_csv(folder / "events.csv", index=False)
        return folder / "events.csv"
    if engine == "parquet":
        frame.to_parquet(folder / "events.parquet")
        return str(folder / "events.parquet")
    assert engine == "spark"
    return request.getfixturevalue("spark").createDataFrame(frame)


def _event_log(source: Any, time_unit: str, **columns: Any) -> EventLog:
    """The EventLog door: from_csv / from_parquet for files, from_frame otherwise."""
    options = {"time_unit": time_unit, **columns}
    if isinstance(source, Path):
        return EventLog.from_csv(source, **options)
    if isinstance(source, str):
        return EventLog.from_parquet(source, **options)
    return EventLog.from_frame(source, **options)


def _rfm_frame(source: Any, **options: Any) -> RFM:
    """rfm_frame keeps the summary in the engine; collect it into an RFM to compare."""
    native = agg.rfm_frame(source, **options)
    if isinstance(native, pl.LazyFrame):
        table = native.collect().to_arrow()
    elif hasattr(native, "toArrow"):  # Spark
        table = native.toArrow()
    else:
        table = native.to_arrow_table()
    table = table.sort_by("customer_id")
    columns = {name: table.column(name).to_numpy() for name in table.column_names}
    ids = np.asarray(columns.pop("customer_id"), dtype=object)
    # observation ends and the count of customers without purchase stay in the engine
    return RFM(customer_ids=ids, time_unit=options["time_unit"], **columns)


RFM_DOORS: dict[str, Callable[..., RFM]] = {
    "RFM.from_events": lambda src, **o: RFM.from_events(src, **o),
    "aggregate.rfm_from_events": lambda src, **o: agg.rfm_from_events(src, **o),
    "EventLog.rfm": lambda src, *, time_unit, value_col, **window: _event_log(
        src, time_unit, value_col=value_col
    ).rfm(**window),
    "aggregate.rfm_frame": _rfm_frame,
}
JOURNEY_DOORS: dict[str, Callable[..., Journeys]] = {
    "Funnel.journeys": lambda funnel, src, **o: funnel.journeys(src, **o),
    "aggregate.journeys_from_events": agg.journeys_from_events,
    "Funnel.journeys(EventLog)": lambda funnel, src, *, time_unit, attribute_cols, **o: (
        funnel.journeys(_event_log(src, time_unit, attribute_cols=attribute_cols), **o)
    ),
}
LAZY = {"polars_lazy", "duckdb", "parquet", "spark"}


def _params(doors: dict[str, Any]) -> list[Any]:
    out = []
    for case in CASES:
        for door in doors:
            for engine in ENGINES:
                if door == "aggregate.rfm_frame" and engine not in LAZY:
                    continue  # in-memory data have no engine to keep the summary in
                if "EventLog" in door and engine == "spark":
                    continue  # EventLog refuses to pull Spark's raw events into memory
                marks = [pytest.mark.spark] if engine == "spark" else []
                out.append(pytest.param(case, door, engine, marks=marks))
    return out


@pytest.mark.parametrize(("case", "door", "engine"), _params(RFM_DOORS))
def test_every_door_and_engine_gives_the_same_rfm(
    case: str, door: str, engine: str, frames: Any, tmp_path: Path, request: Any
) -> None:
    numeric, unit, window, _, _ = CASES[case]
    frame = frames[numeric]
    expected = EventLog.from_frame(frame, value_col="value", time_unit=unit).rfm(**window)
    assert expected.has_holdout == ("calibration_end" in window)
    assert len(expected) > 40 and expected.n_without_purchase >= 10  # the data exercise it
    source = _source(engine, frame, tmp_path, request)
    got = RFM_DOORS[door](source, value_col="value", time_unit=unit, **window)
    if door == "aggregate.rfm_frame":
        a, b = expected.columns(), got.columns()
        assert list(a) == list(b)
        for name in a:
            assert np.array_equal(a[name], b[name]), name
    else:
        assert_same_rfm(expected, got)


@pytest.mark.parametrize(("case", "door", "engine"), _params(JOURNEY_DOORS))
def test_every_door_and_engine_gives_the_same_journeys(
    case: str, door: str, engine: str, frames: Any, tmp_path: Path, request: Any
) -> None:
    numeric, unit, _, end, order = CASES[case]
    frame = frames[numeric]
    funnel = Funnel.community(order=order)
    log = EventLog.from_frame(frame, time_unit=unit, attribute_cols=["channel"])
    expected = funnel.journeys(log, observation_end=end)
    assert min(expected.counts().values()) >= 1  # every stage is reached
    assert (expected.n_events_after_end > 0) == (end is not None)
    source = _source(engine, frame, tmp_path, request)
    got = JOURNEY_DOORS[door](
        funnel, source, observation_end=end, time_unit=unit, attribute_cols=["channel"]
    )
    assert_same_journeys(expected, got)
