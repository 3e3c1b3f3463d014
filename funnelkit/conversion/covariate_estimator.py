"""What every estimator fitted with ``covariates=`` shares: its coefficient table and errors."""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from funnelkit._estimator import Estimator
from funnelkit._frames import Backend
from funnelkit.exceptions import FunnelkitError

__all__ = ["CovariateEstimator"]


class _CovariateFit(Protocol):
    def coefficients(self, backend: Backend | None = None) -> Any: ...

    def adjusted_comparison(self, backend: Backend | None = None) -> Any: ...


C = TypeVar("C", bound=_CovariateFit)


class CovariateEstimator(Estimator, Generic[C]):
    """An :class:`~funnelkit._estimator.Estimator` whose ``fit`` accepts ``covariates=``.

    The subclass sets ``covariates_`` (its covariate result, or None) in ``fit``.
    """

    covariates_: C | None

    @property
    def coefficients_(self) -> Any:
        """The covariate coefficient table (None when fitted without ``covariates``).

        Columns ``transition, part, covariate, estimate, std_error, lower, upper``, in the
        frame library of the covariates given to ``fit`` (pandas for attribute names).
        """
        self._check_fitted()
        fit = self.covariates_
        return None if fit is None else fit.coefficients()

    def adjusted_comparison(self, backend: Backend | None = None) -> Any:
        """Covariate-adjusted eventual share per level, next to the raw per-level estimate.

        For each transition and each level of a categorical (or 0/1) covariate: ``adjusted``
        sets the covariate to the level for every entrant and averages their eventual share
        (the conversion share, or the Markov advance probability ``λ/(λ+μ)``) over their
        own other covariates (direct standardisation, delta-method interval); ``raw`` is the
        plain model of that level's entrants alone, what ``fit(by=...)`` reports. Columns
        ``transition, covariate, level, n_entered, adjusted, adjusted_lower,
        adjusted_upper, raw, raw_lower, raw_upper``.
        """
        return self._covariate_fit().adjusted_comparison(backend)

    def _covariate_fit(self) -> C:
        self._check_fitted()
        if self.covariates_ is None:
            raise FunnelkitError(
                f"This {type(self).__name__} has no covariates: fit it with covariates=[...] "
                "(attribute names) or covariates=frame (one row per customer_id) first."
            )
        return self.covariates_
