"""The one column and event specification of event data, with one auto-detection rule.

``event_col`` defaults to ``"event"``: when the data have no column of that name, the log is a
plain transaction log and every row is a purchase. Passing ``event_col=None`` says so
explicitly; any other name must exist. Every way in (eager frame, lazy relation, file) resolves
its columns here, so the same data give the same numbers whichever door they came through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import narwhals as nw

from funnelkit._frames import check_columns
from funnelkit.exceptions import DataError

__all__ = [
    "DEFAULT_EVENT_COL",
    "PURCHASE",
    "ColumnSpec",
    "check_unique_names",
    "column_names",
    "eager_frame",
    "resolve_columns",
]

#: The event type column looked for when the caller names none.
DEFAULT_EVENT_COL = "event"
#: Event type of every row of a log read without an event column.
PURCHASE = "purchase"


@dataclass(frozen=True)
class ColumnSpec:
    """Which column plays which role; ``event`` is None for a log of purchases only.

    For sources read through their schema (lazy engines), :meth:`with_schema` also records the
    kind of the time column: ``time_kind`` is ``"datetime"`` (timestamps or dates, read as
    wall-clock time) or ``"numeric"`` (numbers in the requested time unit), and ``time_ns`` the
    precision of the engine's integer clock ticks (1 for nanoseconds, 1000 for microseconds).
    """

    customer: str
    time: str
    event: str | None
    value: str | None
    attributes: tuple[str, ...] = ()
    time_kind: Literal["datetime", "numeric"] | None = None
    time_dtype: Any = None
    time_ns: int = 1

    def with_schema(self, schema: Mapping[str, Any], *, engine: str) -> ColumnSpec:
        """Check the time and value column types of a schema (no rows are read)."""
        dtype = schema[self.time]
        if dtype.is_numeric():
            spec = replace(self, time_kind="numeric", time_dtype=dtype, time_ns=1)
        elif isinstance(dtype, nw.Datetime) or dtype == nw.Date:
            # Spark hands out microseconds whatever the declared precision.
            ns = getattr(dtype, "time_unit", "us") == "ns" and engine != "spark"
            spec = replace(self, time_kind="datetime", time_dtype=dtype, time_ns=1 if ns else 1000)
        else:
            raise DataError(
                f"Time column {self.time!r} has type {dtype}, not a timestamp, date or number. "
                "Lazy sources are not parsed row by row: cast the column where the data lives, "
                f"e.g. DuckDB CAST({self.time} AS TIMESTAMP), Polars "
                f"pl.col({self.time!r}).str.to_datetime() or Spark F.to_timestamp({self.time!r})."
            )
        if self.value is not None and not schema[self.value].is_numeric():
            raise DataError(
                f"Value column {self.value!r} has type {schema[self.value]}, not a number. "
                f"Cast it where the data lives, e.g. CAST({self.value} AS DOUBLE)."
            )
        return spec


def resolve_columns(
    available: Sequence[str],
    *,
    customer_col: str,
    time_col: str,
    event_col: str | None,
    value_col: str | None,
    attribute_cols: Sequence[str] = (),
) -> ColumnSpec:
    """Apply the auto-detection rule and check that every named column exists.

    Examples
    --------
    >>> resolve_columns(["customer_id", "timestamp"], customer_col="customer_id",
    ...                 time_col="timestamp", event_col="event", value_col=None).event is None
    True
    """
    check_unique_names(available)
    if event_col == DEFAULT_EVENT_COL and DEFAULT_EVENT_COL not in available:
        event_col = None
    check_columns(
        available,
        {
            "customer_col": customer_col,
            "time_col": time_col,
            "event_col": event_col,
            "value_col": value_col,
            **{f"attribute_cols[{i}]": c for i, c in enumerate(attribute_cols)},
        },
    )
    return ColumnSpec(customer_col, time_col, event_col, value_col, tuple(attribute_cols))


def check_unique_names(available: Sequence[Any]) -> None:
    """Refuse repeated column names: which of the copies is meant cannot be guessed."""
    repeated = sorted(str(n) for n, k in Counter(available).items() if k > 1)
    if repeated:
        raise DataError(
            f"{len(repeated)} column name(s) occur more than once: {repeated}. Rename or drop "
            "the duplicates so that each name is unique."
        )


def eager_frame(
    native: Any,
    *,
    what: str = "the input",
    accepted: str = "a pandas, polars or pyarrow frame",
) -> Any:
    """A narwhals DataFrame of an eager pandas, polars or pyarrow frame, or a clear DataError."""
    names = column_names(native)
    if names is not None:
        check_unique_names(names)
    try:
        return nw.from_native(native, eager_only=True)
    except TypeError as exc:
        raise DataError(
            f"Unsupported type {type(native).__name__} for {what}: pass {accepted}."
        ) from exc


def column_names(native: Any) -> list[Any] | None:
    """Column names of a native frame without converting it (None if it has none)."""
    # pandas and pyarrow allow repeated names; read them before narwhals refuses the frame.
    if callable(getattr(native, "collect_schema", None)):
        # A lazy frame resolves its schema for ``columns`` (Polars warns); ask for it directly.
        return list(native.collect_schema().names())
    names = getattr(native, "column_names", None)
    if names is None:
        names = getattr(native, "columns", None)
    if names is None or isinstance(names, str):
        return None
    try:
        return list(names)
    except TypeError:
        return None
