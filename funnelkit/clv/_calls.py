"""One door for the prediction calls of the purchase models, in every familiar shape.

funnelkit's own shape is keyword-first: ``expected_purchases(horizon=10, data=rfm)`` and
``probability_of_purchases(n=2, horizon=10)``. Positional calls keep their meaning
(``expected_purchases(10, rfm)``, ``probability_of_purchases(2, 10)``), and the shapes users
bring from other libraries are read where they cannot be misread:

* lifetimes: ``t=`` for the horizon, ``expected_purchases(t, frequency, recency, T)``;
* PyMC-Marketing: ``expected_purchases(data)`` / ``expected_purchases(data=df,
  future_t=10)`` with a frame of ``customer_id, frequency, recency, T`` (and optionally a
  ``future_t`` column of per-customer horizons).

Anything else (a value given twice, a frame where a horizon belongs, three positional
arguments) is refused with a :class:`~funnelkit.exceptions.FunnelkitError` that shows the
keyword form.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import numpy as np

from funnelkit.exceptions import FunnelkitError
from funnelkit.rfm import RFM

__all__ = ["PurchasePredictions", "horizon_of", "is_customer_data"]

_PURCHASES_FORM = "expected_purchases(horizon=10.0, data=customers)"
_COUNTS_FORM = "probability_of_purchases(n=2, horizon=10.0)"


def is_customer_data(value: Any) -> bool:
    """Whether ``value`` holds customers (an RFM, a mapping, a frame) rather than numbers."""
    if isinstance(value, RFM | Mapping):
        return True
    # pandas/polars frames have .columns, pyarrow tables .column_names; a Series has neither
    return hasattr(value, "column_names") or (
        hasattr(value, "columns") and not hasattr(value, "dtype")
    )


def horizon_of(
    method: str, form: str, *, horizon: Any = None, t: Any = None, future_t: Any = None
) -> Any:
    """The one horizon among ``horizon=``, lifetimes' ``t=`` and PyMC-Marketing's
    ``future_t=`` (``None`` when none is given); two of them are refused."""
    given = {
        k: v for k, v in (("horizon", horizon), ("t", t), ("future_t", future_t)) if v is not None
    }
    if len(given) > 1:
        raise FunnelkitError(
            f"{method} got the horizon {len(given)} times ({', '.join(f'{k}=' for k in given)}): "
            f"give it once, e.g. {form} (t= and future_t= are aliases of horizon=)."
        )
    return next(iter(given.values()), None)


class PurchasePredictions:
    """The public prediction calls of a purchase model; a model implements the hooks
    ``_expected_purchases(horizon, data)``, ``_probability_of_purchases(n, horizon)`` and
    ``_expected_purchases_new_customer(horizon)``.

    Every call takes ``covariates=`` for a model fitted with covariates: one row per customer
    of ``data`` (as at fit), or one row (a profile) for the new-customer predictions.
    """

    # provided by the fitter (MLEFitter and its covariate-aware subclasses)
    _covariate_route: Callable[[Any], bool]
    _predict_for: Callable[..., np.ndarray]
    _profile: Callable[[Any], Any]

    @abstractmethod
    def _expected_purchases(self, horizon: Any, data: Any) -> np.ndarray:
        """Expected purchases in ``(T, T + horizon]`` of ``data`` (``None`` = training)."""

    @abstractmethod
    def _probability_of_purchases(self, n: Any, horizon: Any) -> np.ndarray:
        """``P(X(horizon) = n)`` for a new customer."""

    @abstractmethod
    def _expected_purchases_new_customer(self, horizon: Any) -> np.ndarray:
        """Expected purchases in ``(0, horizon]`` of a new customer."""

    def expected_purchases_new_customer(
        self,
        *args: Any,
        horizon: Any = None,
        t: Any = None,
        future_t: Any = None,
        covariates: Any = None,
    ) -> np.ndarray:
        """Expected purchases in ``(0, horizon]`` of a customer who just made a first purchase.

        ``expected_purchases_new_customer(10.0)``, ``(horizon=10.0)`` and lifetimes'/
        PyMC-Marketing's ``(t=10.0)`` are the same call; each model documents its formula on
        ``_expected_purchases_new_customer``.

        Parameters
        ----------
        horizon
            Time since the first purchase in the fitted unit (opportunities for BG/BB), a
            number or an array; ``t`` and ``future_t`` are aliases.
        covariates
            The new customer's covariate profile (one row), for a model fitted with
            covariates.
        """
        form = "expected_purchases_new_customer(horizon=10.0)"
        given = horizon_of(
            "expected_purchases_new_customer", form, horizon=horizon, t=t, future_t=future_t
        )
        if len(args) > 1 or (args and given is not None) or (not args and given is None):
            what = "no horizon" if not args and given is None else "more than one horizon"
            raise FunnelkitError(
                f"expected_purchases_new_customer got {what}: call it as {form} (t= and "
                "future_t= are aliases of horizon=)."
            )
        value = args[0] if args else given
        if is_customer_data(value):
            raise FunnelkitError(
                "expected_purchases_new_customer takes a horizon, not customers: it is the "
                f"expectation for a new customer. Call it as {form}; for known customers use "
                "expected_purchases(horizon=..., data=customers)."
            )
        if self._covariate_route(covariates):
            return np.asarray(self._profile(covariates)._expected_purchases_new_customer(value))
        return self._expected_purchases_new_customer(value)

    def expected_purchases(
        self,
        *args: Any,
        horizon: Any = None,
        data: Any = None,
        t: Any = None,
        future_t: Any = None,
        frequency: Any = None,
        recency: Any = None,
        T: Any = None,
        covariates: Any = None,
    ) -> np.ndarray:
        """Expected purchases in ``(T, T + horizon]`` given each customer's history.

        Each model documents its closed form on its ``_expected_purchases`` hook. These
        calls are all the same::

            model.expected_purchases(horizon=10.0, data=rfm)   # keywords (preferred)
            model.expected_purchases(10.0, rfm)                # positional: horizon, data
            model.expected_purchases(10.0)                     # the training customers
            model.expected_purchases(t=10.0, data=rfm)         # lifetimes' name
            model.expected_purchases(10.0, frequency, recency, T)  # lifetimes' shape
            model.expected_purchases(df, future_t=10.0)        # PyMC-Marketing's shape
            model.expected_purchases(df)                       # df has a future_t column

        Parameters
        ----------
        horizon
            Time ahead in the fitted unit (opportunities for BG/BB): a number, one per
            customer, or a column ``(k, 1)`` for a horizons-by-customers grid. ``t`` and
            ``future_t`` are aliases.
        data
            Customers: an :class:`~funnelkit.RFM`, a frame or a mapping with ``frequency``,
            ``recency`` and ``T``; ``None`` = the training customers. Or give the three
            arrays as ``frequency=``, ``recency=``, ``T=``.
        covariates
            For a model fitted with covariates: one row per customer of ``data`` (a frame
            with ``customer_id`` or a mapping of arrays in ``data``'s order); ``None`` with
            ``data=None`` = the training customers' own covariates.

        Returns
        -------
        numpy.ndarray
            One expectation per customer (per horizon and customer for a column).
        """
        given = horizon_of(
            "expected_purchases", _PURCHASES_FORM, horizon=horizon, t=t, future_t=future_t
        )
        columns = {"frequency": frequency, "recency": recency, "T": T}
        named = {k: v for k, v in columns.items() if v is not None}
        if len(args) == 4:  # lifetimes: (t, frequency, recency, T)
            if given is not None or data is not None or named:
                _refuse_purchases("four positional arguments and keywords for the same values")
            given, named = args[0], dict(zip(("frequency", "recency", "T"), args[1:], strict=True))
            args = ()
        if len(args) > 2:
            _refuse_purchases(f"{len(args)} positional arguments")
        if named:
            if len(named) < 3:
                missing = [k for k in columns if k not in named]
                _refuse_purchases(f"frequency, recency and T together, but {missing} is missing")
            if data is not None:
                _refuse_purchases("both data= and frequency=/recency=/T=")
            data = named
        if args:
            first = args[0]
            if is_customer_data(first):
                if len(args) == 2 or data is not None:
                    _refuse_purchases(
                        "customers as the first positional argument and more customers or a "
                        "positional horizon after them"
                    )
                data = first
            else:
                if given is not None:
                    _refuse_purchases("a positional horizon and a horizon keyword")
                given = first
                if len(args) == 2:
                    if data is not None:
                        _refuse_purchases("customers both positionally and as data=")
                    data = args[1]
        if given is None:
            given = _future_t_column(data)
        if is_customer_data(given):
            _refuse_purchases("customers where the horizon belongs")
        if self._covariate_route(covariates):
            return self._predict_for("_expected_purchases", data, covariates, t=given)
        return self._expected_purchases(given, data)

    def probability_of_purchases(
        self,
        *args: Any,
        n: Any = None,
        horizon: Any = None,
        t: Any = None,
        future_t: Any = None,
        covariates: Any = None,
    ) -> np.ndarray:
        """P(X(horizon) = n): probability that a new customer makes ``n`` purchases by then.

        Positional arguments are ``(n, horizon)``, funnelkit's order; lifetimes'
        ``probability_of_n_purchases_up_to_time(t, n)`` takes them the other way round, so
        with keywords the order question disappears::

            model.probability_of_purchases(n=2, horizon=10.0)
            model.probability_of_purchases(n=2, t=10.0)        # lifetimes' name
            model.probability_of_purchases(2, 10.0)            # positional: n, horizon

        Each model documents its formula on ``_probability_of_purchases``.

        Parameters
        ----------
        n
            Purchase counts (whole numbers >= 0); broadcasts against ``horizon``.
        horizon
            Time from the first purchase in the fitted unit (opportunities for BG/BB).
            ``t`` and ``future_t`` are aliases.
        covariates
            The new customer's covariate profile (one row), for a model fitted with
            covariates.
        """
        given = horizon_of(
            "probability_of_purchases", _COUNTS_FORM, horizon=horizon, t=t, future_t=future_t
        )
        if len(args) > 2:
            _refuse_counts(f"{len(args)} positional arguments")
        if len(args) >= 1:
            if n is not None:
                _refuse_counts("a positional argument and n= (positional arguments are n first)")
            n = args[0]
        if len(args) == 2:
            if given is not None:
                _refuse_counts("a second positional argument and a horizon keyword")
            given = args[1]
        if n is None or given is None:
            missing = "n" if n is None else "the horizon"
            _refuse_counts(f"no {missing}")
        for value in (n, given):
            if is_customer_data(value):
                _refuse_counts(
                    "customer data: this is the probability for a new customer, which takes "
                    "counts and horizons only"
                )
        if self._covariate_route(covariates):
            return np.asarray(self._profile(covariates)._probability_of_purchases(n, given))
        return self._probability_of_purchases(n, given)


def _future_t_column(data: Any) -> Any:
    """PyMC-Marketing's per-customer ``future_t`` column of ``data``, if it has one."""
    if data is None or isinstance(data, RFM):
        _refuse_purchases("no horizon")
    if isinstance(data, Mapping):
        if "future_t" in data:
            return np.asarray(data["future_t"])
        _refuse_purchases("no horizon")
    from funnelkit.ingest.columns import eager_frame

    frame = eager_frame(data, what="the data")
    if "future_t" in frame.columns:
        return frame["future_t"].to_numpy()
    _refuse_purchases("no horizon (and the data have no future_t column)")


def _refuse_purchases(what: str) -> NoReturn:
    raise FunnelkitError(
        f"expected_purchases got {what}. Call it with keywords: {_PURCHASES_FORM}, where "
        "customers are an RFM or a frame/mapping with frequency, recency and T (None = the "
        "training customers); t= (lifetimes) and future_t= (PyMC-Marketing) are aliases of "
        "horizon=."
    )


def _refuse_counts(what: str) -> NoReturn:
    raise FunnelkitError(
        f"probability_of_purchases got {what}. Call it with keywords: {_COUNTS_FORM} "
        "(positional arguments are (n, horizon); lifetimes' probability_of_n_purchases_up_to_"
        "time takes (t, n)); t= and future_t= are aliases of horizon=."
    )
