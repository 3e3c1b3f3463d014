"""What every estimator fitted with ``covariates=`` shares: its coefficient table and errors."""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

from funnelkit._estimator import Estimator
from funnelkit._frames import Backend
from funnelkit.exceptions import FunnelkitError

__all__ = ["CovariateEstimator"]


class _CovariateFit(Protocol):
    def coefficients(self, backend: Backend | None = None) -> Any: ...


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

    def _covariate_fit(self) -> C:
        self._check_fitted()
        if self.covariates_ is None:
            raise FunnelkitError(
                f"This {type(self).__name__} has no covariates: fit it with covariates=[...] "
                "(attribute names) or covariates=frame (one row per customer_id) first."
            )
        return self.covariates_
