"""Validation of lazy sources inside their engine: one aggregate query, never the rows.

The checks and messages mirror :meth:`funnelkit.EventLog.from_frame`: what is wrong, how many
rows, a few example customer ids, and how to fix it. Counts come from a single narwhals
``select`` of aggregates over the base projection; example ids are fetched (five rows at
most) only when a check fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import narwhals as nw
import numpy as np

from funnelkit._timeparse import ns_bounds, out_of_range
from funnelkit.exceptions import DataError
from funnelkit.ingest.columns import ColumnSpec

__all__ = ["count_true", "example_ids", "format_ids", "run_checks"]

_LIMIT = 5


def run_checks(
    base: nw.LazyFrame,
    cols: ColumnSpec,
    *,
    allow_negative_values: bool,
    extra: Mapping[str, nw.Expr] | None = None,
) -> dict[str, Any]:
    """Count bad rows in one query and raise the first problem, as the in-memory path does.

    Returns the counts, ``k_min`` / ``k_max`` (earliest and latest time in engine ticks) and
    the caller's ``extra`` aggregates.
    """
    c, v = nw.col("fk_c"), nw.col("fk_v")
    exprs: dict[str, nw.Expr] = {
        "n_rows": nw.len(),
        "null_c": count_true(c.is_null()),
        "null_t": count_true(nw.col("fk_tnull")),
        "k_min": nw.col("fk_k").min(),
        "k_max": nw.col("fk_k").max(),
    }
    if cols.time_kind == "numeric":
        exprs["inf_t"] = count_true(nw.col("fk_tinf"))
    if cols.event is not None:
        exprs["null_e"] = count_true(nw.col("fk_e").is_null())
    if cols.value is not None:
        exprs["neg_v"] = count_true(v < 0)
        exprs["inf_v"] = count_true(v.abs() == float("inf"))
    exprs.update(extra or {})
    row = base.select(**exprs).collect().rows(named=True)[0]
    counts = {k: _plain(val) for k, val in row.items()}

    if counts["n_rows"] == 0:
        raise DataError("The event log is empty: it has no rows. Check the filter or the file.")
    if counts["null_c"]:
        raise DataError(
            f"{counts['null_c']} row(s) have no customer id in column {cols.customer!r}; "
            "drop them or fill the ids."
        )
    _raise_if(
        base,
        counts["null_t"],
        nw.col("fk_tnull"),
        cols.time,
        "have no timestamp",
        "drop them or fill the timestamps",
    )
    if cols.time_kind == "numeric":
        _raise_if(
            base,
            counts["inf_t"],
            nw.col("fk_tinf"),
            cols.time,
            "have a non-finite time",
            "fix the times",
        )
    if cols.time_kind == "datetime":
        _check_time_range(base, cols, counts["k_min"], counts["k_max"])
    if cols.event is not None:
        _raise_if(
            base,
            counts["null_e"],
            nw.col("fk_e").is_null(),
            cols.event,
            "have no event type",
            "drop them or label the events",
        )
    if cols.value is not None:
        if not allow_negative_values and counts["neg_v"]:
            ids = example_ids(base, v < 0)
            raise DataError(
                f"{counts['neg_v']} row(s) of value column {cols.value!r} are negative (e.g. "
                f"customer ids {format_ids(ids, counts['neg_v'])}). If these are refunds, pass "
                "allow_negative_values=True; otherwise fix the values."
            )
        if counts["inf_v"]:
            ids = example_ids(base, v.abs() == float("inf"))
            raise DataError(
                f"{counts['inf_v']} row(s) of value column {cols.value!r} are infinite (e.g. "
                f"customer ids {format_ids(ids, counts['inf_v'])})."
            )
    return counts


def count_true(condition: nw.Expr) -> nw.Expr:
    """Number of rows where ``condition`` holds (nulls count as false), in every engine."""
    return condition.cast(nw.Int64).sum()


def example_ids(base: nw.LazyFrame, condition: nw.Expr) -> list[Any]:
    """Customer ids of a few rows matching ``condition`` (a small query, run on failure only)."""
    sample = base.filter(condition).select("fk_c").head(_LIMIT).collect()
    return list(sample["fk_c"].to_list())


def format_ids(ids: list[Any], total: int) -> str:
    """``'a', 'b', ... (+n more)`` where ``total`` counts all offending rows."""
    shown = ", ".join(repr(_plain(i)) for i in ids[:_LIMIT])
    extra = total - min(len(ids), _LIMIT)
    return f"{shown}, ... (+{extra} more)" if extra > 0 else shown


def _raise_if(
    base: nw.LazyFrame, count: int, condition: nw.Expr, column: str, what: str, fix: str
) -> None:
    if count:
        ids = example_ids(base, condition)
        raise DataError(
            f"{count} row(s) {what} in column {column!r} (e.g. customer ids "
            f"{format_ids(ids, count)}); {fix}."
        )


def _check_time_range(base: nw.LazyFrame, cols: ColumnSpec, k_min: Any, k_max: Any) -> None:
    """Refuse times the in-memory path cannot hold (int64 ns), as EventLog.from_frame does.

    Engines keep microsecond timestamps up to the year 294247; converted to nanoseconds those
    past 2262 would overflow, so they are counted and shown here instead.
    """
    low, high = ns_bounds(cols.time_ns)
    if k_min is None or (low <= k_min and k_max <= high):
        return
    k = nw.col("fk_k")
    outside = (k < low) | (k > high)
    count = base.select(count_true(outside).alias("n")).collect()["n"].to_list()[0]
    sample = base.filter(outside).select("fk_c", "fk_k").head(_LIMIT).collect()
    dtype = "datetime64[ns]" if cols.time_ns == 1 else "datetime64[us]"
    stamps = np.asarray(sample["fk_k"].to_list(), dtype=np.int64).view(dtype)
    ids = [_plain(i) for i in sample["fk_c"].to_list()]
    raise out_of_range(stamps, ids, cols.time, count=int(_plain(count)))


def _plain(value: Any) -> Any:
    """Engine scalars (Decimal counts, numpy numbers) as Python ints and floats."""
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if type(value).__name__ == "Decimal":
        return int(value)
    return value
