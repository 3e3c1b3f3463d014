"""Recency / frequency / monetary (RFM) summaries, the input of the BTYD models.

Definitions follow the BTYD literature and lifetimes' ``summary_data_from_transaction_data``:

* ``frequency`` -- number of *repeat* purchase periods (distinct purchase periods minus one);
* ``recency`` -- periods between the first and the last purchase period;
* ``T`` -- periods between the first purchase period and the observation end;
* ``monetary_value`` -- mean per-period spend over the repeat periods (0 when frequency is 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit._frames import Backend, check_columns, frame_from_columns
from funnelkit._results import html_table
from funnelkit.exceptions import DataError, format_examples
from funnelkit.ingest.columns import DEFAULT_EVENT_COL, eager_frame
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["RFM", "CompressedRFM"]


@dataclass(frozen=True)
class CompressedRFM:
    """Unique ``(frequency, recency, T)`` rows with their multiplicities.

    Likelihoods only ever see this: ``weights[i]`` customers share row ``i``, and
    ``inverse`` maps every original customer back to its row.
    """

    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    weights: np.ndarray
    inverse: np.ndarray


class RFM:
    """Per-customer RFM summary: columnar numpy arrays plus their time unit.

    Build it with :meth:`funnelkit.EventLog.rfm` from an event log, or with
    :meth:`from_arrays` / :meth:`from_frame` from summaries you already have.

    Examples
    --------
    >>> rfm = RFM.from_arrays(frequency=[0, 2], recency=[0.0, 5.0], T=[10.0, 12.0])
    >>> len(rfm), rfm.time_unit.value
    (2, 'day')
    """

    def __init__(
        self,
        *,
        customer_ids: np.ndarray,
        frequency: np.ndarray,
        recency: np.ndarray,
        T: np.ndarray,
        monetary_value: np.ndarray | None = None,
        time_unit: TimeUnitLike = "D",
        holdout_frequency: np.ndarray | None = None,
        holdout_monetary_value: np.ndarray | None = None,
        holdout_duration: np.ndarray | None = None,
        n_without_purchase: int = 0,
        observation_end: Any = None,
        calibration_end: Any = None,
    ) -> None:
        self.customer_ids = customer_ids
        self.frequency = frequency
        self.recency = recency
        self.T = T
        self.monetary_value = monetary_value
        self.time_unit = TimeUnit.parse(time_unit)
        self.holdout_frequency = holdout_frequency
        self.holdout_monetary_value = holdout_monetary_value
        self.holdout_duration = holdout_duration
        #: customers in the log who made no purchase (excluded from the summary, counted here)
        self.n_without_purchase = int(n_without_purchase)
        self.observation_end = observation_end
        self.calibration_end = calibration_end
        for name in (
            "frequency",
            "recency",
            "T",
            "monetary_value",
            "holdout_frequency",
            "holdout_monetary_value",
            "holdout_duration",
        ):
            arr = getattr(self, name)
            if arr is not None:
                arr.setflags(write=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        *,
        frequency: Any,
        recency: Any,
        T: Any,
        monetary_value: Any = None,
        customer_ids: Any = None,
        time_unit: TimeUnitLike = "D",
    ) -> RFM:
        """Validate and wrap summaries you already have.

        Raises :class:`~funnelkit.exceptions.DataError` if lengths differ, values are not finite,
        ``frequency`` is negative or fractional, ``recency`` is negative or exceeds ``T``, or
        ``recency`` is non-zero for a customer with ``frequency == 0``.
        """
        given_ids = None if customer_ids is None else np.asarray(customer_ids)
        freq = _numbers("frequency", frequency, given_ids)
        rec = _numbers("recency", recency, given_ids)
        age = _numbers("T", T, given_ids)
        n = freq.shape[0] if freq.ndim else 0
        ids = np.arange(n) if given_ids is None else given_ids
        money = None if monetary_value is None else _numbers("monetary_value", monetary_value, ids)
        arrays = {"frequency": freq, "recency": rec, "T": age, "customer_ids": ids}
        if money is not None:
            arrays["monetary_value"] = money
        for name, arr in arrays.items():
            if arr.ndim != 1 or arr.shape[0] != n:
                raise DataError(
                    f"RFM arrays must be one-dimensional and of equal length: {name} has shape "
                    f"{arr.shape}, frequency has {n} rows."
                )
        if n == 0:
            raise DataError("The RFM summary is empty: it needs at least one customer.")
        _check(
            ids,
            ~np.isfinite(freq) | ~np.isfinite(rec) | ~np.isfinite(age),
            "have a missing or non-finite frequency, recency or T",
            "drop or impute them",
        )
        if money is not None:
            _check(
                ids,
                ~np.isfinite(money),
                "have a missing or non-finite monetary_value",
                "drop or impute them",
            )
        _check(ids, freq < 0, "have a negative frequency", "frequency counts repeat purchases")
        _check(
            ids,
            freq != np.round(freq),
            "have a non-integer frequency",
            "frequency counts repeat purchase periods",
        )
        _check(ids, rec < 0, "have a negative recency", "recency is last minus first purchase")
        _check(
            ids,
            rec > age,
            "have recency larger than T",
            "T runs from the first purchase to the observation end, so recency <= T",
        )
        _check(
            ids,
            (freq == 0) & (rec != 0),
            "have frequency 0 but non-zero recency",
            "a customer with no repeat purchase has recency 0",
        )
        return cls(
            customer_ids=ids,
            frequency=freq,
            recency=rec,
            T=age,
            monetary_value=money,
            time_unit=time_unit,
        )

    @classmethod
    def from_frame(
        cls,
        frame: Any,
        *,
        customer_col: str | None = None,
        frequency_col: str = "frequency",
        recency_col: str = "recency",
        T_col: str = "T",
        monetary_value_col: str | None = None,
        time_unit: TimeUnitLike = "D",
    ) -> RFM:
        """Read summaries from any dataframe narwhals supports (pandas, polars, pyarrow...).

        ``monetary_value_col`` defaults to ``"monetary_value"`` when that column exists.
        """
        import narwhals as nw

        if type(frame).__module__.startswith("pyspark"):
            raise DataError(
                "These summaries are a Spark DataFrame: score them where they are with "
                "funnelkit.spark.score(model, sdf, ...), or build them from events with "
                "RFM.from_events(sdf, ...)."
            )
        df = eager_frame(frame, what="RFM.from_frame")
        columns = list(df.columns)
        if monetary_value_col is None and "monetary_value" in columns:
            monetary_value_col = "monetary_value"
        check_columns(
            columns,
            {
                "customer_col": customer_col,
                "frequency_col": frequency_col,
                "recency_col": recency_col,
                "T_col": T_col,
                "monetary_value_col": monetary_value_col,
            },
        )
        ids: Any = None
        if customer_col is not None:
            ids = df[customer_col].to_numpy()
        else:
            index = nw.maybe_get_index(df)
            if index is not None:
                ids = np.asarray(index)
        return cls.from_arrays(
            frequency=df[frequency_col].to_numpy(),
            recency=df[recency_col].to_numpy(),
            T=df[T_col].to_numpy(),
            monetary_value=None
            if monetary_value_col is None
            else df[monetary_value_col].to_numpy(),
            customer_ids=ids,
            time_unit=time_unit,
        )

    @classmethod
    def from_events(
        cls,
        source: Any,
        *,
        customer_col: str = "customer_id",
        time_col: str = "timestamp",
        value_col: str | None = None,
        event_col: str | None = DEFAULT_EVENT_COL,
        purchase_events: Sequence[str] | None = None,
        time_unit: TimeUnitLike | None = None,
        observation_end: Any = None,
        calibration_end: Any = None,
        allow_negative_values: bool = False,
    ) -> RFM:
        """RFM straight from events, aggregated where they live when the source is lazy.

        ``source`` may be a DuckDB relation, a Parquet path, directory or glob (read by
        DuckDB), a Polars LazyFrame or a PySpark DataFrame: the per-customer summary is
        computed inside that engine and only it comes back. In-memory frames, CSV files and
        EventLogs go through :class:`funnelkit.EventLog`. Results equal
        ``EventLog.from_frame(...).rfm(...)``; every door shares
        :func:`funnelkit.ingest.summaries.rfm_fields` (``time_unit`` defaults to days, or to
        an EventLog's own unit); :func:`funnelkit.aggregate.rfm_from_events` is this method.
        Columns are found as in :meth:`funnelkit.EventLog.from_frame`: ``event_col``
        defaults to ``"event"`` when that column exists, otherwise (or with ``event_col=None``)
        every row is a purchase; numeric time columns are read in ``time_unit``.
        See :mod:`funnelkit.aggregate` and ``docs/scaling.md``.

        Examples
        --------
        >>> import duckdb
        >>> events = duckdb.sql(
        ...     "SELECT * FROM (VALUES ('a', DATE '2024-01-01', 10.0), "
        ...     "('a', DATE '2024-01-08', 20.0), ('b', DATE '2024-01-03', 5.0)) "
        ...     "AS t(customer_id, timestamp, value)")
        >>> rfm = RFM.from_events(events, value_col="value", time_unit="D")
        >>> rfm.frequency.tolist(), rfm.recency.tolist(), rfm.T.tolist()
        ([1.0, 0.0], [7.0, 0.0], [7.0, 5.0])
        """
        from funnelkit.ingest.summaries import rfm_fields

        fields = rfm_fields(
            source,
            customer_col=customer_col,
            time_col=time_col,
            value_col=value_col,
            event_col=event_col,
            purchase_events=purchase_events,
            time_unit=time_unit,
            observation_end=observation_end,
            calibration_end=calibration_end,
            allow_negative_values=allow_negative_values,
        )
        return cls(**fields)

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.frequency.shape[0])

    @property
    def has_holdout(self) -> bool:
        return self.holdout_frequency is not None

    def columns(self) -> dict[str, np.ndarray]:
        """All per-customer arrays by column name (``customer_id`` first)."""
        out: dict[str, np.ndarray] = {
            "customer_id": self.customer_ids,
            "frequency": self.frequency,
            "recency": self.recency,
            "T": self.T,
        }
        optional = {
            "monetary_value": self.monetary_value,
            "holdout_frequency": self.holdout_frequency,
            "holdout_monetary_value": self.holdout_monetary_value,
            "holdout_duration": self.holdout_duration,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """The summary as a pandas, polars or pyarrow frame (one row per customer)."""
        return frame_from_columns(self.columns(), backend)

    def compress(self) -> CompressedRFM:
        """Collapse identical ``(frequency, recency, T)`` rows into weights (for likelihoods)."""
        key = self._packed_rows()
        if key is not None:
            order = np.argsort(key)
            sorted_key = key[order]
            new = np.empty(len(order), dtype=bool)
            new[:1] = True
            new[1:] = sorted_key[1:] != sorted_key[:-1]
        else:
            order = np.lexsort((self.T, self.recency, self.frequency))
            f, r, t = self.frequency[order], self.recency[order], self.T[order]
            new = np.empty(len(order), dtype=bool)
            new[:1] = True
            new[1:] = (f[1:] != f[:-1]) | (r[1:] != r[:-1]) | (t[1:] != t[:-1])
        group = np.cumsum(new) - 1
        inverse = np.empty(len(order), dtype=np.int64)
        inverse[order] = group
        starts = order[np.flatnonzero(new)]
        weights = np.diff(np.append(np.flatnonzero(new), len(order))).astype(float)
        return CompressedRFM(
            self.frequency[starts], self.recency[starts], self.T[starts], weights, inverse
        )

    def _packed_rows(self) -> np.ndarray | None:
        """One int64 per row when all columns are small whole numbers (one sort, not three)."""
        columns = (self.frequency, self.recency, self.T)
        if len(self) == 0 or any(np.any(c != np.floor(c)) for c in columns):
            return None
        spans = [int(c.max()) + 1 for c in columns]
        if np.log2(float(spans[0])) + np.log2(float(spans[1])) + np.log2(float(spans[2])) > 62:
            return None
        f, r, t = (c.astype(np.int64) for c in columns)
        return (f * spans[1] + r) * spans[2] + t

    def describe(self) -> dict[str, float]:
        """Headline numbers: customers, share of repeat buyers, mean frequency/recency/T."""
        out = {
            "customers": float(len(self)),
            "repeat_buyers_share": float(np.mean(self.frequency > 0)),
            "mean_frequency": float(np.mean(self.frequency)),
            "mean_recency": float(np.mean(self.recency)),
            "mean_T": float(np.mean(self.T)),
        }
        if self.monetary_value is not None and np.any(self.frequency > 0):
            out["mean_monetary_value_repeaters"] = float(
                np.mean(self.monetary_value[self.frequency > 0])
            )
        if self.n_without_purchase:
            out["customers_without_purchase_excluded"] = float(self.n_without_purchase)
        return out

    def __repr__(self) -> str:
        holdout = ", with holdout" if self.has_holdout else ""
        return f"<RFM: {len(self)} customers, time unit {self.time_unit.value}{holdout}>"

    def _repr_html_(self) -> str:
        stats: Mapping[str, Any] = {k: round(v, 4) for k, v in self.describe().items()}
        return html_table(dict(stats), caption=f"RFM summary ({self.time_unit.value})")


def _numbers(name: str, values: Any, ids: np.ndarray | None) -> np.ndarray:
    """``values`` as floats, or a DataError naming the entries that are not numbers."""
    try:
        return np.asarray(values, dtype=float)
    except (ValueError, TypeError):
        raw = np.asarray(values, dtype=object)
    if raw.ndim != 1:
        raise DataError(f"RFM column {name} must be one-dimensional; got shape {raw.shape}.")
    bad = np.zeros(raw.shape[0], dtype=bool)
    out = np.empty(raw.shape[0])
    for i, value in enumerate(raw):
        try:
            out[i] = float(value)
        except (ValueError, TypeError):
            bad[i] = True
    rows = np.flatnonzero(bad)
    who = (
        f"customer ids {format_examples(ids[rows])}"
        if ids is not None and ids.shape == raw.shape
        else f"rows {format_examples(rows)}"
    )
    raise DataError(
        f"{rows.size} customer(s) have a {name} that is not a number (e.g. "
        f"{format_examples(raw[rows], 3)} for {who}); cast the column to a numeric type or "
        "drop those rows."
    )


def _check(ids: np.ndarray, bad: np.ndarray, what: str, fix: str) -> None:
    if np.any(bad):
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{rows.size} customer(s) {what} (e.g. customer ids {format_examples(ids[rows])}); "
            f"{fix}."
        )
