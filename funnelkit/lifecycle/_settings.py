"""Validation of the LifecycleModel settings (scikit-learn style: at fit time)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle._components import PURCHASE_MODEL_NAMES
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnit

__all__ = ["CONVERSION_MODELS", "check_seed", "validate_settings"]

CONVERSION_MODELS = ("auto", "exponential", "weibull", "lognormal", "kaplan-meier")


def validate_settings(self: Any, funnel: Funnel | None) -> TimeUnit:
    name = type(self).__name__
    _check_number(name, "horizon", self.horizon, "> 0", lambda v: v > 0)
    _check_number(name, "discount_rate", self.discount_rate, ">= 0", lambda v: v >= 0)
    _check_number(name, "conf_level", self.conf_level, "in (0, 1)", lambda v: 0 < v < 1)
    _check_int(name, "n_resamples", self.n_resamples, 0)
    _check_int(name, "n_grid", self.n_grid, 10)
    check_seed(self.seed, name)
    for setting in ("time_unit", "period"):
        try:
            TimeUnit.parse(getattr(self, setting))
        except FunnelkitError:
            raise FunnelkitError(
                f"The {setting!r} parameter of {name} must be a time unit such as 'month', "
                f"'week' or 'D'. Got {getattr(self, setting)!r} instead."
            ) from None
    unit = TimeUnit.parse(self.period)
    pm = self.purchase_model
    if isinstance(pm, str) and pm not in PURCHASE_MODEL_NAMES:
        raise FunnelkitError(
            f"The 'purchase_model' parameter of {name} must be one of "
            f"{list(PURCHASE_MODEL_NAMES)} or an unfitted purchase fitter. Got {pm!r} instead."
        )
    if not isinstance(pm, str) and not all(
        hasattr(pm, a) for a in ("get_params", "expected_purchases_new_customer")
    ):
        raise FunnelkitError(
            f"The 'purchase_model' parameter of {name} must be one of "
            f"{list(PURCHASE_MODEL_NAMES)} or an unfitted purchase fitter. Got {pm!r} instead."
        )
    if self.conversion_model not in CONVERSION_MODELS:
        raise FunnelkitError(
            f"The 'conversion_model' parameter of {name} must be one of "
            f"{list(CONVERSION_MODELS)}. Got {self.conversion_model!r} instead."
        )
    events = self.purchase_events
    if isinstance(events, str) or not events or not all(isinstance(e, str) for e in events):
        raise FunnelkitError(
            f"The 'purchase_events' parameter of {name} must be a non-empty sequence of "
            f"event names. Got {events!r} instead."
        )
    if self.membership_stage is not None and not isinstance(self.membership_stage, str):
        raise FunnelkitError(
            f"The 'membership_stage' parameter of {name} must be a stage name or None. "
            f"Got {self.membership_stage!r} instead."
        )
    if funnel is not None and not isinstance(funnel, Funnel):
        raise FunnelkitError(
            f"funnel must be a Funnel or None, got {type(funnel).__name__}; e.g. "
            "Funnel.community()."
        )
    if not (self.progress is None or isinstance(self.progress, bool) or callable(self.progress)):
        raise FunnelkitError(
            f"The 'progress' parameter of {name} must be callable (progress(step, done, "
            f"total)), True, False or None (automatic). Got {self.progress!r} instead."
        )
    return unit


def check_seed(seed: Any, owner: str, setting: str = "seed") -> None:
    """Refuse a seed numpy would refuse later with a message naming neither side."""
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise FunnelkitError(
            f"The {setting!r} parameter of {owner} must be an int >= 0 or None. "
            f"Got {seed!r} instead."
        )


def positive_number(value: Any, *, owner: str, name: str, hint: str) -> float:
    """``value`` as a float > 0 (numbers and numeric text), else a FunnelkitError naming it."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not (math.isfinite(out) and out > 0):
        raise FunnelkitError(
            f"The {name!r} parameter of {owner} must be a number > 0 ({hint}). "
            f"Got {value!r} instead."
        )
    return out


def _check_number(
    owner: str, name: str, value: Any, rule: str, ok: Callable[[float], bool]
) -> None:
    valid = (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and ok(float(value))
    )
    if not valid:
        raise FunnelkitError(
            f"The {name!r} parameter of {owner} must be {rule}. Got {value!r} instead."
        )


def _check_int(owner: str, name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise FunnelkitError(
            f"The {name!r} parameter of {owner} must be an int >= {minimum}. Got {value!r} instead."
        )
