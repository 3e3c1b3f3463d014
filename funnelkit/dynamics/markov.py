"""StageMarkovFitter: advance and drop-out intensities of every stage of a funnel."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from funnelkit._floating import underflow_is_zero
from funnelkit._frames import Backend
from funnelkit.conversion.covariate_estimator import CovariateEstimator
from funnelkit.conversion.covariates import CovariatesLike
from funnelkit.conversion.cure_result import CureFit
from funnelkit.dynamics._validation import (
    check_conf_level,
    check_journeys,
    fit_notes,
    segment_labels,
)
from funnelkit.dynamics.covariate_result import MarkovCovariates
from funnelkit.dynamics.delays import supported_delay
from funnelkit.dynamics.likelihood import StageFit, boundary_bounds, fit_stage
from funnelkit.dynamics.reach import reach_stage
from funnelkit.dynamics.results import StageMarkovResult, StageReach, TransitionFit
from funnelkit.dynamics.state import StageIntensities, intensities_of
from funnelkit.exceptions import ConvergenceWarning, FunnelkitError, StatisticalWarning
from funnelkit.journeys import Journeys
from funnelkit.units import TimeUnit, TimeUnitLike

if TYPE_CHECKING:
    from funnelkit.dynamics.forecast import DelayChoice, StageForecast

__all__ = ["StageMarkovFitter"]


class StageMarkovFitter(CovariateEstimator[MarkovCovariates]):
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
    delays : {"auto", "exponential"}, default "auto"
        ``"auto"`` also fits, per transition, the delay model the data support (the cure
        model ``ConversionFitter(model="auto")`` chooses: Weibull, log-normal, two
        components, or Kaplan-Meier), stored in ``result_.delays``; :meth:`forecast` then
        follows those delays and each customer's time in stage (semi-Markov).
        ``"exponential"`` keeps the memoryless Markov model only: faster to fit and to
        forecast, and right only when the delays really are exponential.

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
    covariates_ : MarkovCovariates or None
        The log-linear covariate intensities, when fitted ``covariates=``.
    coefficients_ : frame or None
        Their coefficient table (see :meth:`MarkovCovariates.coefficients`).

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

    _fitted_attributes: ClassVar[tuple[str, ...]] = (
        "result_",
        "stage_names_",
        "time_unit_",
        "by_",
        "segments_",
        "covariates_",
    )
    _fit_call: ClassVar[str] = "fit(journeys)"

    def __init__(self, *, conf_level: float = 0.95, delays: DelayChoice = "auto") -> None:
        self.conf_level = conf_level
        self.delays = delays

    # ------------------------------------------------------------------ fitting
    @underflow_is_zero
    def fit(
        self,
        journeys: Journeys,
        *,
        by: str | None = None,
        covariates: CovariatesLike | None = None,
    ) -> StageMarkovFitter:
        """Fit the intensities of every stage from censored journeys.

        Parameters
        ----------
        journeys : Journeys
            From :meth:`funnelkit.Funnel.journeys`; stages in funnel order.
        by : str, optional
            A customer attribute (in ``journeys.attributes``) to fit each segment separately.
        covariates : list of str, frame or mapping, optional
            One row per customer (attribute names, a frame with a ``customer_id`` column, or
            arrays aligned with the journeys): each stage's intensities also get log-linear
            effects, ``λ(z) = λ e^{β'z}`` and ``μ(z) = μ e^{δ'z}``, as msm fits them
            (Jackson 2011), pooled over all prospects, in :attr:`covariates_`.

        Returns
        -------
        StageMarkovFitter
            ``self``, fitted.
        """
        check_conf_level(self.conf_level, "StageMarkovFitter")
        if self.delays not in ("auto", "exponential"):
            raise FunnelkitError(
                "The 'delays' parameter of StageMarkovFitter must be 'auto' or 'exponential'. "
                f"Got {self.delays!r} instead."
            )
        check_journeys(journeys)
        names = journeys.stage_names
        labels, segments = segment_labels(journeys, by)
        n_seg, n_trans = len(segments) if segments else 1, len(names) - 1
        fits: list[list[StageFit]] = []
        delays: list[tuple[CureFit | None, ...]] = []
        supported: list[tuple[tuple[CureFit, ...], ...]] = []
        bounds: dict[tuple[int, int], tuple[float, float]] = {}
        for g in range(n_seg):
            row = []
            delay_row = []
            supported_row = []
            for k in range(n_trans):
                index, duration, advanced = journeys.transition(names[k], names[k + 1])
                if labels is not None:
                    keep = labels[index] == g
                    duration, advanced = duration[keep], advanced[keep]
                row.append(fit_stage(duration, advanced))
                if row[-1].status == "no_dropout":
                    bounds[g, k] = boundary_bounds(duration, advanced, row[-1], self.conf_level)
                if self.delays == "auto":
                    chosen, ranked = supported_delay(duration, advanced, journeys.time_unit)
                    delay_row.append(chosen)
                    supported_row.append(ranked)
            fits.append(row)
            delays.append(tuple(delay_row))
            supported.append(tuple(supported_row))

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
        covariate_fit = None
        if covariates is not None:
            from funnelkit.dynamics.covariates import fit_markov_covariates

            covariate_fit = fit_markov_covariates(
                journeys, covariates, conf_level=float(self.conf_level), fitter="StageMarkovFitter"
            )
        self._set_result(
            StageMarkovResult(
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
                intensities=StageIntensities.from_fits(fits, bounds),
                delays=tuple(delays) if self.delays == "auto" else None,
                supported_delays=tuple(supported) if self.delays == "auto" else None,
                covariates=covariate_fit,
            )
        )
        return self

    def _set_result(self, result: StageMarkovResult) -> None:
        # The fitted attributes are views of the frozen result, which is all that
        # predictions read: a model loaded from JSON is the same model.
        self.stage_names_ = result.stage_names
        self.time_unit_ = result.time_unit
        self.by_ = result.by
        self.segments_ = result.segments
        self.covariates_ = result.covariates
        self.result_ = result

    def predict_intensities(self, covariates: Any, *, conf_level: float | None = None) -> Any:
        """Per covariate profile and stage: intensities, advance probability, time in stage.

        See :meth:`MarkovCovariates.predict`.

        Examples
        --------
        >>> from funnelkit.datasets import simulate_covariate_chain
        >>> sim = simulate_covariate_chain(3000, seed=1)
        >>> fitter = StageMarkovFitter(delays="exponential").fit(
        ...     sim.journeys, covariates=["channel", "member"])
        >>> table = fitter.predict_intensities({"channel": ["email"], "member": [0]})
        >>> table["source"].tolist()
        ['s0', 's1']
        """
        return self._covariate_fit().predict(covariates, conf_level=conf_level)

    def reach_probability(
        self,
        stage: str,
        covariates: Any,
        *,
        horizon: float | None = None,
        conf_level: float | None = None,
    ) -> list[Any]:
        """Per covariate profile, P(reaching ``stage`` from the first stage) as an Interval.

        Ever, or within ``horizon`` of entering the first stage; see
        :meth:`MarkovCovariates.reach_probability`.
        """
        return self._covariate_fit().reach_probability(
            stage, covariates, horizon=horizon, conf_level=conf_level
        )

    def summary(self, backend: Backend = "pandas", *, coefficients: bool = False) -> Any:
        """One row per transition and quantity: ``estimate, std_error, lower, upper``.

        See :meth:`StageMarkovResult.summary`; :meth:`StageMarkovResult.to_frame` gives the
        wide table (one row per transition). With ``coefficients=True``, the covariate
        coefficient table instead (fit with ``covariates=`` first).
        """
        self._check_fitted()
        if coefficients:
            return self._covariate_fit().coefficients(backend)
        return self.result_.summary(backend)

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise the fitted model (settings and result; no data, no pickle)."""
        self._check_fitted()
        doc = SavedStageMarkov(settings=self.get_params(), result=self.result_)
        return doc.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> StageMarkovFitter:
        """Load a model written by :meth:`to_json`; it predicts exactly like the original.

        >>> from funnelkit.dynamics import simulate_stage_chain
        >>> sim = simulate_stage_chain(500, advance_rates=[0.2], dropout_rates=[0.1], seed=3)
        >>> journeys = sim.funnel.journeys(sim.log(), observation_end=40.0)
        >>> fitter = StageMarkovFitter().fit(journeys)
        >>> loaded = StageMarkovFitter.from_json(fitter.to_json())
        >>> loaded.reach("s1") == fitter.reach("s1")
        True
        """
        doc = load_saved(text)
        model = cls(**doc.settings)
        model._set_result(doc.result)
        return model

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
        fitted = intensities_of(self.result_)
        state = customer_state(self.result_, journeys)
        out = np.full(len(journeys), np.nan)
        last = len(self.stage_names_) - 1
        out[state.stage == last] = 1.0
        advance, dropout = fitted.advance_array, fitted.dropout_array
        for g in range(fitted.n_segments):
            for k in range(last):
                lam, mu = advance[g, k], dropout[g, k]
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
        n_resamples: int = 200,
        seed: int | np.random.Generator | None = 0,
        n_draws: int | None = None,
        delays: DelayChoice | None = None,
    ) -> StageForecast:
        """Expected stage counts of today's customers up to ``horizon`` after observation end.

        See :func:`funnelkit.dynamics.forecast_stages` for the method and the parameters
        (``n_draws`` is the former name of ``n_resamples``). ``delays="auto"`` follows, per
        transition, the delay model the data support (semi-Markov; needs a model fitted
        with ``delays="auto"``); ``delays="exponential"`` is the memoryless Markov
        forecast; the default follows the fitter's own ``delays`` setting.
        """
        from funnelkit.dynamics.forecast import forecast_stages

        self._check_fitted()
        return forecast_stages(
            self.result_,
            journeys,
            horizon=horizon,
            time_unit=time_unit,
            inflow=inflow,
            inflow_stage=inflow_stage,
            n_points=n_points,
            conf_level=self.conf_level if conf_level is None else conf_level,
            n_resamples=n_resamples,
            seed=seed,
            n_draws=n_draws,
            delays=delays,
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
        return reach_stage(self.result_, stage, segment=segment)

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

    @property
    def time_unit(self) -> TimeUnit:
        """Unit of the fitted intensities."""
        self._check_fitted()
        return self.time_unit_

    def _fitted_summary(self) -> str:
        # The eventual advance probability λ/(λ+μ) of each overall transition.
        result = self.result_
        shown = [
            f"{t.source}->{t.target} "
            + (
                "not estimable"
                if t.advance_probability.estimate is None
                else f"{t.advance_probability.estimate:.1%}"
            )
            for t in result.transitions
            if t.segment is None
        ]
        by = f" by {result.by}" if result.by else ""
        return f"{result.n_customers:,} journeys{by}: advance probabilities " + ", ".join(shown)


class SavedStageMarkov(BaseModel):
    """The JSON document of a fitted :class:`StageMarkovFitter`: settings and result."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
    fitter: Literal["StageMarkovFitter"] = "StageMarkovFitter"
    settings: dict[str, Any]
    result: StageMarkovResult


def load_saved(text: str | bytes) -> SavedStageMarkov:
    """Read a document written by :meth:`StageMarkovFitter.to_json`, or say what is wrong."""
    try:
        return SavedStageMarkov.model_validate_json(text)
    except ValidationError as exc:
        raise FunnelkitError(
            f"This JSON is not a saved StageMarkovFitter ({exc.error_count()} problem(s), "
            f"first: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}). Write it with "
            "StageMarkovFitter.to_json() from a fitted model."
        ) from None
