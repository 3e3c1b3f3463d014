"""The one exception hierarchy of funnelkit.

Every error funnelkit raises on purpose is a :class:`FunnelkitError`, which is a
``ValueError`` so that generic ``except ValueError`` code keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "ConvergenceError",
    "ConvergenceWarning",
    "DataError",
    "FunnelkitError",
    "MissingDependencyError",
    "NotFittedError",
    "SpecError",
    "StatisticalWarning",
    "format_examples",
]


class FunnelkitError(ValueError):
    """Base class of every error raised by funnelkit."""


class DataError(FunnelkitError):
    """The input data is malformed: the message says what, how many rows, and how to fix it."""


class SpecError(FunnelkitError):
    """A specification (a Stage, a Funnel) is invalid: the message lists each problem."""


class NotFittedError(FunnelkitError, AttributeError):
    """A fitted-only method or attribute was used before ``fit``."""


class ConvergenceError(FunnelkitError):
    """The optimiser did not reach a trustworthy maximum of the likelihood."""


class MissingDependencyError(FunnelkitError, ImportError):
    """An optional dependency is needed for this feature; the message names the extra."""


class ConvergenceWarning(UserWarning):
    """The fit finished, but a diagnostic suggests the estimates may be unreliable."""


class StatisticalWarning(UserWarning):
    """A result is computable but statistically fragile (tiny samples, extrapolation...)."""


def format_examples(values: Sequence[Any] | np.ndarray, limit: int = 5) -> str:
    """Render up to ``limit`` example values for an error message: ``'a', 'b', ... (+3 more)``."""
    items = list(values[:limit]) if not isinstance(values, np.ndarray) else values[:limit].tolist()
    shown = ", ".join(repr(v) for v in items)
    extra = len(values) - len(items)
    return f"{shown}, ... (+{extra} more)" if extra > 0 else shown
