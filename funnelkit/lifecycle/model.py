"""LifecycleModel: what each stage of the funnel is worth, from one event log."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funnelkit._blas import single_threaded_blas
from funnelkit.conversion import TransitionEstimate
from funnelkit.events import EventLog
from funnelkit.exceptions import FunnelkitError, NotFittedError
from funnelkit.lifecycle._bootstrap import (
    MIN_REPLICATES,
    ReplicateFailures,
    estimate,
    run_replicates,
)
from funnelkit.lifecycle._components import Components, fit_components
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle._measured import customer_table, table_notes
from funnelkit.lifecycle._settings import same_setting
from funnelkit.lifecycle.results import AdvanceValue, StageValue, StageValues
from funnelkit.lifecycle.values import ValueGrid, new_buyer_values, stage_value_array
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnit, TimeUnitLike

__all__ = ["LifecycleModel"]

Progress = Callable[[str, int, int], None]


class LifecycleModel:
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

    Intervals come from a bootstrap over customers: ``n_bootstrap`` samples of the customers
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
    n_bootstrap : int, default 100
        Bootstrap samples for the intervals (0: no intervals). A sample on which a model
        cannot be fitted is left out and counted in the notes; when more than half cannot,
        the intervals are reported as not estimable (None).
    conf_level : float, default 0.95
        Level of every interval.
    random_state : int or None, default 0
        Seed of the bootstrap: the same data and settings give the same intervals. None draws
        a fresh seed, recorded in ``random_state_``.
    n_grid : int, default 200
        Steps of the integration grid over the horizon.
    progress : callable, optional
        ``progress(step, done, total)`` is called as bootstrap samples finish.

    Attributes
    ----------
    stage_values_ : StageValues
    first_purchase_ : dict of str to TransitionEstimate
        Time from entering each stage to the first purchase (entrants who had not bought).
    purchase_models_, spend_models_ : dict
        Group name → fitted purchase model / Gamma-Gamma model (None: constant spend).
    groups_ : tuple of str
    notes_ : tuple of str
        What was dropped, merged or replaced, and why.
    n_customers_ : int
    n_bootstrap_failed_ : int
        Bootstrap samples that could not be fitted (left out of the intervals).
    random_state_ : int
        The seed the bootstrap used (``random_state``, or the one drawn when it is None).
    time_unit_ : TimeUnit
        The model unit (``period``): unit of the fitted models and of reported times.

    Examples
    --------
    >>> from funnelkit import EventLog, Funnel, LifecycleModel
    >>> from funnelkit.datasets import simulate_community
    >>> sim = simulate_community(10_000, seed=3)
    >>> log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    >>> model = LifecycleModel(horizon=52, time_unit="week", n_bootstrap=20, random_state=0)
    >>> model = model.fit(log, Funnel.community(), observation_end=sim.observation_end)
    >>> values = model.stage_values()
    >>> values["visitor"].value < values["member"].value < values["repeat_buyer"].value
    True
    >>> gain = model.value_of_advancing("visitor", "member")
    >>> gain.ci[0] > 0
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
        n_bootstrap: int = 100,
        conf_level: float = 0.95,
        random_state: int | None = 0,
        n_grid: int = 200,
        progress: Progress | None = None,
    ) -> None:
        self.horizon = horizon
        self.time_unit = time_unit
        self.discount_rate = discount_rate
        self.period = period
        self.purchase_model = purchase_model
        self.conversion_model = conversion_model
        self.membership_stage = membership_stage
        self.purchase_events = purchase_events
        self.n_bootstrap = n_bootstrap
        self.conf_level = conf_level
        self.random_state = random_state
        self.n_grid = n_grid
        self.progress = progress

    def get_params(self) -> dict[str, Any]:
        """The constructor settings (scikit-learn convention)."""
        return {k: getattr(self, k) for k in _SETTINGS}

    def __repr__(self) -> str:
        defaults = LifecycleModel().get_params()
        shown = ", ".join(
            f"{k}={v!r}" for k, v in self.get_params().items() if not same_setting(v, defaults[k])
        )
        return f"LifecycleModel({shown})"

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
        notes: list[str] = []
        table, unit = customer_table(self, log, funnel, observation_end, notes)
        try:
            comps = self._fit_components(table, None)
        except FunnelkitError as exc:
            if len(table.group_names) == 1:
                raise
            notes.append(f"{exc} One purchase model is fitted for all buyers instead.")
            table, _ = customer_table(
                self, log, funnel, observation_end, notes, by_membership=False
            )
            comps = self._fit_components(table, None)
        grid = self._grid()
        point = stage_value_array(table, comps, grid, None)
        buyers = new_buyer_values(comps, grid)

        seed = _seed(self.random_state)
        rng = np.random.default_rng(seed)
        seeds = rng.integers(0, 2**63 - 1, size=int(self.n_bootstrap), dtype=np.int64)

        def replicate(weights: np.ndarray) -> tuple[Components, np.ndarray, np.ndarray]:
            c = self._fit_components(table, weights, template=comps)
            _release_training_data(c)
            return c, stage_value_array(table, c, grid, weights), new_buyer_values(c, grid)

        results, failures = run_replicates(seeds, table.n_customers, replicate, self.progress)
        failure_note = failures.note()
        if failure_note is not None:
            notes.append(failure_note)
        if failures.too_many:
            results = []
        self._failures: ReplicateFailures = failures
        self._table: CustomerTable = table
        self._components = comps
        self._grid_ = grid
        self._seeds = seeds
        self._replicate_seeds = [s for s, _ in results]
        self._replicates = [r[0] for _, r in results]
        self._boot_values = np.array([r[1] for _, r in results]).reshape(len(results), point.size)
        boot_buyers = np.array([r[2] for _, r in results]).reshape(len(results), buyers.size)
        self._point_values = point

        notes += table_notes(table) + comps.notes
        self.first_purchase_: dict[str, TransitionEstimate] = dict(comps.estimates)
        self.purchase_models_ = {g.name: g.purchase for g in comps.groups}
        self.spend_models_ = {g.name: g.spend for g in comps.groups}
        self.groups_ = table.group_names
        self.time_unit_ = unit
        self.n_customers_ = table.n_customers
        self.n_bootstrap_failed_ = failures.count
        self.random_state_ = seed
        self.notes_ = tuple(dict.fromkeys(notes))
        self.stage_values_ = self._stage_values_result(point, buyers, boot_buyers)
        return self

    def _fit_components(
        self,
        table: CustomerTable,
        weights: np.ndarray | None,
        *,
        template: Components | None = None,
        pooled: Components | None = None,
        forced: frozenset[int] = frozenset(),
        strict: bool = False,
    ) -> Components:
        return fit_components(
            table,
            weights,
            purchase_model=self.purchase_model,
            conversion_model=self.conversion_model,
            conf_level=float(self.conf_level),
            template=template,
            pooled_fallback=pooled,
            forced_pooled=forced,
            strict=strict,
            horizon=self._grid().horizon,
        )

    def _grid(self) -> ValueGrid:
        per_unit = TimeUnit.parse(self.time_unit).days / TimeUnit.parse(self.period).days
        return ValueGrid(
            horizon=float(self.horizon) * per_unit,
            delta=math.log1p(float(self.discount_rate)) / per_unit,
            n_grid=int(self.n_grid),
        )

    # ------------------------------------------------------------------ results
    def _check_fitted(self) -> None:
        if "stage_values_" not in self.__dict__:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(log, funnel) first."
            )

    def __getattr__(self, name: str) -> Any:
        if name.endswith("_") and not name.startswith("_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(log, funnel) before "
                f"using '{name}'."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _header(self) -> dict[str, Any]:
        n_ok = len(self._replicates)
        if self._failures.too_many:
            method = self._failures.interval_method()
        elif n_ok >= MIN_REPLICATES:
            method = f"percentile bootstrap over customers ({n_ok} samples)"
        else:
            method = "none (no bootstrap)"

        return {
            "horizon": float(self.horizon),
            "time_unit": TimeUnit.parse(self.time_unit),
            "discount_rate": float(self.discount_rate),
            "conf_level": float(self.conf_level),
            "n_bootstrap": n_ok,
            "interval_method": method,
            "value_unit": "money" if self._table.has_values else "purchases",
        }

    def _stage_values_result(
        self, point: np.ndarray, buyers: np.ndarray, boot_buyers: np.ndarray
    ) -> StageValues:
        table = self._table
        level = float(self.conf_level)
        stages = {}
        for k, name in enumerate(table.stage_names):
            est = estimate(float(point[k]), self._boot_values[:, k], level)
            pre = table.pre.get(name)
            post = table.post.get(name)
            n_pre = 0 if pre is None else int(pre.customers.size)
            n_post = 0 if post is None else int(post.customers.size)
            n = n_pre + n_post
            stages[name] = StageValue(
                stage=name,
                value=est.value,
                ci=est.ci,
                std_error=est.std_error,
                n_entrants=n,
                share_bought_before=None if n == 0 else n_post / n,
            )
        buyer_values = {
            g: estimate(float(buyers[i]), boot_buyers[:, i], level)
            for i, g in enumerate(table.group_names)
        }
        return StageValues(
            stages=stages, buyer_values=buyer_values, notes=self.notes_, **self._header()
        )

    def stage_values(self) -> StageValues:
        """Stage name → value (with ``ci``) of a customer who has just entered it."""
        self._check_fitted()
        return self.stage_values_

    def value_of_advancing(self, source: str, target: str) -> AdvanceValue:
        """Value created when a customer moves from ``source`` to ``target``.

        ``V(target) - V(source)``: how much more a customer who has just entered ``target`` is
        worth than one who has just entered ``source`` (e.g. what one new community member
        is worth beyond a visitor). The interval is computed within each bootstrap sample.
        It describes customers who advanced; it is not the causal effect of making them do so.
        """
        self._check_fitted()
        names = self._table.stage_names
        for stage in (source, target):
            if stage not in names:
                raise FunnelkitError(f"No stage named {stage!r}; stages are {list(names)}.")
        i, j = names.index(source), names.index(target)
        point = float(self._point_values[j] - self._point_values[i])
        est = estimate(
            point, self._boot_values[:, j] - self._boot_values[:, i], float(self.conf_level)
        )
        sv = self.stage_values_
        return AdvanceValue(
            source=source,
            target=target,
            value=est.value,
            ci=est.ci,
            std_error=est.std_error,
            source_value=sv[source].value,
            target_value=sv[target].value,
            **self._header(),
        )

    def segment_values(self, by: str = "channel") -> Any:
        """Per segment of a customer attribute: reach, conversion, buyer value, value per prospect.

        See :func:`funnelkit.lifecycle.segments.segment_values`.
        """
        from funnelkit.lifecycle.segments import segment_values

        self._check_fitted()
        with single_threaded_blas():
            return segment_values(self, by)

    def membership_uplift(self, strata: Sequence[str] | None = None) -> Any:
        """Members vs comparable non-member buyers.

        See :func:`funnelkit.lifecycle.uplift.membership_uplift`.
        """
        from funnelkit.lifecycle.uplift import membership_uplift

        self._check_fitted()
        with single_threaded_blas():
            return membership_uplift(self, strata)

    def score(self, *, backend: str | None = None) -> Any:
        """Score every customer; see :func:`funnelkit.lifecycle.scoring.score_customers`."""
        from funnelkit.lifecycle.scoring import score_customers

        self._check_fitted()
        return score_customers(self, backend=backend)


_SETTINGS = (
    "horizon",
    "time_unit",
    "discount_rate",
    "period",
    "purchase_model",
    "conversion_model",
    "membership_stage",
    "purchase_events",
    "n_bootstrap",
    "conf_level",
    "random_state",
    "n_grid",
    "progress",
)


def _seed(random_state: int | None) -> int:
    # A drawn seed is kept so that a run without one can still be repeated exactly.
    if random_state is None:
        return int(np.random.SeedSequence().entropy % 2**32)  # type: ignore[operator]
    return int(random_state)


def _release_training_data(comps: Components) -> None:
    # Replicates keep only parameters: the fitters' copies of the training rows would make
    # a hundred replicates of a million customers cost gigabytes.
    for group in comps.groups:
        for fitter in (group.purchase, group.spend):
            if fitter is not None and "training_data_" in fitter.__dict__:
                fitter.training_data_ = None
