"""Scoring customers with CLV models: the one scoring door.

:func:`score` takes customer summaries in any form (an RFM, a mapping of arrays, a pandas,
polars or pyarrow frame, a DuckDB relation or a Polars LazyFrame) and splits them into
batches of ``batch_size`` customers, so memory stays bounded by the batch, not by the
intermediate arrays of the models, with a progress line on long runs. :func:`score_batch` is
the per-batch work (each distinct ``(frequency, recency, T)`` row scored once); the Spark
scorer (:func:`funnelkit.clv.spark.score`) runs it on every partition, and
:func:`funnelkit.clv.score_customers` goes through :func:`score`, so every door gives the
same numbers. ``funnelkit.scoring`` is the public path of this module.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit.clv._data import mostly_distinct, unique_combinations
from funnelkit.clv._distinct_rows import discounted_rows
from funnelkit.clv._value_settings import model_covariates, spend_per_customer, unit_step
from funnelkit.clv.covariates import with_covariates
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnitLike

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
    n_jobs: int | None = None,
    covariates: Any = None,
    spend_covariates: Any = None,
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
        Optional fitted :class:`funnelkit.clv.GammaGammaFitter`, or the spend per purchase
        (a number, or one per customer); with it, ``expected_spend`` and ``clv`` are added.
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
    n_jobs
        Threads scoring pieces of a batch (``None`` = the available cores, ``1`` = this
        thread only); the scores do not depend on it.
    covariates, spend_covariates
        For models fitted with covariates: one row per customer of ``data`` (a frame with
        ``customer_id`` joined on the data's ids, or a mapping of arrays in their order),
        as in :func:`~funnelkit.clv.customer_lifetime_value`; ``spend_covariates`` only
        when the spend model's differ. Customers sharing their row and their covariate
        pattern are scored once.

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
    per_customer = not _is_model(spend_model) and np.ndim(spend_model) == 1
    if per_customer and np.shape(spend_model)[0] != n:
        raise FunnelkitError(
            f"spend_model must be a fitted spend model, a number or one value per customer "
            f"({n}); got shape {np.shape(spend_model)}."
        )
    names = score_columns(spend_model is not None)
    models, pattern, spend_model = _covariate_patterns(
        purchase_model, spend_model, columns, ids, unit, covariates, spend_covariates
    )
    per_customer = per_customer or np.ndim(spend_model) == 1
    out: dict[str, np.ndarray] = {"customer_id": ids, **{k: np.empty(n) for k in names}}
    bar = _Progress(n, enabled=progress if progress is not None else _auto(n, size))
    for start in range(0, n, size):
        stop = min(start + size, n)
        # each covariate pattern of the batch is scored by the model at its parameters
        for g in np.unique(pattern[start:stop]):
            rows = start + np.flatnonzero(pattern[start:stop] == g) if len(models) > 1 else None
            take = slice(start, stop) if rows is None else rows
            part = {k: v[take] for k, v in columns.items()}
            spend = np.asarray(spend_model)[take] if per_customer else spend_model
            scored = score_batch(
                models[int(g)],
                part,
                spend_model=spend,
                horizon=horizon,
                time_unit=time_unit,
                discount_rate=discount_rate,
                data_time_unit=unit,
                customer_ids=ids[take],
                n_jobs=n_jobs,
            )
            for k in names:
                out[k][take] = scored[k]
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
    n_jobs: int | None = 1,
) -> dict[str, np.ndarray]:
    """Scores of one batch of customers given as arrays (validated like RFM.from_arrays).

    Each distinct ``(frequency, recency, T)`` row is scored once; with a spend model its
    discounted purchases and its expected purchases over the horizon come from one pass
    (:func:`funnelkit.clv._discounting.discounted_and_total`). ``spend_model`` is a fitted
    spend model, a spend per purchase, or one spend per customer of the batch; ``n_jobs``
    threads share the distinct rows (``None`` = the available cores; the default 1 suits
    callers that already run one batch per core, like Spark partitions).
    """
    unit = data_time_unit or getattr(purchase_model, "time_unit_", None) or "D"
    with_spend = spend_model is not None
    rfm = RFM.from_arrays(
        frequency=columns["frequency"],
        recency=columns["recency"],
        T=columns["T"],
        monetary_value=columns.get("monetary_value") if _is_model(spend_model) else None,
        customer_ids=customer_ids,
        time_unit=unit,
    )
    if with_spend and discount_rate is None:
        raise FunnelkitError(
            "A lifetime value needs discount_rate=... (per time_unit, e.g. 0.01 a month)."
        )
    (frequency, recency, T), inverse = _distinct_rows(rfm)
    rows = {"frequency": frequency, "recency": recency, "T": T}
    distinct = RFM(
        customer_ids=np.arange(T.size),
        frequency=frequency,
        recency=recency,
        T=T,
        time_unit=rfm.time_unit,
    )
    if not with_spend:
        step = unit_step(purchase_model, time_unit)
        return {
            "expected_purchases": np.asarray(
                purchase_model.expected_purchases(horizon * step, distinct), dtype=float
            )[inverse],
            "probability_alive": np.asarray(
                purchase_model.probability_alive(distinct), dtype=float
            )[inverse],
        }
    # a spend of 1 per purchase: the discounted expected purchases of each distinct row, and
    # the last period's cumulative purchases are the expected purchases over the horizon
    discounted, total, alive = discounted_rows(
        purchase_model,
        {**rows, "unit": np.asarray(rfm.time_unit.value)},
        horizon,
        time_unit,
        float(discount_rate),  # type: ignore[arg-type]
        n_jobs=n_jobs,
    )
    spend = spend_per_customer(spend_model, rfm, len(rfm))
    if alive is None:  # the model's purchases do not factor through P(alive)
        alive = np.asarray(purchase_model.probability_alive(distinct), dtype=float)
    with np.errstate(under="ignore"):  # a vanishing value is 0 (or subnormal), rightly
        clv = spend * discounted[inverse]
    return {
        "expected_purchases": total[inverse],
        "probability_alive": alive[inverse],
        "expected_spend": spend,
        "clv": clv,
    }


def _covariate_patterns(
    purchase_model: Any,
    spend_model: Any,
    columns: Mapping[str, np.ndarray],
    ids: np.ndarray,
    unit: Any,
    covariates: Any,
    spend_covariates: Any,
) -> tuple[list[Any], np.ndarray, Any]:
    """The purchase model at each covariate pattern, each customer's pattern, and the spend
    (a spend model with covariates is evaluated here, once per customer)."""
    n = ids.shape[0]
    purchase_covariates, spend_given = model_covariates(
        purchase_model, spend_model, covariates, spend_covariates
    )
    with_spend, with_purchase = with_covariates(spend_model), with_covariates(purchase_model)
    if not (with_spend or with_purchase):
        return [purchase_model], np.zeros(n, dtype=np.int64), spend_model
    rfm = RFM.from_arrays(
        frequency=columns["frequency"],
        recency=columns["recency"],
        T=columns["T"],
        monetary_value=columns.get("monetary_value") if with_spend else None,
        customer_ids=ids,
        time_unit=unit or getattr(purchase_model, "time_unit_", None) or "D",
    )
    if with_spend:
        spend_model = spend_per_customer(
            spend_model.expected_spend(rfm, covariates=spend_given), rfm, n
        )
    if not with_purchase:
        return [purchase_model], np.zeros(n, dtype=np.int64), spend_model
    models, pattern = purchase_model.covariate_patterns(rfm, covariates=purchase_covariates)
    return models, pattern, spend_model


def _distinct_rows(rfm: RFM) -> tuple[tuple[np.ndarray, ...], np.ndarray | slice]:
    """Distinct ``(frequency, recency, T)`` rows and the map back to customers; where rows
    are :func:`~funnelkit.clv._data.mostly_distinct` (continuous clocks), the rows as they
    are (the map is then the identity, and nothing is copied)."""
    cols = (rfm.frequency, rfm.recency, rfm.T)
    if mostly_distinct(*cols):
        return cols, slice(None)
    return unique_combinations(*cols)


def _is_model(spend_model: Any) -> bool:
    return hasattr(spend_model, "expected_spend")


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
