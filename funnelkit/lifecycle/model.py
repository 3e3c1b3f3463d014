"""LifecycleModel: what each stage of the funnel is worth, from one event log."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from funnelkit._blas import single_threaded_blas
from funnelkit._estimator import Estimator
from funnelkit._frames import Backend
from funnelkit.conversion import TransitionEstimate
from funnelkit.events import EventLog
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle import _persist
from funnelkit.lifecycle._bootstrap import (
    VALUE_PROGRESS_WORK,
    check_n_jobs,
    estimate,
    failure_reason,
    resolve_progress,
    run_replicates,
)
from funnelkit.lifecycle._components import Components, fit_components
from funnelkit.lifecycle._data import CustomerTable, build_table
from funnelkit.lifecycle._fitted import (
    draw_seed,
    interval_method,
    stage_value_results,
    value_grid,
)
from funnelkit.lifecycle._measured import customer_table, table_notes
from funnelkit.lifecycle._rows import SampleWeights
from funnelkit.lifecycle.results import AdvanceValue, StageValues
from funnelkit.lifecycle.state import POOLED_INSTEAD, ComponentsState, LifecycleFit, Replicate
from funnelkit.lifecycle.values import buyer_curves, new_buyer_values, stage_value_array
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["LifecycleModel"]

Progress = Callable[[str, int, int], None]

#: marks an alias keyword that was not passed (``random_state=None`` means "draw a seed")
_UNSET: Any = object()


class LifecycleModel(Estimator):
    """Funnel x lifetime value: the horizon value of each stage, channel and membership.

    From one :class:`~funnelkit.EventLog` and a :class:`~funnelkit.Funnel`, ``fit`` estimates

    1. for every stage, the time from entering it to the first purchase, censoring-aware
       (a mixture cure model chosen by AIC, or Kaplan-Meier, via
       :class:`~funnelkit.conversion.ConversionFitter`), and the share of those purchases made
       as a community member;
    2. separately for buyers who were members at their first purchase and for those who were
       not, a purchase model (BG/NBD by default) and a Gamma-Gamma spend model;

    and combines them into the expected discounted value over ``horizon`` of a customer who
    has *just entered* each stage (:meth:`stage_values`; derivation in
    :mod:`funnelkit.lifecycle.values` and ``docs/lifecycle_value.md``).

    A customer *has just entered* a stage at the moment of the event that put them in it
    (their first ``touch``, ``visit``, ``join``; their second purchase for ``repeat_buyer``).
    Their value counts the purchases from that moment on -- the first purchase, when it is
    still to come, and every later one within the horizon -- and not the purchases before.

    Intervals come from a bootstrap over customers: ``n_resamples`` samples of the customers
    with replacement, on which every component is refitted (the delay family chosen on the
    full data is kept; purchase parameters start from the full-data estimates) and the values
    recomputed; intervals are percentile intervals, and differences between stages are
    computed within each sample, so they account for the correlation between stages.

    Parameters
    ----------
    horizon : float, default 12
        Length of the valuation horizon in ``time_unit``.
    time_unit : str, default "month"
        Unit of the horizon and of the discount rate (a month is 365.25/12 days).
    discount_rate : float, default 0
        Discount rate per ``time_unit``; a purchase ``t`` units after entry is worth
        ``(1 + discount_rate) ** -t`` of its value (continuous discounting).
    period : str, default "day"
        Calendar period of the purchase summaries (recency/frequency/T: purchases in one
        period count once) and the unit in which the models are fitted and times to first
        purchase are reported. Short periods keep frequent buyers' purchases apart.
    purchase_model : {"bgnbd", "mbgnbd", "paretonbd"} or an unfitted purchase fitter
        Repeat-purchase model after the first purchase; a fitter instance is used as a
        template (its settings are copied for every fit).
    conversion_model : {"auto", "exponential", "weibull", "lognormal", "kaplan-meier"}
        Delay distribution of the time to first purchase (``"auto"``: lowest AIC).
    membership_stage : str or None, default "member"
        The stage that makes a customer a community member. Buyers who had reached it at
        their first purchase are *members*, the others *non-members*; each group gets its own
        purchase and spend models. None (or a funnel without that stage): one group.
    purchase_events : sequence of str, default ("purchase",)
        Event types that are purchases.
    n_resamples : int, default 100
        Bootstrap samples for the intervals (0: no intervals). A sample on which a model
        cannot be fitted is left out and counted in the notes; when more than half cannot,
        the intervals are reported as not estimable (None).
    conf_level : float, default 0.95
        Level of every interval.
    seed : int or None, default 0
        Seed of the bootstrap: the same data and settings give the same intervals. None draws
        a fresh seed, recorded in ``seed_``.
    n_grid : int, default 200
        Steps of the integration grid over the horizon.
    n_jobs : int or None, default None
        Processes the bootstrap samples are spread over: a whole number, -1 for every core,
        or None to decide by size and load (one process for small data; from 2 million
        customers x samples, the cores other work leaves idle by the last minute's load
        average or, where fewer are busy now, by the tasks running now; at most 8). The
        intervals are the same for any value: each sample draws from its own seed. Workers
        are forked; where processes cannot be forked (Windows) the samples run one after
        another. The bootstraps of :meth:`segment_values`, :meth:`channel_value` and the
        two membership uplifts are spread the same way.
    progress : bool, callable or None, default None
        A bar as bootstrap samples finish: True draws one (tqdm in a terminal or Jupyter
        when ``funnelkit[progress]`` is installed, a line of text otherwise), False shows
        nothing, None draws one when the bootstrap is long (a million customers x samples)
        and a terminal or a notebook shows standard error. A callable is called as
        ``progress(step, done, total)`` instead
        (:class:`funnelkit.lifecycle._bootstrap.ProgressBar` is the bar). The same for the
        bootstraps of :meth:`segment_values` and :meth:`channel_value`, and for the two
        membership uplifts, which value the fitted samples again (a bar by default from
        ten million customers x samples).
    n_bootstrap, random_state
        Former names of ``n_resamples`` and ``seed``, still accepted (also by ``set_params``
        and as attributes).

    Attributes
    ----------
    fit_ : LifecycleFit
        Everything the predictions need (saved by :meth:`to_json`).
    customers_ : CustomerTable or None
        The per-customer training table (data: not saved; None on a model loaded from JSON).
    stage_values_ : StageValues
    first_purchase_ : dict of str to TransitionEstimate
        Time from entering each stage to the first purchase (entrants who had not bought).
    purchase_models_, spend_models_ : dict
        Group name → fitted purchase model / Gamma-Gamma model (None: constant spend).
    groups_ : tuple of str
    notes_ : tuple of str
        What was dropped, merged or replaced, and why.
    n_customers_ : int
    n_resamples_failed_ : int
        Bootstrap samples that could not be fitted (left out of the intervals); alias
        ``n_bootstrap_failed_``.
    seed_ : int
        The seed the bootstrap used (``seed``, or the one drawn when it is None); alias
        ``random_state_``.
    time_unit_ : TimeUnit
        The model unit (``period``): unit of the fitted models and of reported times.

    Examples
    --------
    >>> from funnelkit import EventLog, Funnel, LifecycleModel
    >>> from funnelkit.datasets import simulate_community
    >>> sim = simulate_community(10_000, seed=3)
    >>> log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    >>> model = LifecycleModel(horizon=52, time_unit="week", n_resamples=20, seed=0)
    >>> model = model.fit(log, Funnel.community(), observation_end=sim.observation_end)
    >>> values = model.stage_values()
    >>> values["visitor"].value < values["member"].value < values["repeat_buyer"].value
    True
    >>> gain = model.value_of_advancing("visitor", "member")
    >>> gain.ci[0] > 0
    True
    >>> loaded = LifecycleModel.from_json(model.to_json())
    >>> loaded.stage_values() == values
    True

    References
    ----------
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers" the Easy
    Way: An Alternative to the Pareto/NBD Model. *Marketing Science* 24(2), 275-284.
    Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using Iso-Value Curves
    for Customer Base Analysis. *Journal of Marketing Research* 42(4), 415-430.
    Maller, R. A. & Zhou, X. (1996). *Survival Analysis with Long-Term Survivors*. Wiley.
    Efron, B. & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall.
    """

    _fitted_marker: ClassVar[str] = "fit_"
    _fitted_attributes: ClassVar[tuple[str, ...]] = (
        "fit_",
        "customers_",
        "stage_values_",
        "first_purchase_",
        "purchase_models_",
        "spend_models_",
        "groups_",
        "notes_",
        "n_customers_",
        "n_resamples_failed_",
        "seed_",
        "time_unit_",
    )
    _fit_call: ClassVar[str] = "fit(log, funnel)"
    _setting_aliases: ClassVar[dict[str, str]] = {
        "n_bootstrap": "n_resamples",
        "random_state": "seed",
    }

    def __init__(
        self,
        *,
        horizon: float = 12.0,
        time_unit: TimeUnitLike = "month",
        discount_rate: float = 0.0,
        period: TimeUnitLike = "day",
        purchase_model: Any = "bgnbd",
        conversion_model: str = "auto",
        membership_stage: str | None = "member",
        purchase_events: Sequence[str] = ("purchase",),
        n_resamples: int = 100,
        conf_level: float = 0.95,
        seed: int | None = 0,
        n_grid: int = 200,
        n_jobs: int | None = None,
        progress: bool | Progress | None = None,
        n_bootstrap: int | None = None,
        random_state: Any = _UNSET,
    ) -> None:
        self.horizon = horizon
        self.time_unit = time_unit
        self.discount_rate = discount_rate
        self.period = period
        self.purchase_model = purchase_model
        self.conversion_model = conversion_model
        self.membership_stage = membership_stage
        self.purchase_events = purchase_events
        self.n_resamples = n_resamples if n_bootstrap is None else n_bootstrap
        self.conf_level = conf_level
        self.seed = seed if random_state is _UNSET else random_state
        self.n_grid = n_grid
        self.n_jobs = n_jobs
        self.progress = progress

    # ------------------------------------------------------------------ former names
    @property
    def n_bootstrap(self) -> int:
        """Former name of ``n_resamples``."""
        return self.n_resamples

    @n_bootstrap.setter
    def n_bootstrap(self, value: int) -> None:
        self.n_resamples = value

    @property
    def random_state(self) -> int | None:
        """Former name of ``seed``."""
        return self.seed

    @random_state.setter
    def random_state(self, value: int | None) -> None:
        self.seed = value

    @property
    def random_state_(self) -> int:
        """Former name of ``seed_``."""
        return self.fit_.seed

    @property
    def n_bootstrap_failed_(self) -> int:
        """Former name of ``n_resamples_failed_``."""
        return self.fit_.n_failed

    # ------------------------------------------------------------------ fitting
    def fit(
        self, log: EventLog, funnel: Funnel | None = None, observation_end: Any = None
    ) -> LifecycleModel:
        """Fit every component on ``log`` and compute the stage values with intervals.

        Parameters
        ----------
        log
            The events (stage events and purchases, with values if money is to be counted;
            without a value column every purchase is worth 1 and values are in purchases).
        funnel
            The stages; default :meth:`Funnel.community`.
        observation_end
            End of observation (a timestamp, or a number for numeric logs); default the last
            event. Later events are ignored (and counted in the notes).

        Returns
        -------
        LifecycleModel
            ``self``, fitted.
        """
        with single_threaded_blas():
            return self._fit(log, funnel, observation_end)

    def _fit(self, log: EventLog, funnel: Funnel | None, observation_end: Any) -> LifecycleModel:
        check_n_jobs(self.n_jobs, type(self).__name__)
        notes: list[str] = []
        table, unit = customer_table(self, log, funnel, observation_end, notes)
        grid = value_grid(
            self.horizon, self.time_unit, self.period, self.discount_rate, self.n_grid
        )

        def components(
            weights: np.ndarray | SampleWeights | None, template: Components | None = None
        ) -> Components:
            return fit_components(
                table,
                weights,
                purchase_model=self.purchase_model,
                conversion_model=self.conversion_model,
                conf_level=float(self.conf_level),
                template=template,
                horizon=grid.horizon,
            )

        try:
            comps = components(None)
        except FunnelkitError as exc:
            if len(table.group_names) == 1:
                raise
            # the reason without its remedies: the fallback is the remedy
            notes.append(f"{failure_reason(exc, limit=1000)}. {POOLED_INSTEAD}")
            table, _ = customer_table(
                self, log, funnel, observation_end, notes, by_membership=False
            )
            comps = components(None)
        curves = buyer_curves(comps, grid)
        point = stage_value_array(table, comps, grid, None, curves=curves)
        buyers = new_buyer_values(comps, grid, curves=curves)

        seed = draw_seed(self.seed)
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**63 - 1, size=int(self.n_resamples), dtype=np.int64)

        def replicate(weights: np.ndarray) -> tuple[ComponentsState, np.ndarray, np.ndarray]:
            sample = table.weight_plan.sample(weights)  # the fits' and values' row counts
            c = components(sample, template=comps)
            # Replicates are kept as parameters only: the fitters' copies of the training
            # rows would make a hundred replicates of a million customers cost gigabytes.
            curves = buyer_curves(c, grid)  # shared by the stage and the new-buyer values
            values = stage_value_array(table, c, grid, sample, curves=curves)
            return ComponentsState.of(c), values, new_buyer_values(c, grid, curves=curves)

        progress = resolve_progress(
            self.progress, n_customers=table.n_customers, n_resamples=int(self.n_resamples)
        )
        if seeds.size:
            table.prepare_refits()
        results, failures = run_replicates(
            seeds, table.n_customers, replicate, progress, n_jobs=self.n_jobs
        )
        table.forget_refit_caches()  # the fitted model keeps the table, not the refits'
        failure_note = failures.note()
        if failure_note is not None:
            notes.append(failure_note)
        if failures.too_many:
            results = []
        boot_values = np.array([r[1] for _, r in results]).reshape(len(results), point.size)
        boot_buyers = np.array([r[2] for _, r in results]).reshape(len(results), buyers.size)
        notes += table_notes(table) + comps.notes
        notes = list(dict.fromkeys(notes))
        level = float(self.conf_level)
        header = {
            "horizon": float(self.horizon),
            "time_unit": TimeUnit.parse(self.time_unit),
            "discount_rate": float(self.discount_rate),
            "conf_level": level,
            "n_resamples": len(results),
            "interval_method": interval_method(failures, len(results)),
            "value_unit": "money" if table.has_values else "purchases",
        }
        stage_values = stage_value_results(table, point, boot_values, buyers, boot_buyers, level)
        fit = LifecycleFit(
            funnel=funnel if funnel is not None else Funnel.community(),
            period=unit,
            purchase_events=tuple(self.purchase_events),
            purchase_model=self.purchase_model if isinstance(self.purchase_model, str) else None,
            conversion_model=str(self.conversion_model),
            membership_stage=table.membership_stage,
            stage_names=table.stage_names,
            group_names=table.group_names,
            observation_end=float(table.observation_end),
            grid_horizon=grid.horizon,
            grid_delta=grid.delta,
            n_grid=grid.n_grid,
            components=ComponentsState.of(comps),
            first_purchase=dict(comps.estimates),
            seed=seed,
            seeds=tuple(int(s) for s in seeds),
            replicates=tuple(Replicate(seed=s, components=r[0]) for s, r in results),
            n_failed=failures.count,
            point_values=tuple(float(v) for v in point),
            bootstrap_values=tuple(tuple(float(v) for v in row) for row in boot_values),
            stage_values=StageValues(
                stages=stage_values[0], buyer_values=stage_values[1], notes=tuple(notes), **header
            ),
            n_customers=table.n_customers,
            notes=tuple(notes),
            **{k: v for k, v in header.items() if k != "n_resamples"},
        )
        self._set_fitted(fit, table)
        self.purchase_models_ = {g.name: g.purchase for g in comps.groups}
        self.spend_models_ = {g.name: g.spend for g in comps.groups}
        return self

    def _set_fitted(self, fit: LifecycleFit, customers: CustomerTable | None) -> None:
        self.fit_ = fit
        self.customers_ = customers
        self.stage_values_ = fit.stage_values
        self.first_purchase_: dict[str, TransitionEstimate] = dict(fit.first_purchase)
        self.groups_ = fit.group_names
        self.time_unit_ = fit.period
        self.n_customers_ = fit.n_customers
        self.n_resamples_failed_ = fit.n_failed
        self.seed_ = fit.seed
        self.notes_ = fit.notes

    # ------------------------------------------------------------------ saving
    def _fitted_summary(self) -> str:
        values = self.stage_values_
        shown = ", ".join(
            f"{name} " + ("not estimable" if sv.value is None else f"{sv.value:,.2f}")
            for name, sv in values.items()
        )
        return f"{self.n_customers_:,} customers: stage values {shown}"

    def _fitted_html(self) -> str:
        return self.stage_values_.as_html()

    def to_json(self, *, indent: int | None = None) -> str:
        """The fitted model as JSON: settings and :attr:`fit_` (no customers, no pickle).

        :meth:`from_json` loads a model that gives the same stage values and scores new
        customers with the same numbers.
        """
        self._check_fitted()
        return _persist.dump(self.get_params(), self.fit_, indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> LifecycleModel:
        """Load a model written by :meth:`to_json`.

        The training customers are not saved: :meth:`score`, :meth:`segment_values` and
        :meth:`membership_uplift` of a loaded model take the events as ``log``.
        """
        settings, fit = _persist.load(text)
        model = cls(**settings)
        model._set_fitted(fit, None)
        comps = fit.main_components()
        model.purchase_models_ = {g.name: g.purchase for g in comps.groups}
        model.spend_models_ = {g.name: g.spend for g in comps.groups}
        return model

    # ------------------------------------------------------------------ results
    def stage_values(self) -> StageValues:
        """Stage name → value (with ``ci``) of a customer who has just entered it."""
        self._check_fitted()
        return self.stage_values_

    def summary(self, backend: Backend = "pandas") -> Any:
        """The stage values as a frame; see :meth:`StageValues.summary`."""
        self._check_fitted()
        return self.stage_values_.summary(backend)

    def value_of_advancing(self, source: str, target: str) -> AdvanceValue:
        """Value created when a customer moves from ``source`` to ``target``.

        ``V(target) - V(source)``: how much more a customer who has just entered ``target`` is
        worth than one who has just entered ``source`` (e.g. what one new community member
        is worth beyond a visitor). The interval is computed within each bootstrap sample.
        It describes customers who advanced; it is not the causal effect of making them do so.
        """
        self._check_fitted()
        fit = self.fit_
        names = fit.stage_names
        for stage in (source, target):
            if stage not in names:
                raise FunnelkitError(f"No stage named {stage!r}; stages are {list(names)}.")
        i, j = names.index(source), names.index(target)
        point = float(fit.point_values[j] - fit.point_values[i])
        boot = np.array(fit.bootstrap_values, dtype=float).reshape(-1, len(names))
        est = estimate(point, boot[:, j] - boot[:, i], fit.conf_level)
        sv = fit.stage_values
        return AdvanceValue(
            source=source,
            target=target,
            value=est.value,
            ci=est.ci,
            std_error=est.std_error,
            source_value=sv[source].value,
            target_value=sv[target].value,
            **fit.header(),
        )

    def customers(self, log: EventLog | None = None, observation_end: Any = None) -> CustomerTable:
        """The customer table of ``log`` under the fitted funnel (default: the training one).

        Raises a :class:`~funnelkit.FunnelkitError` on a model loaded from JSON without a
        ``log``: the training customers are data and are not saved with the model.
        """
        self._check_fitted()
        if log is None:
            if self.customers_ is None:
                raise FunnelkitError(
                    "This LifecycleModel was loaded from JSON and holds no customers: pass the "
                    "events as log=EventLog.from_frame(...) (with observation_end=...)."
                )
            return self.customers_
        fit = self.fit_
        if not isinstance(log, EventLog):
            raise FunnelkitError(
                f"log must be an EventLog, got {type(log).__name__}; build one with "
                "EventLog.from_frame(frame, ...)."
            )
        return build_table(
            log,
            fit.funnel,
            observation_end=observation_end,
            unit=fit.period,
            purchase_events_=fit.purchase_events,
            membership_stage=fit.membership_stage,
            fitted_groups=True,
        )

    def _value_samples(self, customers: CustomerTable) -> dict[str, Any]:
        """``progress`` and ``n_jobs`` of a comparison that values the fitted bootstrap
        samples again (no refits): this model's settings, a bar only where it is long."""
        return {
            "progress": resolve_progress(
                self.progress,
                n_customers=customers.n_customers,
                n_resamples=len(self.fit_.replicates),
                work=VALUE_PROGRESS_WORK,
            ),
            "n_jobs": self.n_jobs,
        }

    def segment_values(
        self, by: str = "channel", *, log: EventLog | None = None, observation_end: Any = None
    ) -> Any:
        """Per segment of a customer attribute: reach, conversion, buyer value, value per prospect.

        ``log`` (default: the training customers) gives the customers to segment; a model
        loaded from JSON needs it. See :func:`funnelkit.lifecycle.segments.segment_values`.
        """
        from funnelkit.lifecycle.segments import segment_values

        customers = self.customers(log, observation_end)
        with single_threaded_blas():
            return segment_values(
                self.fit_, customers, by, progress=self.progress, n_jobs=self.n_jobs
            )

    def membership_uplift(
        self,
        strata: Sequence[str] | None = None,
        *,
        log: EventLog | None = None,
        observation_end: Any = None,
    ) -> Any:
        """Members vs comparable non-member buyers.

        ``log`` as in :meth:`segment_values`. See
        :func:`funnelkit.lifecycle.uplift.membership_uplift`.
        """
        from funnelkit.lifecycle.uplift import membership_uplift

        customers = self.customers(log, observation_end)
        with single_threaded_blas():
            return membership_uplift(self.fit_, customers, strata, **self._value_samples(customers))

    def membership_uplift_from_join(
        self,
        *,
        window: float | None = None,
        step: float | None = None,
        log: EventLog | None = None,
        observation_end: Any = None,
    ) -> Any:
        """Members from their join vs comparable non-members still waiting at that moment.

        Landmark matching on channel, entry cohort and purchases so far, reported beside
        :meth:`membership_uplift`, with an E-value. ``window`` and ``step`` are in the model
        period (default 90 and 7 days); ``log`` as in :meth:`segment_values`. See
        :func:`funnelkit.lifecycle.join_uplift.membership_uplift_from_join`.
        """
        from funnelkit.lifecycle.join_uplift import membership_uplift_from_join

        customers = self.customers(log, observation_end)
        with single_threaded_blas():
            return membership_uplift_from_join(
                self.fit_, customers, window=window, step=step, **self._value_samples(customers)
            )

    def channel_value(
        self,
        costs: Any,
        *,
        margin: float = 1.0,
        by: str = "channel",
        log: EventLog | None = None,
        observation_end: Any = None,
        backend: Backend | None = None,
    ) -> Any:
        """Does each channel pay for itself? Cost, value per prospect, ROI and payback.

        ``costs`` is a frame (pandas, polars or pyarrow) with columns ``channel`` and
        ``cost``, optionally ``period`` (spend by month). Value is ``margin`` x the expected
        spend of a prospect over the horizon, discounted as the model is; the intervals come
        from the same bootstrap samples as the stage values. ``log`` as in
        :meth:`segment_values`. Returns the table of
        :meth:`~funnelkit.lifecycle.economics_results.ChannelEconomics.summary` (columns
        ``channel, prospects, cost, cost_per_prospect, cost_per_buyer, value_per_prospect,
        value_per_prospect_lower, value_per_prospect_upper, roi, roi_lower, roi_upper,
        payback``) in ``backend`` (default: the library of ``costs``); the result object
        itself is :func:`funnelkit.lifecycle.economics.channel_economics`.

        Examples
        --------
        >>> import pandas as pd
        >>> from funnelkit import EventLog, Funnel, LifecycleModel
        >>> from funnelkit.datasets import simulate_community
        >>> sim = simulate_community(4_000, seed=3)
        >>> log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
        >>> model = LifecycleModel(n_resamples=0).fit(log, observation_end=sim.observation_end)
        >>> costs = pd.DataFrame({"channel": ["tiktok", "instagram"], "cost": [900.0, 1500.0]})
        >>> table = model.channel_value(costs, margin=0.4)
        >>> list(table["channel"])
        ['instagram', 'tiktok']
        """
        from funnelkit.lifecycle.economics import channel_economics

        customers = self.customers(log, observation_end)
        with single_threaded_blas():
            result = channel_economics(
                self.fit_,
                customers,
                costs,
                margin=margin,
                by=by,
                progress=self.progress,
                n_jobs=self.n_jobs,
            )
        return result.summary(backend if backend is not None else _backend_of(costs))

    def score(
        self,
        log: EventLog | None = None,
        *,
        observation_end: Any = None,
        backend: str | None = None,
    ) -> Any:
        """Score customers as of the observation end: stage, P(alive), purchases, value.

        ``log`` holds the events of the customers to score (new customers too); default the
        training customers. See :func:`funnelkit.lifecycle.scoring.score_customers`.
        """
        from funnelkit.lifecycle.scoring import score_customers

        customers = self.customers(log, observation_end)
        return score_customers(self.fit_, customers, backend=backend)

    def covariate_comparison(
        self,
        by: str | None = "channel",
        *,
        log: EventLog | None = None,
        observation_end: Any = None,
    ) -> Any:
        """Channel and membership effects on buying, dropout and spend, adjusted for each other.

        One purchase model (this model's family) and one Gamma-Gamma model are fitted on all
        buyers with the attribute ``by`` (reference: the channel with most buyers) and
        membership as covariates, so members are compared with non-members from the same
        channel and channels with the same membership. ``log`` as in :meth:`segment_values`.
        Returns a :class:`~funnelkit.lifecycle.covariate_effects.CovariateComparison`; see
        :func:`funnelkit.lifecycle.covariate_effects.covariate_comparison`.
        """
        from funnelkit.lifecycle.covariate_effects import covariate_comparison

        self._check_fitted()
        customers = self.customers(log, observation_end)
        with single_threaded_blas():
            return covariate_comparison(
                self.fit_, customers, by, purchase_model=self.purchase_model
            )


def _backend_of(frame: Any) -> Backend:
    """The frame library of ``frame`` (pandas when it cannot be told)."""
    module = type(frame).__module__.split(".")[0]
    if module == "polars":
        return "polars"
    if module == "pyarrow":
        return "pyarrow"
    return "pandas"
