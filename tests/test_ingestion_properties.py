"""Bad and degenerate event frames: a FunnelkitError, or the same numbers from every library.

Hypothesis builds small event frames with missing ids, times and events, duplicate rows and
column names, timestamps outside the nanosecond range, numbers mixed into text timestamps,
garbage and zoned strings, empty frames and dictionary-encoded attributes with nulls, and
feeds each one through pandas, polars and pyarrow (and DuckDB when the times are typed).
Every outcome must be either a FunnelkitError or an RFM summary equal across libraries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from funnelkit import RFM, EventLog, FunnelkitError

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
duckdb = pytest.importorskip("duckdb")

_BUDGET = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

TEXT_TIMES = st.one_of(
    st.sampled_from(
        [
            "2024-01-01",
            "2024-01-03 10:00",
            "2024-02-10",
            "2024-01-05T00:00:00Z",
            "9999-01-05",
            "1500-06-01",
            "3000-01-01",
            "garbage",
            "",
            "2024-13-45",
        ]
    ),
    st.none(),
    st.integers(-5, 5),
)
TYPED_YEARS = st.one_of(st.integers(2023, 2024), st.sampled_from([1500, 1677, 2262, 2263, 2500]))


@st.composite
def text_frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(0, 8))
    ids = st.one_of(st.sampled_from(["a", "b", "c"]), st.none())
    rows = {
        "customer_id": draw(st.lists(ids, min_size=n, max_size=n)),
        "timestamp": draw(st.lists(TEXT_TIMES, min_size=n, max_size=n)),
        "event": draw(
            st.lists(st.sampled_from(["visit", "purchase", None]), min_size=n, max_size=n)
        ),
        "channel": draw(st.lists(st.sampled_from(["ig", "fb", None]), min_size=n, max_size=n)),
    }
    frame = pd.DataFrame(rows, dtype=object)
    if n and draw(st.booleans()):
        frame = pd.concat([frame, frame.iloc[: draw(st.integers(1, n))]], ignore_index=True)
    if draw(st.integers(0, 9)) == 0:
        frame = frame.set_axis(["customer_id", "timestamp", "event", "customer_id"], axis=1)
    return frame


@st.composite
def typed_frames(draw: Any) -> pd.DataFrame:
    n = draw(st.integers(1, 8))
    years = draw(st.lists(TYPED_YEARS, min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 90), min_size=n, max_size=n))
    stamps = np.array([f"{y:04d}-01-01" for y in years], dtype="datetime64[s]") + np.array(
        days, dtype="timedelta64[D]"
    )
    return pd.DataFrame(
        {
            "customer_id": draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n)),
            "timestamp": stamps,
            "event": draw(st.lists(st.sampled_from(["visit", "purchase"]), min_size=n, max_size=n)),
            "channel": draw(st.lists(st.sampled_from(["ig", "fb", None]), min_size=n, max_size=n)),
        }
    )


def _outcome(build: Any) -> Any:
    """('error', None) for a FunnelkitError, else the summary and the attribute as lists."""
    try:
        log, rfm = build()
    except FunnelkitError:
        return ("error", None)
    columns = {k: np.asarray(v).tolist() for k, v in rfm.columns().items()}
    return ("ok", (columns, log.attributes["channel"].tolist()))


def _eager(native: Any) -> Any:
    log = EventLog.from_frame(native, attribute_cols=["channel"])
    return log, log.rfm()


def _natives(frame: pd.DataFrame) -> dict[str, Any]:
    """The frame in every library that can hold it (mixed-type columns only fit pandas)."""
    out: dict[str, Any] = {"pandas": frame}
    try:
        arrays = [pa.array(frame.iloc[:, i].tolist()) for i in range(frame.shape[1])]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return out  # numbers among strings: no arrow or polars column can hold that
    table = pa.table(arrays, names=list(frame.columns))
    if len(set(frame.columns)) < len(frame.columns):
        return {**out, "pyarrow": table}  # polars cannot hold repeated names at all
    out["pyarrow"] = table
    out["pyarrow-dictionary"] = table.set_column(
        3, "channel", table.column("channel").dictionary_encode()
    )
    out["polars"] = pl.from_arrow(table)
    return out


def _check_agreement(frame: pd.DataFrame, extra: dict[str, Any] | None = None) -> None:
    outcomes = {name: _outcome(lambda n=n: _eager(n)) for name, n in _natives(frame).items()}
    outcomes.update(extra or {})
    first = next(iter(outcomes.values()))
    for name, got in outcomes.items():
        assert got == first, f"{name} differs from pandas: {got} != {first}"


@_BUDGET
@given(text_frames())
def test_text_event_frames_error_cleanly_or_agree(frame: pd.DataFrame) -> None:
    _check_agreement(frame)


@_BUDGET
@given(typed_frames())
def test_typed_timestamps_error_cleanly_or_agree_with_duckdb(frame: pd.DataFrame) -> None:
    relation = duckdb.from_arrow(pa.Table.from_pandas(frame, preserve_index=False))

    def lazy() -> Any:
        rfm = RFM.from_events(relation)
        log = EventLog.from_frame(frame, attribute_cols=["channel"])  # attributes: in memory
        return log, rfm

    outcome = _outcome(lazy)
    # The lazy summary has no attributes: compare its columns with the eager ones.
    eager = _outcome(lambda: _eager(frame))
    assert outcome[0] == eager[0]
    if outcome[0] == "ok":
        assert outcome[1][0] == eager[1][0]
    _check_agreement(frame)
