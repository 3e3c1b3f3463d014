"""Checked inputs of the value functions: rates, horizons, time units, spend and covariates.

Lifetime values are asked for in the caller's units (a horizon of 12 months, 1% a month)
from models fitted in their own unit (weeks, days, or bare BG/BB periods). These helpers turn
such settings into model units, refusing what cannot be converted with the fix, and read the
expected spend and the covariates that go with each model.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from funnelkit.clv._data import as_rfm
from funnelkit.clv.covariates import with_covariates
from funnelkit.exceptions import FunnelkitError
from funnelkit.rfm import RFM
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = [
    "MAX_PERIODS",
    "check_horizon",
    "check_rate",
    "model_covariates",
    "purchase_rfm",
    "spend_per_customer",
    "unit_step",
]

#: most discounting periods in one lifetime value (27 years in days, 192 years in weeks)
MAX_PERIODS = 10_000


def purchase_rfm(model: Any, data: Any) -> RFM:
    """The customers ``data`` as an RFM in the fitted ``model``'s time unit."""
    if hasattr(model, "_check_fitted"):
        model._check_fitted()
    return as_rfm(data, None, getattr(model, "time_unit_", None))


def spend_per_customer(spend_model: Any, data: Any, n: int) -> np.ndarray:
    """Expected spend per purchase for each of ``n`` customers: a fitted spend model's
    ``expected_spend(data)``, or a number, or one value per customer."""
    if hasattr(spend_model, "expected_spend"):
        spend = np.asarray(spend_model.expected_spend(data), dtype=float)
    else:
        spend = np.asarray(spend_model, dtype=float)
    if spend.ndim > 1 or (spend.ndim == 1 and spend.shape[0] != n):
        raise FunnelkitError(
            f"spend_model must be a fitted spend model, a number or one value per customer "
            f"({n}); got shape {spend.shape}."
        )
    if not np.all(np.isfinite(spend)):
        raise FunnelkitError("The expected spend per purchase must be finite.")
    return np.broadcast_to(spend, (n,)).astype(float)


def model_covariates(
    purchase_model: Any, spend_model: Any, covariates: Any, spend_covariates: Any
) -> tuple[Any, Any]:
    """The covariates of the purchase and the spend model, refusing covariates no model
    uses (a model fitted with covariates refuses their absence itself)."""
    purchase, spend = with_covariates(purchase_model), with_covariates(spend_model)
    if covariates is not None and not (purchase or spend):
        raise FunnelkitError(
            "covariates=... were given but neither model was fitted with covariates: drop "
            "them, or fit the models with fit(data, covariates=...)."
        )
    if spend_covariates is not None and not spend:
        raise FunnelkitError(
            "spend_covariates=... were given but the spend model was not fitted with "
            "covariates: drop them, or fit it with fit(data, covariates=...)."
        )
    return (
        covariates if purchase else None,
        (spend_covariates if spend_covariates is not None else covariates) if spend else None,
    )


def check_rate(rate: float, *, positive: bool = False) -> float:
    """A discount rate as a finite float ``>= 0`` (``> 0`` when ``positive``)."""
    value = float(rate)
    ok = math.isfinite(value) and (value > 0 if positive else value >= 0)
    if not ok:
        rule = "> 0" if positive else ">= 0"
        raise FunnelkitError(f"discount_rate must be finite and {rule}; got {rate!r}.")
    return value


def check_horizon(horizon: float, time_unit: TimeUnitLike | None) -> float:
    """A horizon of at most :data:`MAX_PERIODS` periods of ``time_unit``, as a float ``> 0``."""
    h = float(horizon)
    if not math.isfinite(h) or h <= 0:
        raise FunnelkitError(f"horizon must be finite and > 0; got {horizon!r}.")
    if h > MAX_PERIODS:
        unit = "model period" if time_unit is None else TimeUnit.parse(time_unit).value
        raise FunnelkitError(
            f"horizon={horizon!r} asks for {math.ceil(h):,} discounting periods of one {unit}; "
            f"at most {MAX_PERIODS:,} are supported (each period is one prediction over all "
            "customers). Give the horizon in a coarser time_unit, e.g. years instead of days."
        )
    return h


def unit_step(model: Any, time_unit: TimeUnitLike | None, month: str | None = None) -> float:
    """Length of one ``time_unit`` (a ``month`` of the given length) in the model's unit."""
    model_unit = getattr(model, "time_unit_", None)
    if month is not None:
        number, unit = _month_length(month)
        if time_unit is None or TimeUnit.parse(time_unit) is not TimeUnit.MONTH:
            raise FunnelkitError(
                f"month={month!r} sets the length of a month, so it needs time_unit='month' "
                f"(got time_unit={time_unit!r}); e.g. horizon=12, time_unit='month', "
                "month='30D' for lifetimes' 30-day months."
            )
        if model_unit is None:
            raise FunnelkitError(
                f"{type(model).__name__} has no time unit (it counts periods), so a month of "
                f"{month!r} cannot be converted: give the horizon in model periods."
            )
        target = TimeUnit.parse(model_unit)
        # in the model's own unit the number is used as written, as lifetimes does
        return number if unit is target else number * unit.days / target.days
    if time_unit is None:
        return 1.0
    if model_unit is None:
        raise FunnelkitError(
            f"{type(model).__name__} has no time unit (it counts periods), so time_unit must "
            "be None: give the horizon and the discount rate per model period."
        )
    return TimeUnit.parse(time_unit).days / TimeUnit.parse(model_unit).days


def _month_length(month: str) -> tuple[float, TimeUnit]:
    """``"30D"`` -> ``(30.0, DAY)``; a FunnelkitError naming the accepted forms otherwise."""
    found = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]+)\s*", str(month))
    number = float(found.group(1)) if found else math.nan
    if found is None or not math.isfinite(number) or number <= 0:
        raise FunnelkitError(
            f"month must be a positive number and a time unit, like '30D', '4.345W' or '720h'; "
            f"got {month!r}."
        )
    unit = TimeUnit.parse(found.group(2))
    if unit is TimeUnit.MONTH:
        raise FunnelkitError(
            f"month={month!r} defines a month by months: give its length in hours, days, weeks "
            "or years, e.g. '30D'."
        )
    return number, unit
