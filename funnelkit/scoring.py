"""Scoring customer summaries in batches, with a progress line on long runs.

:func:`score` splits a large in-memory customer base into batches of ``batch_size`` customers,
so memory stays bounded by the batch, not by the intermediate arrays of the models; every
batch goes through :func:`funnelkit.clv.score_customers` (which scores each distinct
``(frequency, recency, T)`` row once). :func:`score_batch` is the per-batch work, shared with
the Spark scorer (:func:`funnelkit.spark.score`) so both give identical numbers.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["score", "score_batch", "score_columns"]

_REQUIRED = ("frequency", "recency", "T")


def score_columns(with_spend: bool) -> tuple[str, ...]:
    """Names of the score columns, in output order."""
    base = ("expected_purchases", "probability_alive")
    return (*base, "expected_spend", "clv") if with_spend else base


def score(
    purchase_model: Any,
    data: Any,
    *,
    spend_model: Any = None,
    horizon: float,
    time_unit: TimeUnitLike | None = None,
    discount_rate: float | None = None,
    batch_size: int = 1_000_000,
    progress: bool | None = None,
    backend: Backend | None = None,
) -> Any:
    """Score every customer, ``batch_size`` customers at a time.

    Parameters
    ----------
    purchase_model
        A fitted purchase model (``expected_purchases(t, data)``, ``probability_alive(data)``),
        e.g. :class:`funnelkit.clv.BetaGeoFitter`.
    data
        Customer summaries: an :class:`~funnelkit.RFM`, a mapping of arrays or a frame (a
        DuckDB relation or Polars LazyFrame is collected) with ``frequency``, ``recency``,
        ``T`` (``monetary_value`` for a spend model; optional ``customer_id``). Mappings and
        frames are in the model's time unit. Spark summaries: :func:`funnelkit.spark.score`.
    spend_model
        Optional fitted :class:`funnelkit.clv.GammaGammaFitter` (or a spend per purchase);
        with it, ``expected_spend`` and ``clv`` are added.
    horizon, time_unit
        Horizon of ``expected_purchases`` and ``clv``, in ``time_unit`` (default: the model's).
    discount_rate
        Discount rate per ``time_unit`` for ``clv``; required with a spend model.
    batch_size
        Customers per batch: peak memory grows with it, not with the number of customers.
    progress
        Print a progress line on stderr: ``True``, ``False``, or ``None`` (default) for when
        there is more than one batch and stderr is a terminal.
    backend
        Return a pandas, polars or pyarrow frame instead of a dict of arrays.

    Returns
    -------
    dict of str to numpy.ndarray, or a frame
        ``customer_id``, ``expected_purchases``, ``probability_alive`` and, with a spend
        model, ``expected_spend`` and ``clv``: one row per customer, in input order.

    Examples
    --------
    >>> from funnelkit.clv import BetaGeoFitter
    >>> from funnelkit.datasets import load_cdnow
    >>> summary = load_cdnow()
    >>> bgf = BetaGeoFitter().fit(summary, time_unit="W")
    >>> scores = score(bgf, summary, horizon=52, batch_size=1000, progress=False)
    >>> sorted(scores), scores["expected_purchases"].shape
    (['customer_id', 'expected_purchases', 'probability_alive'], (2357,))
    """
    size = int(batch_size)
    if size < 1:
        raise FunnelkitError(f"batch_size must be >= 1; got {batch_size!r}.")
    columns, ids, unit = _as_columns(data, purchase_model)
    n = ids.shape[0]
    names = score_columns(spend_model is not None)
    out: dict[str, np.ndarray] = {"customer_id": ids, **{k: np.empty(n) for k in names}}
    bar = _Progress(n, enabled=progress if progress is not None else _auto(n, size))
    for start in range(0, n, size):
        stop = min(start + size, n)
        part = {k: v[start:stop] for k, v in columns.items()}
        scored = score_batch(
            purchase_model,
            part,
            spend_model=spend_model,
            horizon=horizon,
            time_unit=time_unit,
            discount_rate=discount_rate,
            data_time_unit=unit,
            customer_ids=ids[start:stop],
        )
        for k in names:
            out[k][start:stop] = scored[k]
        bar.update(stop)
    bar.close()
    return out if backend is None else frame_from_columns(out, backend)


def score_batch(
    purchase_model: Any,
    columns: Mapping[str, np.ndarray],
    *,
    spend_model: Any = None,
    horizon: float,
    time_unit: TimeUnitLike | None = None,
    discount_rate: float | None = None,
    data_time_unit: TimeUnitLike | None = None,
    customer_ids: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Scores of one batch of customers given as arrays (validated like RFM.from_arrays)."""
    unit = data_time_unit or getattr(purchase_model, "time_unit_", None) or "D"
    rfm = RFM.from_arrays(
        frequency=columns["frequency"],
        recency=columns["recency"],
        T=columns["T"],
        monetary_value=columns.get("monetary_value") if spend_model is not None else None,
        customer_ids=customer_ids,
        time_unit=unit,
    )
    if spend_model is None:
        step = _step(purchase_model, time_unit)
        return {
            "expected_purchases": np.asarray(
                purchase_model.expected_purchases(horizon * step, rfm)
            ),
            "probability_alive": np.asarray(purchase_model.probability_alive(rfm)),
        }
    if discount_rate is None:
        raise FunnelkitError(
            "A lifetime value needs discount_rate=... (per time_unit, e.g. 0.01 a month)."
        )
    from funnelkit.clv import score_customers

    scored = score_customers(
        purchase_model,
        spend_model,
        rfm,
        horizon=horizon,
        time_unit=time_unit,
        discount_rate=discount_rate,
    )
    return {k: np.asarray(scored[k], dtype=float) for k in score_columns(True)}


def _as_columns(data: Any, model: Any) -> tuple[dict[str, np.ndarray], np.ndarray, Any]:
    """Customer arrays, ids and their time unit (None: the model's) from any input."""
    if isinstance(data, RFM):
        cols = {k: v for k, v in data.columns().items() if k in (*_REQUIRED, "monetary_value")}
        return cols, data.customer_ids, data.time_unit
    if isinstance(data, Mapping):
        raw = {k: np.asarray(v) for k, v in data.items()}
    else:
        import narwhals as nw

        if type(data).__module__.startswith("pyspark"):
            raise FunnelkitError(
                "These summaries are a Spark DataFrame: score them in Spark with "
                "funnelkit.spark.score(model, sdf, ...) instead of collecting them."
            )
        frame = nw.from_native(data)
        if isinstance(frame, nw.LazyFrame):  # DuckDB or Polars summaries: one row a customer
            frame = frame.collect()
        raw = {k: frame[k].to_numpy() for k in frame.columns}
    missing = [c for c in _REQUIRED if c not in raw]
    if missing:
        raise DataError(
            f"The customer summaries lack {missing}: they need 'frequency', 'recency' and 'T' "
            f"(and 'monetary_value' for a spend model). Columns: {sorted(raw)}."
        )
    n = raw["frequency"].shape[0]
    ids = raw.get("customer_id", np.arange(n))
    cols = {k: v for k, v in raw.items() if k in (*_REQUIRED, "monetary_value")}
    return cols, np.asarray(ids), None


def _step(model: Any, time_unit: TimeUnitLike | None) -> float:
    """Length of one ``time_unit`` in the model's time unit (as funnelkit.clv does)."""
    if time_unit is None:
        return 1.0
    model_unit = getattr(model, "time_unit_", None)
    if model_unit is None:
        raise FunnelkitError(
            f"{type(model).__name__} has no time unit, so time_unit must be None: give the "
            "horizon in model periods."
        )
    return TimeUnit.parse(time_unit).days / TimeUnit.parse(model_unit).days


def _auto(n: int, batch_size: int) -> bool:
    return n > batch_size and sys.stderr.isatty()


class _Progress:
    """A one-line progress report on stderr (rewritten in place with a carriage return)."""

    def __init__(self, total: int, *, enabled: bool, stream: TextIO | None = None) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / done * (self.total - done) if done else 0.0
        share = 100.0 * done / max(self.total, 1)
        self.stream.write(
            f"\rscoring: {done:,}/{self.total:,} customers ({share:.0f}%), "
            f"{elapsed:.1f} s elapsed, ~{left:.0f} s left"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
