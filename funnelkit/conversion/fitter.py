"""ConversionFitter: censoring-aware conversion for every transition of a funnel."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, get_args

import numpy as np

from funnelkit._floating import underflow_is_zero
from funnelkit._results import html_table
from funnelkit.conversion.comparison import SegmentComparison, holm_by_test, transition_tests
from funnelkit.conversion.estimate import estimate_transition
from funnelkit.conversion.kaplan_meier import CIMethod
from funnelkit.conversion.results import TransitionEstimate
from funnelkit.conversion.segments import check_by, segment_codes
from funnelkit.conversion.summary import ConversionRow, ConversionSummary
from funnelkit.exceptions import DataError, FunnelkitError, NotFittedError, format_examples
from funnelkit.journeys import Journeys
from funnelkit.units import TimeUnit

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ConversionFitter"]

_MODELS = ("auto", "exponential", "weibull", "lognormal", "kaplan-meier")
Key = tuple[str, str, str | None]


class ConversionFitter:
    """Censoring-aware stage conversion: how many will *eventually* move on, and how fast.

    For every adjacent pair of stages (and any extra ``pairs``), among the customers who
    entered the source stage: the naive rate (converted / entered, Wilson interval), the
    Kaplan-Meier cumulative conversion by time since entry (Greenwood variance, log-log or
    linear band), and a mixture cure model (Maller & Zhou 1996) whose share ``p`` of eventual
    converters is the eventual conversion rate and whose delay distribution gives the time to
    convert. Nobody who is still waiting counts as lost.

    Parameters
    ----------
    model : {"auto", "exponential", "weibull", "lognormal", "kaplan-meier"}, default "auto"
        Delay distribution of the cure model; ``"auto"`` fits all three and keeps the lowest
        AIC (reported in ``model_aic``). ``"kaplan-meier"`` fits no model: the eventual rate
        is the Kaplan-Meier plateau, which is right only with long enough follow-up.
    conf_level : float, default 0.95
        Level of every interval, in (0, 1).
    ci_method : {"log-log", "linear"}, default "log-log"
        Kaplan-Meier band: log-log ("exponential Greenwood", as lifelines) or plain Greenwood.
    pairs : sequence of (source, target), optional
        Extra stage pairs to estimate besides the adjacent ones, e.g. ``[("visitor",
        "repeat_buyer")]``.
    quantiles : sequence of float, default (0.25, 0.5, 0.75, 0.9)
        Quantiles of the time to convert (among eventual converters) to report.

    Attributes
    ----------
    estimates_ : dict
        ``(source, target, segment)`` → :class:`TransitionEstimate` (segment None: everyone).
    transitions_ : tuple of (str, str)
        The fitted transitions, adjacent ones first.
    segments_ : dict
        ``(source, target)`` → tuple of segment labels (empty without ``by``).
    comparison_ : SegmentComparison or None
        Tests of whether segments differ (None without ``by``).
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

    def __init__(
        self,
        *,
        model: str = "auto",
        conf_level: float = 0.95,
        ci_method: CIMethod = "log-log",
        pairs: Sequence[tuple[str, str]] | None = None,
        quantiles: Sequence[float] = (0.25, 0.5, 0.75, 0.9),
    ) -> None:
        self.model = model
        self.conf_level = conf_level
        self.ci_method = ci_method
        self.pairs = pairs
        self.quantiles = quantiles

    def get_params(self) -> dict[str, Any]:
        """The constructor settings (scikit-learn convention)."""
        return {
            k: getattr(self, k) for k in ("model", "conf_level", "ci_method", "pairs", "quantiles")
        }

    def __repr__(self) -> str:
        defaults = ConversionFitter().get_params()
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != defaults[k])
        return f"ConversionFitter({shown})"

    # ------------------------------------------------------------------ fitting
    @underflow_is_zero
    def fit(self, journeys: Journeys, *, by: str | None = None) -> ConversionFitter:
        """Estimate every transition (and every segment's, with ``by``).

        Parameters
        ----------
        journeys
            Stage entry times with censoring, from :meth:`funnelkit.Funnel.journeys`.
        by
            A customer attribute in ``journeys.attributes`` (e.g. ``"channel"``), or an
            entry cohort: ``"cohort:week"``, ``"cohort:month"``, ``"cohort:day"``,
            ``"cohort:year"`` (the period in which each customer entered the source stage).

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
        transitions = self._transitions(journeys)
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
            return estimate_transition(
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

        for source, target in transitions:
            index, durations, converted = journeys.transition(source, target)
            _check_durations(journeys, index, durations, source)
            pooled = run((source, target), durations, converted, None, self.model)
            estimates[(source, target, None)] = pooled
            segments[(source, target)] = ()
            if by is None:
                continue
            codes, labels = segment_codes(journeys, by, index, source)
            segments[(source, target)] = labels
            # Segments reuse the delay family chosen for everyone, so they are comparable
            # and nested in the pooled model for the likelihood-ratio test.
            seg_estimates = []
            for g, label in enumerate(labels):
                rows = codes == g
                est = run((source, target), durations[rows], converted[rows], label, pooled.model)
                estimates[(source, target, label)] = est
                seg_estimates.append(est)
            if len(labels) < 2:
                notes.append(f"{source} -> {target}: a single segment, nothing to compare")
                continue
            overall, pairs, extra = transition_tests(
                durations, converted, codes, labels, pooled, seg_estimates
            )
            tests.extend(overall)
            pairwise.extend(pairs)
            notes.extend(extra)
        self.estimates_ = estimates
        self.transitions_ = tuple(transitions)
        self.segments_ = segments
        self.by_ = by
        self.comparison_ = (
            None
            if by is None
            else SegmentComparison(
                by=by,
                tests=tuple(holm_by_test(tests)),
                pairwise=tuple(pairwise),
                notes=tuple(notes),
            )
        )
        self.time_unit_: TimeUnit = journeys.time_unit
        self.n_customers_ = len(journeys)
        return self

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
    def _check_fitted(self) -> None:
        if "estimates_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(journeys) first."
            )

    def __getattr__(self, name: str) -> Any:
        if name.endswith("_") and not name.startswith("_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(journeys) before "
                f"using '{name}'."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def estimate(self, source: str, target: str, segment: str | None = None) -> TransitionEstimate:
        """The estimate for ``source → target`` (in one ``segment`` if fitted with ``by``)."""
        self._check_fitted()
        if (source, target) not in self.segments_:
            fitted = [f"{s} -> {t}" for s, t in self.transitions_]
            raise FunnelkitError(
                f"No fitted transition {source!r} -> {target!r}; fitted: {fitted}. Ask for other "
                "stage pairs with ConversionFitter(pairs=[(source, target)])."
            )
        if segment is not None:
            labels = self.segments_[(source, target)]
            if self.by_ is None:
                raise FunnelkitError("This fitter has no segments: fit it with by=... first.")
            if segment not in labels:
                raise FunnelkitError(
                    f"No segment {segment!r} of {self.by_!r} for {source} -> {target}; segments: "
                    f"{format_examples(list(labels), limit=20)}."
                )
        return self.estimates_[(source, target, segment)]

    def summary(self, *, segments: bool = True) -> ConversionSummary:
        """The conversion table: one row per transition, then one per segment if fitted ``by``."""
        self._check_fitted()
        rows = []
        for source, target in self.transitions_:
            rows.append(ConversionRow.from_estimate(self.estimates_[(source, target, None)]))
            if segments:
                for label in self.segments_[(source, target)]:
                    rows.append(
                        ConversionRow.from_estimate(self.estimates_[(source, target, label)])
                    )
        return ConversionSummary(
            rows=tuple(rows),
            conf_level=float(self.conf_level),
            time_unit=self.time_unit_,
            by=self.by_,
        )

    def segment_comparison(self) -> SegmentComparison:
        """Tests of whether segments convert differently (fit with ``by=`` first)."""
        self._check_fitted()
        if self.comparison_ is None:
            raise FunnelkitError("Segment tests need segments: fit with by='<attribute>' first.")
        return self.comparison_

    def plot_funnel(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Funnel chart of naive and eventual rates with their intervals."""
        return self.summary(segments=False).plot(ax=ax, **kwargs)

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

    def _repr_html_(self) -> str:
        if "estimates_" not in self.__dict__:
            return html_table({"fitted": False}, caption=repr(self))
        return self.summary().as_html()


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
