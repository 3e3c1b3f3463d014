"""Floating-point policy of the public entry points: underflow means zero.

A survival probability of ``exp(-800)`` *is* zero for every purpose of these estimators, and
scipy's optimisers underflow on their own in the last iterations of a fit. Users who run
under ``np.errstate(all="raise")`` (a good way to catch real overflow) must not get a
``FloatingPointError`` for that, so every public entry point of the conversion and dynamics
estimators runs with underflow ignored. Overflow, division by zero and invalid operations
stay the caller's setting: the numerics avoid them (log and logit scales, saturation made
explicit where it is meant).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np

__all__ = ["LOG_MAX_FLOAT", "exp_saturating", "underflow_is_zero"]

P = ParamSpec("P")
R = TypeVar("R")

#: ``log`` of the largest double: ``exp`` of anything above it overflows.
LOG_MAX_FLOAT = math.log(np.finfo(float).max)


def underflow_is_zero(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with numpy underflow ignored (results flush to 0, as intended)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with np.errstate(under="ignore"):
            return func(*args, **kwargs)

    return wrapper


def exp_saturating(x: float) -> float:
    """``exp(x)`` that returns ``inf`` instead of raising OverflowError (and 0 far below)."""
    if math.isnan(x):
        return math.nan
    return math.inf if x > LOG_MAX_FLOAT else math.exp(x)
