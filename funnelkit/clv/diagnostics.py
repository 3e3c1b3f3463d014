"""Model checking for purchase models: holdout, repeat-frequency histogram, tracking over time.

Each check returns a frozen :class:`~funnelkit._results.Result` holding only numbers, so it can
be saved as JSON, shown as HTML in Jupyter, turned into a table and plotted after reloading
(:mod:`funnelkit.clv.plotting`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, html_table
from funnelkit.clv._data import as_rfm
from funnelkit.events import EventLog
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnit, TimeUnitField

__all__ = [
    "CumulativeTransactions",
    "FrequencyHistogram",
    "HoldoutComparison",
    "cumulative_transactions",
    "frequency_histogram",
    "holdout_comparison",
]


class _TableResult(Result):
    """A result whose core is a table of equal-length columns."""

    _columns: ClassVar[tuple[str, ...]] = ()

    def table(self) -> list[dict[str, Any]]:
        """One record per row of the table."""
        cols = [getattr(self, c) for c in self._columns]
        return [dict(zip(self._columns, values, strict=True)) for values in zip(*cols, strict=True)]

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """The table as a pandas, polars or pyarrow frame."""
        return frame_from_columns({c: np.asarray(getattr(self, c)) for c in self._columns}, backend)

    def _header(self) -> dict[str, Any]:
        return {k: v for k, v in self._display_items() if k not in self._columns}

    def as_html(self) -> str:
        rows: list[Mapping[str, Any]] = list(self.table())
        return html_table(self._header(), caption=self.title) + html_table(rows)

    def as_text(self) -> str:
        lines = [self.title] + [f"  {k}: {v}" for k, v in self._header().items()]
        rows = self.table()
        if rows:
            lines.append("  " + "  ".join(rows[0]))
            for row in rows[:20]:
                lines.append(
                    "  "
                    + "  ".join(
                        f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()
                    )
                )
        return "\n".join(lines)


class HoldoutComparison(_TableResult):
    """Expected vs actual repeat purchases in the holdout period, by calibration frequency.

    ``bucket`` is the number of repeat purchases in the calibration period (the last bucket
    gathers ``>= max_frequency``); per bucket the mean expected and actual holdout purchases.
    ``mae`` and ``rmse`` are per-customer errors over all customers.
    """

    title: ClassVar[str] = "Calibration vs holdout purchases"
    _columns: ClassVar[tuple[str, ...]] = (
        "bucket",
        "bucket_customers",
        "mean_expected",
        "mean_actual",
    )
    model: str
    time_unit: TimeUnitField | None
    n_customers: int
    mean_holdout_duration: float
    total_expected: float
    total_actual: float
    mae: float
    rmse: float
    bucket: list[int]
    bucket_customers: list[int]
    mean_expected: list[float]
    mean_actual: list[float]


class FrequencyHistogram(_TableResult):
    """Customers by number of repeat purchases in calibration: observed vs model-expected.

    The expected count of bucket ``k`` is ``sum_i P(X(T_i) = k)`` over customers (their own
    observation length ``T_i``); the last bucket gathers ``>= max_frequency``.
    ``chi_square`` is Pearson's statistic over the buckets (a descriptive measure: the
    parameters were estimated on the same data).
    """

    title: ClassVar[str] = "Repeat-purchase frequency: observed vs expected"
    _columns: ClassVar[tuple[str, ...]] = ("frequency", "observed", "expected")
    model: str
    n_customers: int
    chi_square: float
    frequency: list[int]
    observed: list[float]
    expected: list[float]


class CumulativeTransactions(_TableResult):
    """Cumulative repeat transactions of the whole customer base, actual vs expected.

    ``period`` counts model time units from the first purchase period in the data;
    ``expected`` sums each customer's expected repeat purchases since their first purchase.
    ``calibration_period`` (if given) marks the end of the calibration period.
    """

    title: ClassVar[str] = "Cumulative repeat transactions"
    _columns: ClassVar[tuple[str, ...]] = ("period", "actual", "expected")
    model: str
    time_unit: TimeUnitField | None
    n_customers: int
    start: str
    calibration_period: int | None = None
    period: list[int]
    actual: list[float]
    expected: list[float]


def holdout_comparison(model: Any, rfm: RFM, *, max_frequency: int = 7) -> HoldoutComparison:
    """Compare holdout purchases with the model's conditional expectations.

    Parameters
    ----------
    model
        A purchase model fitted on the calibration period of ``rfm``.
    rfm
        An RFM built with ``calibration_end`` (:meth:`funnelkit.EventLog.rfm`), which has
        ``holdout_frequency`` and ``holdout_duration``.
    max_frequency
        Calibration frequencies at or above this share the last bucket.

    Examples
    --------
    >>> import pandas as pd
    >>> from funnelkit import EventLog
    >>> from funnelkit.clv import BetaGeoFitter, holdout_comparison
    >>> from funnelkit.datasets import load_cdnow
    >>> log = EventLog.from_frame(load_cdnow("transactions"), time_col="date", value_col="value")
    >>> rfm = log.rfm(time_unit="W", calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> check = holdout_comparison(BetaGeoFitter().fit(rfm), rfm)
    >>> check.bucket[:3]
    [0, 1, 2]

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
    way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284 (Fig. 4).
    """
    if not isinstance(rfm, RFM) or not rfm.has_holdout or rfm.holdout_duration is None:
        raise DataError(
            "holdout_comparison needs an RFM with a holdout period: build it with "
            "log.rfm(calibration_end=..., observation_end=...)."
        )
    _check_max_frequency(max_frequency)
    expected = np.asarray(model.expected_purchases(rfm.holdout_duration, rfm), dtype=float)
    assert rfm.holdout_frequency is not None
    actual = np.asarray(rfm.holdout_frequency, dtype=float)
    bucket = np.minimum(rfm.frequency, max_frequency).astype(np.int64)
    counts = np.bincount(bucket, minlength=max_frequency + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_exp = np.bincount(bucket, weights=expected, minlength=max_frequency + 1) / counts
        mean_act = np.bincount(bucket, weights=actual, minlength=max_frequency + 1) / counts
    err = expected - actual
    return HoldoutComparison(
        model=type(model).__name__,
        time_unit=getattr(model, "time_unit_", None),
        n_customers=len(rfm),
        mean_holdout_duration=float(np.mean(rfm.holdout_duration)),
        total_expected=float(expected.sum()),
        total_actual=float(actual.sum()),
        mae=float(np.mean(np.abs(err))),
        rmse=float(np.sqrt(np.mean(err**2))),
        bucket=list(range(max_frequency + 1)),
        mean_expected=[float(v) for v in mean_exp],
        bucket_customers=counts.tolist(),
        mean_actual=[float(v) for v in mean_act],
    )


def frequency_histogram(
    model: Any, data: Any = None, *, max_frequency: int = 7
) -> FrequencyHistogram:
    """Observed vs expected number of customers with 0, 1, 2, ... repeat purchases.

    Parameters
    ----------
    model
        A fitted purchase model with ``probability_of_purchases(n, t)``.
    data
        The customers (RFM, frame or mapping); ``None`` = the model's training data.
    max_frequency
        Frequencies at or above this share the last bucket.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
    way. *Marketing Science*, 24(2), 275-284 (Fig. 3).
    """
    _check_max_frequency(max_frequency)
    if data is None:
        training = getattr(model, "training_data_", None)
        if training is None:
            raise FunnelkitError(
                "This model carries no training data (loaded from JSON?): pass data=..."
            )
        freq, T = np.asarray(training["frequency"]), np.asarray(training["T"])
    else:
        rfm = as_rfm(data, None, getattr(model, "time_unit_", None))
        freq, T = rfm.frequency, rfm.T
    observed = np.bincount(
        np.minimum(freq, max_frequency).astype(np.int64), minlength=max_frequency + 1
    ).astype(float)
    ages, n_age = np.unique(T, return_counts=True)
    k = np.arange(max_frequency)[:, None]
    probs = np.asarray(model.probability_of_purchases(k, ages[None, :]), dtype=float)
    expected = np.empty(max_frequency + 1)
    expected[:max_frequency] = probs @ n_age
    expected[max_frequency] = freq.size - expected[:max_frequency].sum()
    # a bucket a model all but rules out has an expected count of 1e-200: its square underflows
    with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
        chi = float(np.sum(np.where(expected > 0, (observed - expected) ** 2 / expected, 0.0)))
    return FrequencyHistogram(
        model=type(model).__name__,
        n_customers=int(freq.size),
        chi_square=chi,
        frequency=list(range(max_frequency + 1)),
        observed=observed.tolist(),
        expected=expected.tolist(),
    )


def cumulative_transactions(
    model: Any,
    events: EventLog | Mapping[str, Any],
    *,
    purchase_events: list[str] | None = None,
    calibration_end: Any = None,
    observation_end: Any = None,
) -> CumulativeTransactions:
    """Track cumulative repeat transactions over calendar time, actual vs expected.

    Each customer's first purchase period starts their clock; a later purchase *period* is
    a repeat transaction (the RFM convention: several purchases in one period count once).
    The expected curve adds up ``expected_purchases_new_customer(t)`` of every customer,
    ``t`` periods after their first purchase.

    Parameters
    ----------
    model
        A fitted purchase model with ``expected_purchases_new_customer(t)`` and a time unit;
        periods are calendar periods of that unit.
    events
        An :class:`~funnelkit.EventLog`, or a mapping with ``customer_id`` and ``time``
        (numeric times in the model's time unit; period ``k`` is ``[k, k + 1)``).
    purchase_events
        Event types that are purchases (EventLog only; default ``["purchase"]``).
    calibration_end
        Optional end of the calibration period (a timestamp for datetime logs, a number
        otherwise), stored as ``calibration_period`` for plots.
    observation_end
        Last time to track (default: the last purchase).

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting your customers" the easy
    way. *Marketing Science*, 24(2), 275-284 (Fig. 2).
    """
    unit = getattr(model, "time_unit_", None)
    if unit is None:
        raise FunnelkitError(
            f"{type(model).__name__} has no time unit, so calendar periods are undefined."
        )
    unit = TimeUnit.parse(unit)
    customers, periods, to_period, start = _purchase_periods(events, unit, purchase_events)
    if periods.size == 0:
        raise DataError("No purchases: cumulative transactions need at least one purchase.")
    order = np.lexsort((periods, customers))
    customers, periods = customers[order], periods[order]
    new_customer = np.ones(customers.size, dtype=bool)
    new_customer[1:] = customers[1:] != customers[:-1]
    new_period = new_customer.copy()
    new_period[1:] |= periods[1:] != periods[:-1]
    first = periods[new_customer]
    repeats = periods[new_period & ~new_customer]
    origin = int(first.min())
    last = int(periods.max()) if observation_end is None else int(to_period(observation_end))
    grid = np.arange(origin, last + 1)
    actual = np.cumsum(np.bincount(repeats[repeats <= last] - origin, minlength=grid.size))
    cohorts, sizes = np.unique(first[first <= last], return_counts=True)
    age = grid[:, None] - cohorts[None, :]
    curve = np.asarray(model.expected_purchases_new_customer(np.maximum(age, 0)), dtype=float)
    expected = (np.where(age >= 0, curve, 0.0) * sizes).sum(axis=1)
    calibration = None if calibration_end is None else int(to_period(calibration_end)) - origin
    return CumulativeTransactions(
        model=type(model).__name__,
        time_unit=unit,
        n_customers=int(first.size),
        start=start(origin),
        calibration_period=calibration,
        period=(grid - origin).tolist(),
        actual=actual[: grid.size].astype(float).tolist(),
        expected=expected.tolist(),
    )


def _purchase_periods(
    events: Any, unit: TimeUnit, purchase_events: list[str] | None
) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    if isinstance(events, EventLog):
        mask = events.event_mask(purchase_events or ["purchase"])
        if not mask.any():
            raise DataError(
                f"No purchase events in the log (event types {list(events.event_types)}); "
                "pass purchase_events=[...]."
            )
        periods = events.period_index(events.raw_times[mask], unit)

        def to_period(value: Any) -> int:
            return int(events.period_index(np.asarray([events.raw_time(value)]), unit)[0])

        def start(origin: int) -> str:
            if not events.is_datetime:
                return str(origin)
            day = _period_start_day(origin, unit)
            return str(np.datetime64(int(day), "D"))

        return events.customer_codes[mask], periods, to_period, start
    if isinstance(events, Mapping):
        missing = [c for c in ("customer_id", "time") if c not in events]
        if missing:
            raise DataError(f"The mapping is missing {missing}: it needs 'customer_id', 'time'.")
        times = np.asarray(events["time"], dtype=float)
        if not np.all(np.isfinite(times)):
            raise DataError(f"{int(np.sum(~np.isfinite(times)))} purchase time(s) are missing.")
        codes = np.unique(np.asarray(events["customer_id"]), return_inverse=True)[1].reshape(-1)
        return (
            codes,
            np.floor(times).astype(np.int64),
            lambda value: int(np.floor(float(value))),
            str,
        )
    raise DataError("events must be an EventLog or a mapping with 'customer_id' and 'time'.")


def _period_start_day(period: int, unit: TimeUnit) -> int:
    """First day (days since 1970-01-01) of a calendar period index from EventLog."""
    if unit is TimeUnit.WEEK:
        return period * 7 - 3
    if unit is TimeUnit.DAY or unit is TimeUnit.HOUR:
        return period if unit is TimeUnit.DAY else period // 24
    stamp = np.datetime64(period, "M") if unit is TimeUnit.MONTH else np.datetime64(period, "Y")
    return int(stamp.astype("datetime64[D]").astype(np.int64))


def _check_max_frequency(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise FunnelkitError(f"max_frequency must be an int >= 1; got {value!r}.")
