"""StageMarkovFitter: advance and drop-out intensities of every stage of a funnel."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from funnelkit._floating import underflow_is_zero
from funnelkit._frames import Backend
from funnelkit.dynamics._validation import (
    check_conf_level,
    check_journeys,
    fit_notes,
    segment_labels,
)
from funnelkit.dynamics.likelihood import StageFit, boundary_bounds, fit_stage
from funnelkit.dynamics.reach import path_estimates
from funnelkit.dynamics.results import (
    Estimate,
    StageMarkovResult,
    StageReach,
    TransitionFit,
)
from funnelkit.exceptions import (
    ConvergenceWarning,
    FunnelkitError,
    NotFittedError,
    StatisticalWarning,
)
from funnelkit.intervals import normal_quantile
from funnelkit.journeys import Journeys
from funnelkit.units import TimeUnit, TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.dynamics.forecast import StageForecast

__all__ = ["StageMarkovFitter"]


class StageMarkovFitter:
    """A continuous-time Markov model of the funnel with a latent *dormant* exit.

    A customer who enters stage ``k`` (any stage but the last) is *active* there until one
    of two competing events: advancing to stage ``k+1`` with intensity ``λ_k``, or becoming
    dormant with intensity ``μ_k``. Dormancy is never observed: a customer who has not advanced
    by the end of observation is either still active or already dormant. With ``θ = λ + μ``
    and the time ``d`` spent in the stage, a customer who advanced at ``d`` contributes
    ``λ e^{-θd}`` to the likelihood and one still in the stage contributes
    ``e^{-θd} + (μ/θ)(1 - e^{-θd})``.

    Each stage is exactly the exponential mixture-cure model of Maller & Zhou (1996): the
    eventual advance probability is ``λ/(λ+μ)`` and, among those who advance, the delay is
    exponential with rate ``λ+μ``; so the estimates agree with an exponential cure-model fit of
    the same transition. The chain view (Jackson 2011) adds forecasts of stage counts that
    account for how long each customer has already waited (:meth:`forecast`), and the
    probability and time of reaching any later stage (:meth:`reach`).

    Stages are independent given the path (the Markov property: time in a stage does not
    depend on how long earlier stages took), so the likelihood factorises and each stage is
    fitted on its own, by maximum likelihood on the log scale with the analytic gradient and
    Hessian. Intervals come from the observed information, on the log scale for rates and
    times and on the logit scale for probabilities. When the maximum lies on the boundary
    μ = 0 (status ``"no_dropout"``), where Wald intervals do not exist, the upper bound of μ
    and the lower bound of the advance probability are profile-likelihood bounds. Stages
    where nothing can be estimated (nobody entered, nobody advanced, no time observed) get a
    status and None instead of numbers, and a :class:`~funnelkit.StatisticalWarning`.

    Parameters
    ----------
    conf_level : float, default 0.95
        Level of the confidence intervals, in (0, 1).

    Attributes
    ----------
    result_ : StageMarkovResult
        Every transition's estimates (a frozen, JSON-serialisable result).
    stage_names_ : tuple of str
    time_unit_ : TimeUnit
        Unit of the intensities (per ``time_unit_``) and times.
    by_ : str or None
        Segmenting attribute, when fitted ``by=``.
    segments_ : tuple of str or None
        Segment labels (the attribute values as strings), when fitted ``by=``.

    Examples
    --------
    >>> from funnelkit.dynamics import simulate_stage_chain
    >>> sim = simulate_stage_chain(2000, advance_rates=[0.2, 0.05], dropout_rates=[0.1, 0.05],
    ...                            seed=0)
    >>> journeys = sim.funnel.journeys(sim.log(), observation_end=60.0)
    >>> fitter = StageMarkovFitter().fit(journeys)
    >>> p = fitter.result_.transition("s0").advance_probability  # truth 0.2 / 0.3
    >>> p.lower < 2 / 3 < p.upper
    True
    >>> forecast = fitter.forecast(journeys, horizon=30.0)
    >>> forecast.reached["s2"] > journeys.counts()["s2"]
    True

    References
    ----------
    Jackson, C. H. (2011). Multi-State Models for Panel Data: The msm Package for R.
    *Journal of Statistical Software* 38(8).

    Maller, R. A. & Zhou, X. (1996). *Survival Analysis with Long-Term Survivors*. Wiley.
    """

    def __init__(self, *, conf_level: float = 0.95) -> None:
        self.conf_level = conf_level

    def __repr__(self) -> str:
        return f"StageMarkovFitter(conf_level={self.conf_level!r})"

    # ------------------------------------------------------------------ fitting
    @underflow_is_zero
    def fit(self, journeys: Journeys, *, by: str | None = None) -> StageMarkovFitter:
        """Fit the intensities of every stage from censored journeys.

        Parameters
        ----------
        journeys : Journeys
            From :meth:`funnelkit.Funnel.journeys`; stages in funnel order.
        by : str, optional
            A customer attribute (in ``journeys.attributes``) to fit each segment separately.

        Returns
        -------
        StageMarkovFitter
            ``self``, fitted.
        """
        check_conf_level(self.conf_level, "StageMarkovFitter")
        check_journeys(journeys)
        names = journeys.stage_names
        labels, segments = segment_labels(journeys, by)
        n_seg, n_trans = len(segments) if segments else 1, len(names) - 1
        fits: list[list[StageFit]] = []
        bounds: dict[tuple[int, int], tuple[float, float]] = {}
        for g in range(n_seg):
            row = []
            for k in range(n_trans):
                index, duration, advanced = journeys.transition(names[k], names[k + 1])
                if labels is not None:
                    keep = labels[index] == g
                    duration, advanced = duration[keep], advanced[keep]
                row.append(fit_stage(duration, advanced))
                if row[-1].status == "no_dropout":
                    bounds[g, k] = boundary_bounds(duration, advanced, row[-1], self.conf_level)
            fits.append(row)

        self._fits = fits
        self._advance = np.array([[f.advance_rate for f in row] for row in fits])
        self._dropout = np.array([[f.dropout_rate for f in row] for row in fits])
        self._log_cov = np.array([[f.log_covariance for f in row] for row in fits])
        self._status = [[f.status for f in row] for row in fits]
        #: profile-likelihood upper bound of μ for stages fitted on the boundary μ = 0
        self._boundary_mu_upper = np.full(self._advance.shape, np.nan)
        for (g, k), (mu_upper, _) in bounds.items():
            self._boundary_mu_upper[g, k] = mu_upper
        transitions = tuple(
            TransitionFit.from_fit(
                fits[g][k],
                source=names[k],
                target=names[k + 1],
                segment=segments[g] if segments else None,
                conf_level=self.conf_level,
                boundary=bounds.get((g, k)),
            )
            for g in range(n_seg)
            for k in range(n_trans)
        )
        notes = fit_notes(transitions)
        for note in notes:
            warnings.warn(note, StatisticalWarning, stacklevel=2)
        converged = all(f.converged for row in fits for f in row)
        if not converged:
            warnings.warn(
                "The likelihood of at least one stage did not converge cleanly (see the "
                "'converged' column of result_.to_frame()); its intervals may be unreliable. "
                "Try more data or check for stages with very few advances.",
                ConvergenceWarning,
                stacklevel=2,
            )
        finite = [t.log_likelihood for t in transitions if t.log_likelihood is not None]
        self.stage_names_ = names
        self.time_unit_ = journeys.time_unit
        self.by_ = by
        self.segments_ = segments
        self.result_ = StageMarkovResult(
            stage_names=names,
            time_unit=journeys.time_unit,
            conf_level=self.conf_level,
            by=by,
            segments=segments,
            n_customers=len(journeys),
            transitions=transitions,
            log_likelihood=float(sum(finite)) if finite else None,
            converged=converged,
            notes=notes,
        )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "result_"):
            raise NotFittedError(
                "This StageMarkovFitter is not fitted yet: call fit(journeys) first."
            )

    def summary(self, backend: Backend = "pandas") -> Any:
        """The transitions table (see :meth:`StageMarkovResult.to_frame`)."""
        self._check_fitted()
        return self.result_.to_frame(backend)

    # ------------------------------------------------------------------ per-customer state
    @underflow_is_zero
    def probability_active(self, journeys: Journeys) -> np.ndarray:
        """Per customer, the probability of still being active in their current stage.

        A customer in stage ``k`` for ``d`` without advancing is active with probability
        ``π = e^{-θd} / (e^{-θd} + (μ/θ)(1 - e^{-θd}))``; customers in the last stage are
        active (1.0); NaN for customers who reached no stage or whose stage has no estimate.
        """
        from funnelkit.dynamics.chain import probability_active
        from funnelkit.dynamics.forecast import customer_state

        self._check_fitted()
        state = customer_state(self, journeys)
        out = np.full(len(journeys), np.nan)
        last = len(self.stage_names_) - 1
        out[state.stage == last] = 1.0
        for g in range(self._advance.shape[0]):
            for k in range(last):
                lam, mu = self._advance[g, k], self._dropout[g, k]
                if not (np.isfinite(lam) and np.isfinite(mu)):
                    continue
                mask = (state.segment == g) & (state.stage == k)
                out[mask] = probability_active(state.duration[mask], lam, mu)
        return out

    # ------------------------------------------------------------------ forecasts
    @underflow_is_zero
    def forecast(
        self,
        journeys: Journeys,
        *,
        horizon: float,
        time_unit: TimeUnitLike | None = None,
        inflow: float | Mapping[str, float] | None = None,
        inflow_stage: str | None = None,
        n_points: int = 51,
        conf_level: float | None = None,
        n_draws: int = 200,
        seed: int | np.random.Generator | None = 0,
    ) -> StageForecast:
        """Expected stage counts of today's customers up to ``horizon`` after observation end.

        See :func:`funnelkit.dynamics.forecast_stages` for the method and the parameters.
        """
        from funnelkit.dynamics.forecast import forecast_stages

        self._check_fitted()
        return forecast_stages(
            self,
            journeys,
            horizon=horizon,
            time_unit=time_unit,
            inflow=inflow,
            inflow_stage=inflow_stage,
            n_points=n_points,
            conf_level=self.conf_level if conf_level is None else conf_level,
            n_draws=n_draws,
            seed=seed,
        )

    # ------------------------------------------------------------------ reaching a stage
    @underflow_is_zero
    def reach(self, stage: str, *, segment: str | None = None) -> StageReach:
        """Probability of ever reaching ``stage`` from each earlier stage, and the time to it.

        From the start of stage ``j`` the probability is ``Π_{i=j}^{k-1} λ_i/(λ_i+μ_i)`` and
        the mean time among those who get there is ``Σ_{i=j}^{k-1} 1/(λ_i+μ_i)`` (each
        sojourn of an advancer is exponential with rate ``λ_i+μ_i``). The unconditional mean
        time is infinite as soon as some customers go dormant. Intervals use the delta method
        on the log scale; a probability's interval is not estimable when a stage on the way
        has its drop-out rate on the boundary 0.

        Examples
        --------
        >>> from funnelkit.dynamics import simulate_stage_chain
        >>> sim = simulate_stage_chain(3000, advance_rates=[0.3, 0.1], dropout_rates=[0.1, 0.1],
        ...                            seed=1)
        >>> fitter = StageMarkovFitter().fit(sim.funnel.journeys(sim.log(), observation_end=80.0))
        >>> p = fitter.reach("s2").probability["s0"]  # truth 0.75 * 0.5
        >>> p.lower < 0.375 < p.upper
        True
        """
        self._check_fitted()
        k = self._stage_index(stage)
        g = self._segment_index(segment)
        z = normal_quantile(self.conf_level)
        probability: dict[str, Estimate] = {}
        expected: dict[str, Estimate] = {}
        for j in range(k):
            probability[self.stage_names_[j]], expected[self.stage_names_[j]] = path_estimates(
                self._advance[g, j:k],
                self._dropout[g, j:k],
                self._log_cov[g, j:k],
                self._status[g][j:k],
                z,
            )
        return StageReach(
            target=stage,
            segment=segment,
            time_unit=self.time_unit_,
            conf_level=self.conf_level,
            probability=probability,
            expected_time=expected,
        )

    def probability_of_reaching(
        self, stage: str, *, segment: str | None = None
    ) -> dict[str, float | None]:
        """Stage → probability of eventually reaching ``stage`` from its start (:meth:`reach`)."""
        return {k: v.estimate for k, v in self.reach(stage, segment=segment).probability.items()}

    def expected_time_to(
        self, stage: str, *, segment: str | None = None
    ) -> dict[str, float | None]:
        """Stage → mean time to reach ``stage`` from its start, among those who reach it."""
        return {k: v.estimate for k, v in self.reach(stage, segment=segment).expected_time.items()}

    def _stage_index(self, stage: str) -> int:
        if stage not in self.stage_names_:
            raise FunnelkitError(f"No stage named {stage!r}; stages are {list(self.stage_names_)}.")
        return self.stage_names_.index(stage)

    def _segment_index(self, segment: str | None) -> int:
        if self.segments_ is None:
            if segment is not None:
                raise FunnelkitError("This model was fitted without by=, so it has no segments.")
            return 0
        if segment not in self.segments_:
            raise FunnelkitError(
                f"Pass segment= one of {list(self.segments_)} (the model was fitted "
                f"by={self.by_!r}); got {segment!r}."
            )
        return self.segments_.index(segment)

    @property
    def time_unit(self) -> TimeUnit:
        """Unit of the fitted intensities."""
        self._check_fitted()
        return self.time_unit_
