"""ConversionFitter: censoring-aware conversion for every transition of a funnel."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from funnelkit._floating import underflow_is_zero
from funnelkit._frames import Backend
from funnelkit.conversion.comparison import SegmentComparison, holm_by_test, transition_tests
from funnelkit.conversion.covariate_estimator import CovariateEstimator
from funnelkit.conversion.covariate_result import CovariateConversion
from funnelkit.conversion.covariates import CovariatesLike
from funnelkit.conversion.estimate import check_windows, estimate_transition, with_window_note
from funnelkit.conversion.fit_result import ConversionResult
from funnelkit.conversion.kaplan_meier import CIMethod
from funnelkit.conversion.results import TransitionEstimate, WindowRate
from funnelkit.conversion.segments import check_by, segment_codes
from funnelkit.conversion.summary import ConversionSummary
from funnelkit.exceptions import DataError, FunnelkitError, format_examples
from funnelkit.journeys import Journeys

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from funnelkit.conversion.trends import FunnelTrends

__all__ = ["ConversionFitter"]

_MODELS = ("auto", "exponential", "weibull", "lognormal", "lognormal-mixture", "kaplan-meier")
Key = tuple[str, str, str | None]


class ConversionFitter(CovariateEstimator[CovariateConversion]):
    """Censoring-aware stage conversion: how many will *eventually* move on, and how fast.

    For every adjacent pair of stages (and any extra ``pairs``), among the customers who
    entered the source stage: the naive rate (converted / entered, Wilson interval), the
    Kaplan-Meier cumulative conversion by time since entry (Greenwood variance, log-log or
    linear band), and a mixture cure model (Maller & Zhou 1996) whose share ``p`` of eventual
    converters is the eventual conversion rate and whose delay distribution gives the time to
    convert. Nobody who is still waiting counts as lost.

    Parameters
    ----------
    model : {"auto", "exponential", "weibull", "lognormal", "lognormal-mixture", \
"kaplan-meier"}, default "auto"
        Delay distribution of the cure model. ``"lognormal-mixture"`` has two log-normal
        components, for delays with a fast and a slow mode (within a session, and days
        later). ``"auto"`` fits the three single families (and the mixture from 50
        conversions on) and keeps the lowest AIC (reported in ``model_aic``) among the fits
        whose eventual rate is not below the Kaplan-Meier conversion already observed; when
        none is, Kaplan-Meier answers, with a note. ``"kaplan-meier"`` fits no model: the
        eventual rate is the Kaplan-Meier plateau, which is right only with long enough
        follow-up.
    conf_level : float, default 0.95
        Level of every interval, in (0, 1).
    ci_method : {"log-log", "linear"}, default "log-log"
        Kaplan-Meier band: log-log ("exponential Greenwood", as lifelines) or plain Greenwood.
    pairs : sequence of (source, target), optional
        Extra stage pairs to estimate besides the adjacent ones, e.g. ``[("visitor",
        "repeat_buyer")]``.
    quantiles : sequence of float, default (0.25, 0.5, 0.75, 0.9)
        Quantiles of the time to convert (among eventual converters) to report.
    windows : dict of str to float, optional
        Per-step conversion windows, target stage → duration in the journeys' time unit,
        usually ``funnel.windows`` (the stages' ``within``). The step into such a stage is
        then a rate within the window: its estimate carries a note with
        ``rate_within(window)``, and :meth:`window_rate` answers it.

    Attributes
    ----------
    result_ : ConversionResult
        Every estimate and test as one frozen, JSON-serialisable result.
    estimates_ : dict
        ``(source, target, segment)`` → :class:`TransitionEstimate` (segment None: everyone).
    transitions_ : tuple of (str, str)
        The fitted transitions, adjacent ones first.
    segments_ : dict
        ``(source, target)`` → tuple of segment labels (empty without ``by``).
    comparison_ : SegmentComparison or None
        Tests of whether segments differ (None without ``by`` or with ``compare=False``).
    covariates_ : CovariateConversion or None
        The covariate cure models (None without ``covariates``): coefficients, per-profile
        predictions and the adjusted comparison of levels.
    coefficients_ : frame or None
        The coefficient table of ``covariates_`` (see :meth:`CovariateConversion.coefficients`).
    by_ : str or None
    time_unit_ : TimeUnit
    n_customers_ : int

    Notes
    -----
    Intervals: Wilson (1927) for the naive rate; for the eventual rate ``p``, a Wald interval
    on the logit scale from the observed information (the Kaplan-Meier band at the longest
    follow-up with ``model="kaplan-meier"``); for times to convert, the delta method on the
    log-time scale; for ``rate_within`` the Kaplan-Meier band inside the follow-up and the
    delta method on the logit scale beyond it. Conversions at duration 0 enter the cure
    likelihood as interval-censored in ``(0, eps]``. With ``by``, segments are fitted with
    the delay family chosen for everyone, so their estimates are comparable and nested in the
    pooled model.

    Examples
    --------
    >>> from funnelkit.datasets.conversion import simulate_transitions
    >>> sim = simulate_transitions(3000, seed=2)
    >>> fitter = ConversionFitter().fit(sim.journeys)
    >>> est = fitter.estimate("visitor", "member")
    >>> lo, hi = est.eventual_rate_ci
    >>> bool(lo < sim.eventual_rates[0] < hi), est.naive_rate < lo
    (True, True)

    References
    ----------
    Kaplan, E. L. & Meier, P. (1958). Nonparametric estimation from incomplete observations.
    *JASA* 53(282), 457-481.
    Greenwood, M. (1926). The natural duration of cancer. *Reports on Public Health and
    Medical Subjects* 33.
    Maller, R. A. & Zhou, X. (1996). *Survival Analysis with Long-Term Survivors*. Wiley.
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *JASA* 22(158), 209-212.
    """

    _fitted_attributes: ClassVar[tuple[str, ...]] = (
        "result_",
        "estimates_",
        "transitions_",
        "segments_",
        "comparison_",
        "covariates_",
        "by_",
        "time_unit_",
        "n_customers_",
    )
    _fit_call: ClassVar[str] = "fit(journeys)"

    def __init__(
        self,
        *,
        model: str = "auto",
        conf_level: float = 0.95,
        ci_method: CIMethod = "log-log",
        pairs: Sequence[tuple[str, str]] | None = None,
        quantiles: Sequence[float] = (0.25, 0.5, 0.75, 0.9),
        windows: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.conf_level = conf_level
        self.ci_method = ci_method
        self.pairs = pairs
        self.quantiles = quantiles
        self.windows = windows

    # ------------------------------------------------------------------ fitting
    @underflow_is_zero
    def fit(
        self,
        journeys: Journeys,
        *,
        by: str | None = None,
        covariates: CovariatesLike | None = None,
        compare: bool = True,
    ) -> ConversionFitter:
        """Estimate every transition (and every segment's, with ``by``).

        Parameters
        ----------
        journeys
            Stage entry times with censoring, from :meth:`funnelkit.Funnel.journeys`.
        by
            A customer attribute in ``journeys.attributes`` (e.g. ``"channel"``), or an
            entry cohort: ``"cohort:week"``, ``"cohort:month"``, ``"cohort:day"``,
            ``"cohort:year"`` (the period in which each customer entered the source stage).
        covariates
            One row per customer: attribute names of the journeys (``["channel",
            "member"]``), a frame with a ``customer_id`` column, or a mapping of arrays
            aligned with the journeys. Numbers enter as is, text one-hot against its first
            level in sorted order. Fits :attr:`covariates_` besides the plain estimates.
        compare
            With ``by``: test whether the segments differ (:attr:`comparison_`). ``False``
            skips the tests (``comparison_`` is then None), for a caller that needs the
            segments' estimates only.

        Returns
        -------
        ConversionFitter
            ``self``, fitted.
        """
        self._check_settings()
        if not isinstance(journeys, Journeys):
            raise FunnelkitError(
                f"ConversionFitter.fit takes Journeys, got {type(journeys).__name__}; build them "
                "with Funnel.journeys(EventLog.from_frame(...))."
            )
        if by is not None:
            if not isinstance(by, str):
                raise FunnelkitError(f"by must be a string or None. Got {by!r} instead.")
            check_by(journeys, by)
        if not isinstance(compare, bool):
            raise FunnelkitError(f"compare must be True or False. Got {compare!r} instead.")
        transitions = self._transitions(journeys)
        windows = check_windows(self.windows, journeys.stage_names, type(self).__name__)
        estimates: dict[Key, TransitionEstimate] = {}
        segments: dict[tuple[str, str], tuple[str, ...]] = {}
        tests, pairwise, notes = [], [], []
        quantiles = tuple(float(q) for q in self.quantiles)

        def run(
            pair: tuple[str, str],
            durations: np.ndarray,
            converted: np.ndarray,
            segment: str | None,
            model: str,
        ) -> TransitionEstimate:
            est = estimate_transition(
                durations,
                converted,
                source=pair[0],
                target=pair[1],
                segment=segment,
                time_unit=journeys.time_unit,
                model=model,
                conf_level=float(self.conf_level),
                ci_method=self.ci_method,
                quantiles=quantiles,
            )
            # the window belongs to the adjacent step only: the funnel measures it from the
            # previous stage's entry
            adjacent = pair in itertools.pairwise(journeys.stage_names)
            return (
                with_window_note(est, windows[pair[1]]) if adjacent and pair[1] in windows else est
            )

        # the segment codes of the customers who entered a stage, for every step from it
        codes_of: dict[str, tuple[np.ndarray, tuple[str, ...]]] = {}
        for source, target in transitions:
            index, durations, converted = journeys.transition(source, target)
            _check_durations(journeys, index, durations, source)
            pooled = run((source, target), durations, converted, None, self.model)
            estimates[(source, target, None)] = pooled
            segments[(source, target)] = ()
            if by is None:
                continue
            if source not in codes_of:
                codes_of[source] = segment_codes(journeys, by, index, source)
            codes, labels = codes_of[source]
            segments[(source, target)] = labels
            # Segments reuse the delay family chosen for everyone, so they are comparable
            # and nested in the pooled model for the likelihood-ratio test.
            seg_estimates = []
            for g, label in enumerate(labels):
                rows = codes == g
                est = run((source, target), durations[rows], converted[rows], label, pooled.model)
                estimates[(source, target, label)] = est
                seg_estimates.append(est)
            if not compare:
                continue
            if len(labels) < 2:
                notes.append(f"{source} -> {target}: a single segment, nothing to compare")
                continue
            overall, pairs, extra = transition_tests(
                durations, converted, codes, labels, pooled, seg_estimates
            )
            tests.extend(overall)
            pairwise.extend(pairs)
            notes.extend(extra)
        comparison = (
            None
            if by is None or not compare
            else SegmentComparison(
                by=by,
                tests=tuple(holm_by_test(tests)),
                pairwise=tuple(pairwise),
                notes=tuple(notes),
            )
        )
        covariate_fit = None
        if covariates is not None:
            from funnelkit.conversion.covariate_fit import fit_covariate_conversion

            covariate_fit = fit_covariate_conversion(
                journeys,
                transitions,
                {pair: estimates[(*pair, None)].model for pair in transitions},
                covariates,
                conf_level=float(self.conf_level),
                fitter=type(self).__name__,
            )
        self._set_result(
            ConversionResult(
                conf_level=float(self.conf_level),
                time_unit=journeys.time_unit,
                by=by,
                n_customers=len(journeys),
                transitions=tuple(transitions),
                segments=tuple(segments[pair] for pair in transitions),
                estimates=tuple(estimates.values()),
                comparison=comparison,
                covariates=covariate_fit,
            )
        )
        return self

    def _set_result(self, result: ConversionResult) -> None:
        # The fitted attributes are views of the frozen result, so a model loaded from JSON
        # answers exactly like the fitted one.
        self.estimates_ = {(e.source, e.target, e.segment): e for e in result.estimates}
        self.transitions_ = result.transitions
        self.segments_ = dict(zip(result.transitions, result.segments, strict=True))
        self.by_ = result.by
        self.comparison_ = result.comparison
        self.covariates_ = result.covariates
        self.time_unit_ = result.time_unit
        self.n_customers_ = result.n_customers
        self.result_ = result

    def _check_settings(self) -> None:
        name = type(self).__name__
        cl = self.conf_level
        if not isinstance(cl, float | int) or isinstance(cl, bool) or not 0 < cl < 1:
            raise FunnelkitError(
                f"The 'conf_level' parameter of {name} must be in (0, 1). Got {cl!r} instead."
            )
        if self.model not in _MODELS:
            raise FunnelkitError(
                f"The 'model' parameter of {name} must be one of {list(_MODELS)}. "
                f"Got {self.model!r} instead."
            )
        if self.ci_method not in get_args(CIMethod):
            raise FunnelkitError(
                f"The 'ci_method' parameter of {name} must be one of {list(get_args(CIMethod))}. "
                f"Got {self.ci_method!r} instead."
            )
        qs = self.quantiles
        if (
            isinstance(qs, str)
            or not isinstance(qs, Sequence)
            or not all(isinstance(q, float | int) and 0 < q < 1 for q in qs)
        ):
            raise FunnelkitError(
                f"The 'quantiles' parameter of {name} must be a sequence of numbers in (0, 1). "
                f"Got {qs!r} instead."
            )

    def _transitions(self, journeys: Journeys) -> list[tuple[str, str]]:
        names = journeys.stage_names
        out = list(itertools.pairwise(names))
        extra = self.pairs or ()
        if isinstance(extra, str) or not all(
            isinstance(p, tuple | list) and len(p) == 2 and all(isinstance(s, str) for s in p)
            for p in extra
        ):
            raise FunnelkitError(
                "The 'pairs' parameter of ConversionFitter must be a sequence of "
                f"(source, target) stage-name pairs. Got {extra!r} instead."
            )
        for source, target in extra:
            for stage in (source, target):
                if stage not in names:
                    raise FunnelkitError(f"No stage named {stage!r}; stages are {list(names)}.")
            if source == target:
                raise FunnelkitError(
                    f"A transition needs two different stages, got {source!r} twice."
                )
            if (source, target) not in out:
                out.append((source, target))
        if not out:
            raise FunnelkitError(
                f"The journeys have a single stage {names[0]!r}: there is no transition. Pass "
                "pairs=[...] or use a funnel with at least two stages."
            )
        return out

    # ------------------------------------------------------------------ results
    def estimate(self, source: str, target: str, segment: str | None = None) -> TransitionEstimate:
        """The estimate for ``source → target`` (in one ``segment`` if fitted with ``by``)."""
        self._check_fitted()
        found = self.result_.estimate(source, target, segment)
        return self.estimates_[(found.source, found.target, found.segment)]

    def window_rate(self, source: str, target: str, segment: str | None = None) -> WindowRate:
        """The step's estimand when ``target`` has a conversion window: ``rate_within``.

        Examples
        --------
        >>> from funnelkit.datasets.conversion import simulate_transitions
        >>> sim = simulate_transitions(1000, seed=2)
        >>> fitter = ConversionFitter(windows={"member": 7}).fit(sim.journeys)
        >>> fitter.window_rate("visitor", "member").window
        7.0
        """
        self._check_fitted()
        window = (self.windows or {}).get(target)
        if window is None:
            raise FunnelkitError(
                f"Stage {target!r} has no conversion window; give one with "
                f"ConversionFitter(windows={{{target!r}: 30}}) (or Stage(within=30) and "
                f"windows=funnel.windows), or ask estimate(...).rate_within(window)."
            )
        return self.estimate(source, target, segment).rate_within(float(window))

    def summary(
        self, backend: Backend = "pandas", *, segments: bool = True, coefficients: bool = False
    ) -> Any:
        """The estimates table: one row per transition, then one per segment if fitted ``by``.

        Columns ``source, target`` (``segment``), the eventual conversion rate as
        ``estimate, std_error, lower, upper``, then the naive rate and the median time to
        convert with their bounds (see :meth:`ConversionSummary.summary`).
        :meth:`conversion_summary` gives the same table as a result object. With
        ``coefficients=True``, the covariate coefficient table instead (columns
        ``transition, part, covariate, estimate, std_error, lower, upper``; fit with
        ``covariates=`` first).

        Examples
        --------
        >>> from funnelkit.datasets.conversion import simulate_transitions
        >>> fitter = ConversionFitter().fit(simulate_transitions(1000, seed=2).journeys)
        >>> fitter.summary()[["source", "target"]].values.tolist()
        [['visitor', 'member'], ['member', 'buyer']]
        """
        self._check_fitted()
        if coefficients:
            return self._covariate_fit().coefficients(backend)
        return self.result_.summary(backend, segments=segments)

    def conversion_summary(self, *, segments: bool = True) -> ConversionSummary:
        """The conversion table as a :class:`ConversionSummary` (text, HTML, plot, JSON)."""
        self._check_fitted()
        return self.result_.conversion_summary(segments=segments)

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise the fitted model (settings and result; no data, no pickle)."""
        self._check_fitted()
        settings = self.get_params()
        settings["pairs"] = None if self.pairs is None else [list(p) for p in self.pairs]
        settings["quantiles"] = [float(q) for q in self.quantiles]
        return SavedConversion(settings=settings, result=self.result_).model_dump_json(
            indent=indent
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ConversionFitter:
        """Load a model written by :meth:`to_json`; it answers exactly like the original.

        >>> from funnelkit.datasets.conversion import simulate_transitions
        >>> fitter = ConversionFitter().fit(simulate_transitions(1000, seed=2).journeys)
        >>> loaded = ConversionFitter.from_json(fitter.to_json())
        >>> loaded.estimate("visitor", "member") == fitter.estimate("visitor", "member")
        True
        """
        try:
            doc = SavedConversion.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise FunnelkitError(
                f"This JSON is not a saved ConversionFitter ({exc.error_count()} problem(s), "
                f"first: {first['msg']} at {first['loc']}). Write it with "
                "ConversionFitter.to_json() from a fitted model."
            ) from None
        settings = dict(doc.settings)
        if settings.get("pairs") is not None:
            settings["pairs"] = [tuple(p) for p in settings["pairs"]]
        if "quantiles" in settings:
            settings["quantiles"] = tuple(settings["quantiles"])
        model = cls(**settings)
        model._set_result(doc.result)
        return model

    def trends(
        self,
        journeys: Journeys,
        source: str,
        target: str,
        *,
        by: str = "week",
        window: float | None = None,
    ) -> FunnelTrends:
        """Conversion of ``source -> target`` by entry cohort (``"day"``, ``"week"``, ...).

        Naive, eventual (censoring-aware) and within-``window`` rates per cohort, with this
        fitter's settings; the delay family is the one chosen for the transition when the
        fitter has been fitted. See :func:`funnelkit.conversion.trends.funnel_trends`.

        Examples
        --------
        >>> from funnelkit import EventLog, Funnel
        >>> from funnelkit.datasets import simulate_community
        >>> sim = simulate_community(3_000, seed=1)
        >>> log = EventLog.from_frame(sim.events, value_col="value")
        >>> journeys = Funnel.community().journeys(log, observation_end=sim.observation_end)
        >>> trends = ConversionFitter().trends(journeys, "visitor", "member", by="month")
        >>> [r.cohort for r in trends.rows][:2]
        ['2024-01', '2024-02']
        """
        from funnelkit.conversion.trends import funnel_trends

        self._check_settings()
        model = self.model
        if self.is_fitted and (source, target) in self.transitions_:
            model = self.estimate(source, target).model
        return funnel_trends(
            journeys,
            source,
            target,
            by=by,
            window=window,
            model=model,
            conf_level=float(self.conf_level),
            ci_method=self.ci_method,
        )

    def predict_conversion(
        self,
        source: str,
        target: str,
        covariates: Any,
        *,
        horizon: float | None = None,
        conf_level: float | None = None,
    ) -> Any:
        """Eventual share (and conversion by ``horizon``) per covariate profile.

        See :meth:`CovariateConversion.predict`; ``covariates`` maps each covariate to one
        value per profile.

        Examples
        --------
        >>> from funnelkit.datasets import simulate_covariate_conversion
        >>> sim = simulate_covariate_conversion(3000, seed=1)
        >>> fitter = ConversionFitter().fit(sim.journeys, covariates=["channel", "member"])
        >>> table = fitter.predict_conversion(
        ...     "visitor", "buyer", {"channel": ["email", "social"], "member": [1, 1]},
        ...     horizon=30.0)
        >>> bool(table["eventual_share"][1] > table["eventual_share"][0])
        True
        """
        return self._covariate_fit().predict(
            source, target, covariates, horizon=horizon, conf_level=conf_level
        )

    def segment_comparison(self) -> SegmentComparison:
        """Tests of whether segments convert differently (fit with ``by=`` first)."""
        self._check_fitted()
        if self.comparison_ is None and self.by_ is not None:
            raise FunnelkitError(
                "The segment tests were skipped: fit with by=..., compare=True (the default)."
            )
        if self.comparison_ is None:
            raise FunnelkitError("Segment tests need segments: fit with by='<attribute>' first.")
        return self.comparison_

    def plot_funnel(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Funnel chart of naive and eventual rates with their intervals."""
        return self.conversion_summary(segments=False).plot(ax=ax, **kwargs)

    def plot_conversion_curve(
        self,
        source: str,
        target: str,
        segment: str | None = None,
        *,
        ax: Axes | None = None,
        **kwargs: Any,
    ) -> Axes:
        """Kaplan-Meier cumulative conversion with its band and the cure model overlaid."""
        return self.estimate(source, target, segment).plot(ax=ax, **kwargs)

    def _fitted_summary(self) -> str:
        # The eventual rates of the overall transitions, the numbers a reader looks for first.
        rates = [
            f"{e.source}->{e.target} "
            + ("not estimable" if e.eventual_rate is None else f"{e.eventual_rate:.1%}")
            for e in self.result_.estimates
            if e.segment is None
        ]
        by = f" by {self.by_}" if self.by_ else ""
        return f"{self.n_customers_:,} journeys{by}: eventual rates " + ", ".join(rates)


def _check_durations(
    journeys: Journeys, index: np.ndarray, durations: np.ndarray, source: str
) -> None:
    bad = ~np.isfinite(durations) | (durations < 0)
    if bad.any():
        ids = journeys.customer_ids[index[bad]]
        raise DataError(
            f"{int(bad.sum())} customer(s) who entered {source!r} have a censoring time that is "
            f"missing or before their entry (e.g. {format_examples(ids)}). Every censoring time "
            "must be at or after the customer's stage entries; build journeys with "
            "Funnel.journeys(log, observation_end=...)."
        )


class SavedConversion(BaseModel):
    """The JSON document of a fitted :class:`ConversionFitter`: settings and result."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
    fitter: Literal["ConversionFitter"] = "ConversionFitter"
    settings: dict[str, Any]
    result: ConversionResult
