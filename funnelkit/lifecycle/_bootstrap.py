"""Customer bootstrap: replicate weights, contained replicate failures, percentile intervals."""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelkit._results import Interval
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle.results import ValueEstimate

__all__ = [
    "FIT_FAILURES",
    "MIN_REPLICATES",
    "ReplicateFailures",
    "estimate",
    "failure_reason",
    "replicate_weights",
    "run_replicates",
]

#: Fewer successful replicates than this and intervals are reported as not estimable.
MIN_REPLICATES = 10

#: What a fit or a prediction raises when the data of one resample or one segment cannot
#: support a model: funnelkit's own errors (ConvergenceError, DataError), numpy's LinAlgError
#: and scipy's "array must not contain infs or NaNs" (all ValueError), and overflow or
#: division by zero in Python floats (``math.exp``, ``math.lgamma``: ArithmeticError).
#: Programming errors (TypeError, AttributeError, IndexError, KeyError) are not among them
#: and still surface.
FIT_FAILURES: tuple[type[Exception], ...] = (ValueError, ArithmeticError, np.linalg.LinAlgError)


def failure_reason(exc: BaseException, limit: int = 200) -> str:
    """One line saying why a fit failed: funnelkit's own message, else the exception type too.

    The numbered remedies of a ConvergenceError are left out: a note counts failures, the
    remedies are for someone fitting that model by hand.
    """
    text = " ".join(str(exc).split("Things to try", 1)[0].split()).rstrip(" .:") or "no message"
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text if isinstance(exc, FunnelkitError) else f"{type(exc).__name__}: {text}"


@dataclass
class ReplicateFailures:
    """How many of ``total`` replicates failed, and why (reason → count)."""

    total: int
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.reasons.values())

    @property
    def too_many(self) -> bool:
        """More than half failed: the survivors are a selected, not a random, set of samples."""
        return 2 * self.count > self.total

    def add(self, exc: BaseException) -> None:
        self.reasons[failure_reason(exc)] += 1

    def why(self) -> str:
        (first, _), *others = self.reasons.most_common()
        more = f"; and {len(others)} other reason(s)" if others else ""
        return f"{first}{more}"

    def note(self) -> str | None:
        """The sentence for the notes, or None when nothing failed."""
        if not self.count:
            return None
        head = f"{self.count} of {self.total} bootstrap samples could not be fitted ({self.why()})"
        if self.too_many:
            return f"{head}: the intervals are not estimable"
        return f"{head} and were left out of the intervals"

    def interval_method(self) -> str:
        return (
            f"not estimable: {self.count} of {self.total} bootstrap samples could not be "
            "fitted (more than half)"
        )


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
) -> tuple[list[Any], ReplicateFailures]:
    """Call ``fn(weights)`` per replicate; fit failures (:data:`FIT_FAILURES`) are counted.

    Returns ``(results, failures)`` with one ``(seed, fn(weights))`` pair per success. When
    more than half of the replicates fail (``failures.too_many``) the caller must not form
    intervals from the rest: the resamples that could be fitted are not a random sample of
    the resamples.
    """
    out: list[Any] = []
    failures = ReplicateFailures(total=len(seeds))
    for b, seed in enumerate(seeds):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                out.append((int(seed), fn(replicate_weights(int(seed), n))))
        except FIT_FAILURES as exc:
            failures.add(exc)
        if progress is not None:
            progress(label, b + 1, len(seeds))
    return out, failures


def estimate(point: float, samples: np.ndarray, conf_level: float) -> ValueEstimate:
    """Point estimate with the bootstrap percentile interval and standard error."""
    value = None if not math.isfinite(point) else float(point)
    finite = samples[np.isfinite(samples)]
    if value is None or finite.size < MIN_REPLICATES:
        return ValueEstimate(value=value)
    tail = (1.0 - conf_level) / 2.0
    lower, upper = np.quantile(finite, [tail, 1.0 - tail])
    ci = Interval(estimate=value, lower=float(lower), upper=float(upper), level=conf_level)
    return ValueEstimate(value=value, ci=ci, std_error=float(np.std(finite, ddof=1)))
