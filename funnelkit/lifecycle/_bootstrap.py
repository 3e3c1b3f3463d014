"""Customer bootstrap: replicate weights and percentile intervals."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from funnelkit.lifecycle.results import ValueEstimate

__all__ = ["MIN_REPLICATES", "estimate", "replicate_weights", "run_replicates"]

#: Fewer successful replicates than this and intervals are reported as not estimable.
MIN_REPLICATES = 10


def replicate_weights(seed: int, n: int) -> np.ndarray:
    """How many times each of ``n`` customers is drawn in one bootstrap sample (sums to n)."""
    rng = np.random.default_rng(seed)
    return np.bincount(rng.integers(0, n, n), minlength=n)


def run_replicates(
    seeds: np.ndarray,
    n: int,
    fn: Callable[[np.ndarray], Any],
    progress: Callable[[str, int, int], None] | None = None,
    label: str = "bootstrap",
) -> tuple[list[Any], int]:
    """Call ``fn(weights)`` per replicate; failures (funnelkit errors) are counted, not raised.

    Returns ``(results, failed)`` with one ``(seed, fn(weights))`` pair per success.
    """
    import warnings

    from funnelkit.exceptions import FunnelkitError

    out: list[Any] = []
    failed = 0
    for b, seed in enumerate(seeds):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out.append((int(seed), fn(replicate_weights(int(seed), n))))
        except (FunnelkitError, np.linalg.LinAlgError, FloatingPointError):
            failed += 1
        if progress is not None:
            progress(label, b + 1, len(seeds))
    return out, failed


def estimate(point: float, samples: np.ndarray, conf_level: float) -> ValueEstimate:
    """Point estimate with the bootstrap percentile interval and standard error."""
    value = None if not math.isfinite(point) else float(point)
    finite = samples[np.isfinite(samples)]
    if value is None or finite.size < MIN_REPLICATES:
        return ValueEstimate(value=value)
    tail = (1.0 - conf_level) / 2.0
    lower, upper = np.quantile(finite, [tail, 1.0 - tail])
    return ValueEstimate(
        value=value, ci=(float(lower), float(upper)), std_error=float(np.std(finite, ddof=1))
    )
