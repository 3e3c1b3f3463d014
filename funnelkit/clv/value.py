"""Customer lifetime value: discounted expected purchases times expected spend.

Everything here is vectorised over customers and works on the *unique* ``(frequency, recency,
T)`` rows of the data (a purchase model's predictions depend on nothing else), so scoring
millions of customers costs a few passes over the arrays plus model evaluations on at most
``chunk_size`` distinct rows at a time: memory stays linear in the number of customers.
The distinct rows are found and valued in :mod:`funnelkit.clv._distinct_rows`, the settings
(rates, horizons, time units, spend, covariates) are checked in
:mod:`funnelkit.clv._value_settings`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from funnelkit._frames import Backend
from funnelkit.clv._distinct_rows import (
    CHUNK as _CHUNK,
    discounted_purchases,
    over_chunks,
    unique_rows,
)
from funnelkit.clv._value_interval import value_interval_table
from funnelkit.clv._value_settings import (
    check_rate,
    model_covariates,
    purchase_rfm,
    spend_per_customer,
    unit_step,
)
from funnelkit.clv.covariates import with_covariates
from funnelkit.exceptions import FunnelkitError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnitLike

__all__ = [
    "customer_lifetime_value",
    "discounted_expected_residual_transactions",
    "score_customers",
]


def customer_lifetime_value(
    purchase_model: Any,
    spend_model: Any,
    data: Any,
    *,
    horizon: float,
    time_unit: TimeUnitLike | None,
    discount_rate: float,
    month: str | None = None,
    chunk_size: int = _CHUNK,
    n_jobs: int | None = None,
    covariates: Any = None,
    spend_covariates: Any = None,
    conf_level: float | None = None,
    n_resamples: int = 200,
    n_draws: int | None = None,
    seed: int | np.random.Generator | None = 0,
    backend: Backend = "pandas",
) -> Any:
    """Discounted expected value of each customer's purchases over a horizon.

    The horizon is cut into periods of one ``time_unit``; period ``k`` contributes the expected
    purchases in it times the expected spend per purchase, discounted by
    ``(1 + discount_rate) ** k`` (cash at the end of each period, as in lifetimes). A
    fractional horizon ends with a shorter period. The purchase model's own time unit
    (``time_unit_``) is respected: a model fitted in weeks is asked for purchases over
    ``365.25 / 12 / 7`` weeks per month; no 30-day month is assumed unless asked for with
    ``month="30D"``.

    Parameters
    ----------
    purchase_model
        A fitted purchase model with ``expected_purchases(t, data)`` and ``time_unit_``
        (:class:`~funnelkit.clv.BetaGeoFitter`, Pareto/NBD, MBG/NBD, BG/BB).
    spend_model
        A fitted :class:`~funnelkit.clv.GammaGammaFitter` (its ``expected_spend(data)`` is
        used), or expected spend per purchase given directly: a number or one per customer
        (a margin, for instance).
    data
        Customers to value: an :class:`~funnelkit.RFM`, a frame or a mapping with
        ``frequency``, ``recency``, ``T`` (and ``monetary_value`` for a spend model).
    horizon
        Length of the horizon in ``time_unit`` (e.g. ``12`` months).
    time_unit
        Unit of the horizon and of the discount rate (``"month"``, ``"W"``...). ``None`` =
        the model's own unit (model periods for a BG/BB fitted without a time unit).
    discount_rate
        Discount rate per ``time_unit`` (``0.01`` = 1% a month with ``time_unit="month"``).
    month
        Length of a month when ``time_unit="month"``, as a number and a unit: ``"30D"``,
        ``"4.345W"``, ``"720h"``. ``None`` = the average calendar month (365.25 / 12 days).
        lifetimes' ``customer_lifetime_value(..., freq=...)`` steps in months of 30 days
        (``freq="D"``), 4.345 weeks (``freq="W"``) or 720 hours (``freq="H"``): pass that
        month to reproduce its numbers.
    chunk_size
        Largest number of distinct customer rows evaluated at once.
    n_jobs
        Threads evaluating the model on pieces of the distinct rows (``None`` = the
        available cores; ``1`` = this thread only). The numbers do not depend on it.
    covariates
        Each customer's covariates (one row per customer of ``data``: a frame with
        ``customer_id`` joined on the data's ids, or a mapping of arrays in their order),
        used by every model fitted with covariates; a model fitted without them ignores
        them. Required when a model was fitted with covariates.
    spend_covariates
        The spend model's covariates when they differ from ``covariates`` (``None`` = use
        ``covariates`` for it too).
    conf_level
        ``None`` (default): return the values as an array. A level in ``(0, 1)``: return a
        table with an interval for each value, from ``n_resamples`` draws of the purchase
        model's parameters and of the spend model's (when it is a fitted model) from their
        fitted distributions (see :meth:`~funnelkit.clv.BetaGeoFitter.parameter_draws`;
        joint over base parameters and coefficients for a model with covariates): the
        ``(1 -/+ conf_level) / 2`` quantiles of the value over the draws, widened to
        contain the estimate. It is an interval for the *expected* value (how well the data
        pin it down), not for the cash a customer will bring, which varies far more.
    n_resamples, seed, backend
        Number of draws (``n_draws`` is an alias), their seed (int, numpy Generator or
        ``None``) and the frame library of the table (``"pandas"``, ``"polars"``,
        ``"pyarrow"``), used with ``conf_level``.

    Returns
    -------
    numpy.ndarray or frame
        One lifetime value per customer, in the currency of the spend; with ``conf_level``
        a frame with ``customer_id`` (when the data carry ids), ``estimate``, ``lower`` and
        ``upper``.

    Examples
    --------
    >>> from funnelkit.clv import BetaGeoFitter, GammaGammaFitter, customer_lifetime_value
    >>> from funnelkit.datasets import load_cdnow
    >>> summary = load_cdnow()  # weeks
    >>> bgf = BetaGeoFitter().fit(summary, time_unit="W")
    >>> ggf = GammaGammaFitter().fit(summary)
    >>> clv = customer_lifetime_value(
    ...     bgf, ggf, summary, horizon=12, time_unit="month", discount_rate=0.01)
    >>> clv.shape, bool(clv.min() > 0)
    ((2357,), True)

    lifetimes' months on a model fitted in weeks (its ``freq="W"``) are 4.345 weeks:

    >>> as_lifetimes = customer_lifetime_value(
    ...     bgf, ggf, summary, horizon=12, time_unit="month", discount_rate=0.01, month="4.345W")
    >>> bool(abs(as_lifetimes.sum() / clv.sum() - 1) < 0.01)
    True

    With ``conf_level``, a table with an interval for each customer's value:

    >>> table = customer_lifetime_value(bgf, ggf, summary, horizon=12, time_unit="month",
    ...     discount_rate=0.01, conf_level=0.9, n_resamples=50)
    >>> list(table.columns)
    ['customer_id', 'estimate', 'lower', 'upper']
    >>> bool(((table.lower <= table.estimate) & (table.estimate <= table.upper)).all())
    True

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using iso-value curves
    for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    settings = {
        "horizon": horizon,
        "time_unit": time_unit,
        "discount_rate": discount_rate,
        "month": month,
        "chunk_size": chunk_size,
        "n_jobs": n_jobs,
    }
    given = model_covariates(purchase_model, spend_model, covariates, spend_covariates)
    if conf_level is None:
        return _lifetime_values(purchase_model, spend_model, data, settings, given)

    def value_at(purchase: Any, spend: Any) -> np.ndarray:
        return _lifetime_values(purchase, spend, data, settings, given)

    return value_interval_table(
        purchase_model,
        spend_model,
        data,
        value_at,
        conf_level=conf_level,
        n_resamples=n_resamples,
        n_draws=n_draws,
        seed=seed,
        backend=backend,
    )


def _lifetime_values(
    purchase_model: Any,
    spend_model: Any,
    data: Any,
    settings: Mapping[str, Any],
    covariates: tuple[Any, Any] = (None, None),
) -> np.ndarray:
    rfm = purchase_rfm(purchase_model, data)
    purchase_covariates, spend_covariates = covariates
    if with_covariates(spend_model):
        spend_model = spend_model.expected_spend(data, covariates=spend_covariates)
    spend = spend_per_customer(spend_model, data, len(rfm))
    if with_covariates(purchase_model):
        # one plain model per covariate pattern, each valuing its own customers
        models, pattern = purchase_model.covariate_patterns(data, covariates=purchase_covariates)
    else:
        models, pattern = [purchase_model], np.zeros(len(rfm), dtype=np.int64)
    per_row = np.empty(len(rfm))
    for g, model in enumerate(models):
        idx = np.flatnonzero(pattern == g) if len(models) > 1 else slice(None)
        per_row[idx] = discounted_purchases(
            model,
            customers_at(rfm, idx),
            settings["horizon"],
            settings["time_unit"],
            settings["discount_rate"],
            settings["chunk_size"],
            month=settings["month"],
            n_jobs=settings["n_jobs"],
        )
    with np.errstate(under="ignore"):  # a vanishing value is 0 (or subnormal), rightly
        return np.asarray(spend * per_row)


def customers_at(rfm: RFM, idx: np.ndarray | slice) -> RFM:
    """The customers ``idx`` of ``rfm`` (the purchase columns only)."""
    if isinstance(idx, slice):
        return rfm
    return RFM(
        customer_ids=rfm.customer_ids[idx],
        frequency=rfm.frequency[idx],
        recency=rfm.recency[idx],
        T=rfm.T[idx],
        time_unit=rfm.time_unit,
    )


def score_customers(
    purchase_model: Any,
    spend_model: Any,
    data: Any,
    *,
    horizon: float,
    time_unit: TimeUnitLike | None,
    discount_rate: float,
    chunk_size: int = _CHUNK,
    backend: Backend | None = None,
    n_jobs: int | None = None,
    covariates: Any = None,
    spend_covariates: Any = None,
) -> Any:
    """Score every customer: expected purchases, probability alive, expected spend and CLV.

    The distinct ``(frequency, recency, T)`` rows are scored once each, so this is the fast
    way to score a large customer base. Arguments are those of
    :func:`customer_lifetime_value` (``n_jobs`` threads share the distinct rows, and
    ``covariates``/``spend_covariates`` go to the models fitted with covariates); the
    scores come from :func:`funnelkit.scoring.score`
    (batches of ``chunk_size`` customers), the one scoring door of the CLV models.

    Returns
    -------
    dict of str to numpy.ndarray, or a frame
        Columns ``customer_id``, ``expected_purchases`` (over the horizon, undiscounted),
        ``probability_alive``, ``expected_spend`` and ``clv``; a pandas, polars or pyarrow
        frame when ``backend`` is given.

    Examples
    --------
    >>> from funnelkit.clv import BetaGeoFitter, GammaGammaFitter, score_customers
    >>> from funnelkit.datasets import load_cdnow
    >>> summary = load_cdnow()
    >>> bgf = BetaGeoFitter().fit(summary, time_unit="W")
    >>> scores = score_customers(bgf, GammaGammaFitter().fit(summary), summary,
    ...                          horizon=1, time_unit="year", discount_rate=0.1)
    >>> sorted(scores)
    ['clv', 'customer_id', 'expected_purchases', 'expected_spend', 'probability_alive']
    """
    from funnelkit.clv.scoring import score

    if int(chunk_size) < 1:
        raise FunnelkitError(f"chunk_size must be >= 1; got {chunk_size!r}.")
    rfm = purchase_rfm(purchase_model, data)
    purchase_covariates, spend_given = model_covariates(
        purchase_model, spend_model, covariates, spend_covariates
    )
    if with_covariates(spend_model):
        spend_model = spend_model.expected_spend(data, covariates=spend_given)
    # the spend is read from the input as given; scoring itself goes through the one door
    spend = spend_per_customer(spend_model, data, len(rfm))
    return score(
        purchase_model,
        rfm,
        covariates=purchase_covariates,
        spend_model=float(spend) if spend.ndim == 0 else spend,
        horizon=horizon,
        time_unit=time_unit,
        discount_rate=discount_rate,
        batch_size=int(chunk_size),
        progress=False,
        backend=backend,
        n_jobs=n_jobs,
    )


def discounted_expected_residual_transactions(
    model: Any,
    data: Any,
    *,
    discount_rate: float,
    time_unit: TimeUnitLike | None,
) -> np.ndarray:
    """DERT: expected purchases over each customer's whole remaining lifetime, discounted.

    Each model that has a closed form provides it as its ``discounted_residual_purchases(delta,
    data)`` method, given the continuous discount rate ``delta = log(1 + discount_rate)`` per
    model time unit; this function converts the rate and calls it. Closed forms exist for:

    * Pareto/NBD (Fader, Hardie & Lee 2005, eq. 2), with continuous discounting at
      ``delta = log(1 + discount_rate)`` per ``time_unit``::

          DERT = P(alive) * (r + x) / (alpha + T) * (beta + T) * E[1 / (z + Y)],
          z = delta (beta + T),  Y ~ Gamma(s, 1),

      where ``E[1/(z+Y)] = z^(s-1) U(s, s; z)`` holds the paper's confluent hypergeometric
      function of the second kind ``U``, evaluated here without overflow or cancellation.
    * BG/BB (Fader, Hardie & Shang 2010, eq. 14), discounting once per transaction
      opportunity::

          DERT = P(alive at n + 1) * (alpha + x) / (alpha + beta + n)
                 * 2F1(1, delta + n + 1; gamma + delta + n + 1; 1 / (1 + d)) / (1 + d),

      with ``d = e^delta - 1`` per opportunity (exact also for its limit models: common
      transaction or dropout probability, no dropout).

    Multiply by expected spend (or margin) for the residual lifetime value.

    Parameters
    ----------
    model
        A fitted Pareto/NBD or BG/BB fitter.
    data
        Customers (RFM, frame or mapping with ``frequency``, ``recency``, ``T``).
    discount_rate
        Discount rate per ``time_unit`` (e.g. ``0.15`` with ``time_unit="year"``).
    time_unit
        Unit of the discount rate; ``None`` = per model time unit (BG/BB: per period).

    Returns
    -------
    numpy.ndarray
        One DERT per customer, in purchases.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using iso-value curves
    for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.

    Fader, P. S., Hardie, B. G. S. & Shang, J. (2010). Customer-base analysis in a
    discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
    """
    residual = getattr(model, "discounted_residual_purchases", None)
    if not callable(residual):
        raise FunnelkitError(
            f"DERT has a closed form for ParetoNBDFitter and BetaGeoBetaBinomFitter only, not "
            f"{type(model).__name__}; use customer_lifetime_value(...) with a long horizon."
        )
    rate = check_rate(discount_rate, positive=True)
    rfm = purchase_rfm(model, data)
    rows, inverse = unique_rows(rfm)
    per_unit = unit_step(model, time_unit)  # model time units per discount time unit
    delta = math.log1p(rate) / per_unit  # continuous rate per model time unit
    # each model discounts in its own way (continuously, or once per opportunity) from delta
    value = over_chunks(rows, _CHUNK, lambda part: residual(delta, part))
    return np.asarray(value)[inverse]
