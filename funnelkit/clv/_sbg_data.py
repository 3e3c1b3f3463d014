"""Contract lifetimes as sBG fitting data: read, checked, and compressed into unique rows.

A customer is a whole number of periods paid for (``duration >= 1``) and whether they have
churned; a cohort is its survivor counts. Both become rows ``(duration, churned)`` with
weights, which is all the sBG likelihood reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from funnelkit.clv._data import FitData, customer_weights, numbers
from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = [
    "check_informative",
    "check_lifetimes",
    "compress",
    "lifetime_columns",
    "lifetime_rows",
    "survivor_rows",
    "whole_periods",
]


def lifetime_columns(data: Any) -> tuple[Any, Any, np.ndarray | None]:
    """The ``duration``, ``churned`` and (if present) ``customer_id`` columns of a frame or
    mapping."""
    if isinstance(data, Mapping):
        missing = [c for c in ("duration", "churned") if c not in data]
        if missing:
            raise DataError(f"The mapping is missing {missing}: it needs 'duration', 'churned'.")
        ids = np.asarray(data["customer_id"]) if "customer_id" in data else None
        return data["duration"], data["churned"], ids
    import narwhals as nw

    from funnelkit._frames import check_columns

    frame = nw.from_native(data, eager_only=True)
    check_columns(list(frame.columns), {"duration_col": "duration", "churned_col": "churned"})
    ids = frame["customer_id"].to_numpy() if "customer_id" in frame.columns else None
    return frame["duration"].to_numpy(), frame["churned"].to_numpy(), ids


def lifetime_rows(
    durations: Any,
    churned: Any,
    ids: np.ndarray | None,
    *,
    weights: Any,
    frame: Any,
    time_unit: TimeUnitLike | None,
) -> tuple[FitData, np.ndarray, np.ndarray]:
    """Checked lifetimes as compressed rows, with each customer's weight and id.

    ``frame`` is the data the columns came from (``None`` for arrays), where ``weights`` may
    name a column. Ids default to the customers' positions.
    """
    dur, died, ids = check_lifetimes(durations, churned, ids)
    w = np.ones(dur.size) if weights is None else customer_weights(weights, frame, dur.size)
    return compress(dur, died, w, time_unit), w, np.asarray(ids)


def check_lifetimes(
    durations: Any, churned: Any, ids: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Durations as whole periods ``>= 1`` and churned flags as booleans, or a DataError that
    counts the bad customers and names a few."""
    dur = numbers("duration", durations, ids)
    flags = np.asarray(churned)
    n = dur.size
    if dur.ndim != 1 or flags.shape != dur.shape:
        raise DataError(
            "durations and churned must be one-dimensional and of equal length; got shapes "
            f"{dur.shape} and {flags.shape}."
        )
    if n == 0:
        raise DataError("No customers: durations is empty.")
    ids = np.arange(n) if ids is None else ids

    def fail(bad: np.ndarray, what: str, fix: str) -> None:
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{rows.size} customer(s) {what} (e.g. customer ids {format_examples(ids[rows])}); "
            f"{fix}."
        )

    if flags.dtype != bool:
        as_float = (
            # entries that are not numbers ("yes") count as bad flags below, not a ValueError
            np.asarray([_flag_number(v) for v in flags.tolist()], dtype=float)
            if flags.dtype == object
            else np.asarray(flags, dtype=float)
            if flags.dtype.kind in "biuf"
            else None
        )
        if as_float is None:
            raise DataError(
                f"churned must be boolean (True = churned, False = still active); got dtype "
                f"{flags.dtype}."
            )
        bad = ~np.isin(as_float, (0.0, 1.0))
        if bad.any():
            fail(
                bad,
                "have a churned flag that is not True/False (or 1/0)",
                "churned must say True for churned and False for still-active customers",
            )
        flags = as_float == 1.0
    bad = ~np.isfinite(dur)
    if bad.any():
        fail(bad, "have a missing or non-finite duration", "drop or impute them")
    bad = dur != np.round(dur)
    if bad.any():
        fail(bad, "have a fractional duration", "durations count whole contract periods")
    bad = dur < 1
    if bad.any():
        fail(
            bad,
            "have a duration < 1",
            "a churned customer paid for at least one period, and an active customer still in "
            "the first period carries no information yet: drop those rows",
        )
    return dur, flags.astype(bool), ids


def _flag_number(value: Any) -> float:
    """A churned flag as 0/1, or NaN for anything that is not a number."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def survivor_rows(survivors: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A cohort's survivor counts ``n_0, ..., n_k`` as lifetimes: durations, churned flags
    and how many customers share each (those lost in each period, then the survivors)."""
    counts = np.asarray(survivors, dtype=float)
    if counts.ndim != 1 or counts.size < 2:
        raise DataError(
            "survivors must list the cohort size and at least one later count, e.g. "
            "[1000, 631, 468]."
        )
    bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.round(counts))
    if bad.any():
        raise DataError(
            f"{int(bad.sum())} survivor count(s) are not whole numbers >= 0 (positions "
            f"{format_examples(np.flatnonzero(bad))})."
        )
    if counts[0] <= 0:
        raise DataError("The cohort size survivors[0] must be positive.")
    rising = np.flatnonzero(np.diff(counts) > 0) + 1
    if rising.size:
        raise DataError(
            f"Survivor counts must not increase, but {rising.size} do (positions "
            f"{format_examples(rising)}): customers cannot come back into a cohort."
        )
    k = counts.size - 1
    periods = np.arange(1, k + 1, dtype=float)
    dur = np.concatenate([periods, [float(k)]])
    died = np.concatenate([np.ones(k, dtype=bool), [False]])
    lost = np.concatenate([counts[:-1] - counts[1:], [counts[-1]]])
    return dur, died, lost


def compress(
    dur: np.ndarray, died: np.ndarray, weights: np.ndarray, time_unit: TimeUnitLike | None
) -> FitData:
    """Customers as unique ``(duration, churned)`` rows with summed weights (zero weights
    dropped); the customers themselves are kept as the training data."""
    # durations are whole numbers, so 2 * duration + churned is a collision-free key
    key = dur * 2.0 + died
    uniq, inverse = np.unique(key, return_inverse=True)
    row_w = np.bincount(inverse, weights=weights, minlength=uniq.size)
    keep = row_w > 0
    return FitData(
        columns={"duration": np.floor(uniq / 2.0)[keep], "churned": (uniq % 2.0)[keep]},
        weights=row_w[keep],
        n_customers=round(float(row_w.sum())),
        time_unit=None if time_unit is None else TimeUnit.parse(time_unit),
        training={"duration": dur, "churned": died.astype(float)},
    )


def check_informative(data: FitData) -> None:
    """Refuse data that put the churn probability on 0 or 1, where no model is estimable."""
    died = data["churned"] > 0
    weights = data.weights
    if data.n_rows == 0:
        raise DataError("Nothing to fit: every customer has weight 0; weights count customers.")
    if not np.any(weights[died] > 0):
        raise DataError(
            f"None of the {data.n_customers} customers churned, so the churn probability is "
            "estimated as 0 (nobody ever leaves) and sBG cannot describe retention: observe "
            "the cohort for longer, until some customers have churned."
        )
    first = died & (data["duration"] == 1)
    if float(weights[first].sum()) >= float(weights.sum()):
        raise DataError(
            f"All {data.n_customers} customers churned in their first period, so the churn "
            "probability is estimated as 1 (nobody ever renews) and sBG has nothing to fit: "
            "check that durations count the periods paid for (a customer who renewed once has "
            "duration 2)."
        )


def whole_periods(t: Any, name: str, *, minimum: int) -> np.ndarray:
    """``t`` as an array of whole periods ``>= minimum``, or a FunnelkitError naming ``name``."""
    arr = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < minimum) or np.any(arr != np.round(arr)):
        raise FunnelkitError(f"{name} must be whole periods >= {minimum}; got {t!r}.")
    return arr
