"""The column roles of event data, one rule for every way in (eager frame, lazy source, file).

``event_col`` defaults to ``"event"``: when the data have no column of that name, the log is a
plain transaction log and every row is a purchase. Passing ``event_col=None`` says so
explicitly; any other name must exist. :meth:`funnelkit.EventLog.from_frame`,
:meth:`funnelkit.RFM.from_events`, :meth:`funnelkit.Funnel.journeys` and the lazy aggregations
all resolve their columns here, so the same data give the same numbers whichever door they
came through.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from funnelkit._frames import check_columns
from funnelkit.exceptions import DataError

__all__ = [
    "DEFAULT_EVENT_COL",
    "ColumnRoles",
    "check_unique_names",
    "column_names",
    "eager_frame",
    "resolve_roles",
]

#: The event type column looked for when the caller names none.
DEFAULT_EVENT_COL = "event"


@dataclass(frozen=True)
class ColumnRoles:
    """Which column plays which role; ``event`` is None for a log of purchases only."""

    customer: str
    time: str
    event: str | None
    value: str | None
    attributes: tuple[str, ...]


def resolve_roles(
    available: Sequence[str],
    *,
    customer_col: str,
    time_col: str,
    event_col: str | None,
    value_col: str | None,
    attribute_cols: Sequence[str] = (),
) -> ColumnRoles:
    """Apply the auto-detection rule and check that every named column exists."""
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
    return ColumnRoles(customer_col, time_col, event_col, value_col, tuple(attribute_cols))


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
    import narwhals as nw

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
    names = getattr(native, "column_names", None)
    if names is None:
        names = getattr(native, "columns", None)
    if names is None or isinstance(names, str):
        return None
    try:
        return list(names)
    except TypeError:
        return None
