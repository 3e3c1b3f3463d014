"""The fitted pieces of a lifecycle model, refitted for every bootstrap replicate or segment.

* per stage, the time from entering it to the first purchase (mixture cure model or
  Kaplan-Meier, from :mod:`funnelkit.conversion`), for entrants who had not bought yet;
* per stage, the share of those first purchases made as a community member, as a function of
  the time to purchase (a logistic regression on log time, see :class:`MemberShare`);
* per buyer group (members / non-members at their first purchase), a purchase model
  (BG/NBD by default) and a spend model (Gamma-Gamma), plus the mean first-period spend.

Customer weights are whole numbers (1 for a plain fit, bootstrap counts, 0 outside a segment).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelkit.clv.purchase_fitters import PURCHASE_FITTERS, purchase_fitter
from funnelkit.conversion import ConversionFitter, TransitionEstimate, kaplan_meier
from funnelkit.conversion.cure import fit_cure_data
from funnelkit.conversion.cure_mixture import with_curvature
from funnelkit.conversion.cure_result import CureFit
from funnelkit.exceptions import ConvergenceWarning, DataError
from funnelkit.journeys import Journeys
from funnelkit.lifecycle._bootstrap import FIT_FAILURES, failure_reason
from funnelkit.lifecycle._data import CustomerTable, PreEntrants, UniqueRows
from funnelkit.lifecycle._rows import SampleWeights
from funnelkit.lifecycle._share import (
    MemberShare as MemberShare,
    member_share as _member_share,
)
from funnelkit.lifecycle._spend import (
    MIN_REPEAT_BUYERS as MIN_REPEAT_BUYERS,
    _spend_order as _spend_order,
    fit_spend,
)

__all__ = [
    "Components",
    "FirstPurchaseCurve",
    "GroupModel",
    "MemberShare",
    "first_purchase_estimates",
    "fit_components",
    "make_purchase_fitter",
]

FIRST_PURCHASE = "first purchase"

PURCHASE_MODEL_NAMES = tuple(PURCHASE_FITTERS)


def make_purchase_fitter(spec: Any, initial_params: Mapping[str, float] | None = None) -> Any:
    """A fresh, unfitted purchase fitter from a name or a fitter used as a template."""
    if isinstance(spec, str):
        return purchase_fitter(spec, initial_params=initial_params)
    settings = dict(spec.get_params())
    if initial_params is not None:
        settings["initial_params"] = dict(initial_params)
    return type(spec)(**settings)


@dataclass(frozen=True)
class FirstPurchaseCurve:
    """``F(t)``: probability of a first purchase within ``t`` of entering a stage."""

    cure: CureFit | None = None
    km_times: np.ndarray | None = None
    km_rate: np.ndarray | None = None

    @property
    def method(self) -> str:
        if self.cure is not None:
            return self.cure.distribution
        return "kaplan-meier" if self.km_times is not None else "none"

    def cdf(self, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if self.cure is not None:
            return np.asarray(self.cure.cdf(t), dtype=float)
        if self.km_times is None or self.km_rate is None or self.km_times.size == 0:
            return np.zeros(t.shape)
        # Kaplan-Meier: a step function, flat (no extrapolation) after the longest follow-up.
        pos = np.searchsorted(self.km_times, t, side="right") - 1
        return np.where(pos >= 0, self.km_rate[np.maximum(pos, 0)], 0.0)


@dataclass
class GroupModel:
    """The post-first-purchase models of one buyer group."""

    name: str
    purchase: Any
    spend: Any  # a fitted GammaGammaFitter, or None (constant spend_mean)
    spend_mean: float  # population mean spend per repeat purchase period
    first_spend: float  # mean spend of the first purchase period
    n_buyers: float
    pooled: bool = False  # True: too few buyers, the pooled models stand in

    def expected_spend(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        if self.spend is None:
            return np.full(np.shape(frequency), self.spend_mean)
        from funnelkit.clv.gamma_gamma import conditional_spend

        ok = (frequency > 0) & (monetary > 0)
        # the table's own columns, checked when it was built: each bootstrap sample scores
        # them with its fit, without converting and checking them again
        return conditional_spend(self.spend.params_, np.where(ok, frequency, 0.0), monetary)


@dataclass
class Components:
    curves: dict[str, FirstPurchaseCurve]
    shares: dict[str, MemberShare]
    groups: list[GroupModel]
    estimates: dict[str, TransitionEstimate] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def fit_components(
    table: CustomerTable,
    weights: np.ndarray | SampleWeights | None,
    *,
    purchase_model: Any,
    conversion_model: str,
    conf_level: float,
    template: Components | None = None,
    pooled_fallback: Components | None = None,
    forced_pooled: frozenset[int] = frozenset(),
    strict: bool = False,
    horizon: float = 1000.0,
    curvature: bool = False,
) -> Components:
    """Fit every component with customer ``weights`` (None: each customer once).

    ``weights`` (per customer) are counted onto each fit's rows once, when the fit first
    asks (see :class:`~funnelkit.lifecycle._rows.SampleWeights`); a ``SampleWeights`` of
    ``table.weight_plan`` may be passed instead, with some counted already.

    Without a ``template`` the first-purchase delays are chosen by the conversion machinery
    (``ConversionFitter``, lowest AIC) and reported as :class:`TransitionEstimate`; with one,
    the template's delay families and purchase parameters (as starting values) are reused.

    A buyer group whose purchase model cannot be used (too few repeat buyers, a fit that fails
    -- no convergence, overflow, a singular Hessian -- or predictions that are not finite)
    takes the group model of ``pooled_fallback`` when one is given and
    raises a :class:`~funnelkit.exceptions.FunnelkitError` otherwise (or when ``strict``);
    groups in ``forced_pooled`` take it without being fitted.

    ``curvature=True`` fits the purchase and spend models in full (Hessian included) even
    from a template, and gives a refitted delay mixture its covariance, where a template
    otherwise gives quick refits without one: the curvature at a fit is the metric in which
    later refits started from it take Newton steps (a segment's fit, whose bootstrap
    samples start there), settling in a handful of likelihood evaluations instead of a
    general search.
    """
    notes: list[str] = []
    curves: dict[str, FirstPurchaseCurve] = {}
    shares: dict[str, MemberShare] = {}
    estimates: dict[str, TransitionEstimate] = {}
    sample: SampleWeights | None = None
    if isinstance(weights, SampleWeights):
        sample = weights
    elif weights is not None:
        sample = table.weight_plan.sample(weights)
    if template is None:
        estimates = first_purchase_estimates(
            table,
            None if sample is None else sample.weights,
            conversion_model,
            conf_level,
        )
    for stage, pre in table.pre.items():
        w_pre = None if sample is None else sample.block(("pre", stage))
        if template is None:
            curves[stage] = _curve_from_estimate(estimates[stage])
        else:
            previous = template.curves.get(stage, FirstPurchaseCurve())
            curves[stage] = _refit_curve(pre, w_pre, previous, notes, stage, curvature)
        conv = pre.converters
        start = None if template is None else template.shares.get(stage)
        drawn: slice | np.ndarray
        if w_pre is None:
            drawn, w_conv = slice(None), np.ones(conv.customers.size)
        else:
            w_conv = w_pre[conv.rows]
            compact = None if start is None else conv.spread(w_conv)
            if compact is not None:  # a refit, on a few thousand weighted rows
                log_t, member, w_grid = compact
                shares[stage] = _member_share(
                    np.exp(log_t), member, w_grid, start=start, log_durations=log_t
                )
                continue
            # positions, not a mask: a random mask selects five times slower than a gather
            drawn = np.flatnonzero(w_conv > 0)
        sums = None
        if start is not None and start.slope != 0.0 and w_pre is not None:
            sums = conv.share_sums(w_conv, start.intercept, start.slope)
        shares[stage] = _member_share(
            conv.durations[drawn],
            conv.member[drawn],
            w_conv[drawn],
            start=start,
            log_durations=conv.log_durations[drawn],
            start_sums=sums,
        )
    groups = [
        _fit_group(
            table,
            g,
            sample,
            purchase_model,
            template,
            pooled_fallback,
            notes,
            forced=g in forced_pooled,
            strict=strict,
            horizon=horizon,
            curvature=curvature,
        )
        for g in range(len(table.group_names))
    ]
    return Components(curves, shares, groups, estimates, notes)


# ---------------------------------------------------------------------- first purchase
def first_purchase_estimates(
    table: CustomerTable, weights: np.ndarray | None, conversion_model: str, conf_level: float
) -> dict[str, TransitionEstimate]:
    """Stage → time from entering it to the first purchase, for entrants who had not bought.

    The delay family is chosen by :class:`~funnelkit.conversion.ConversionFitter` (lowest AIC
    under ``conversion_model="auto"``).
    """
    return {
        stage: _estimate(table, stage, pre, weights, conversion_model, conf_level)
        for stage, pre in table.pre.items()
    }


def _estimate(
    table: CustomerTable,
    stage: str,
    pre: PreEntrants,
    weights: np.ndarray | None,
    model: str,
    conf_level: float,
) -> TransitionEstimate:
    idx = pre.customers
    if weights is not None:
        idx = np.repeat(idx, weights[idx].astype(np.int64))
    entry = table.entry[idx, table.stage_names.index(stage)]
    reached = np.where(table.at_end.has_purchase[idx], table.at_end.first_time[idx], np.nan)
    journeys = Journeys(
        stage_names=(stage, FIRST_PURCHASE),
        entry_times=np.column_stack([entry, reached]),
        customer_ids=table.customer_ids[idx],
        censoring_times=np.full(idx.size, table.observation_end),
        time_unit=table.unit,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fitter = ConversionFitter(model=model, conf_level=conf_level).fit(journeys)
    return fitter.estimate(stage, FIRST_PURCHASE)


def _curve_from_estimate(est: TransitionEstimate) -> FirstPurchaseCurve:
    if est.cure_fit is not None:
        return FirstPurchaseCurve(cure=est.cure_fit)
    if est.n_converted == 0:
        return FirstPurchaseCurve()
    times, rate, _, _ = est.curve.arrays
    return FirstPurchaseCurve(km_times=times, km_rate=rate)


def _refit_curve(
    pre: PreEntrants,
    weights: np.ndarray | None,
    previous: FirstPurchaseCurve,
    notes: list[str],
    stage: str,
    curvature: bool = False,
) -> FirstPurchaseCurve:
    """The curve of ``previous``'s family refitted with customer ``weights``.

    The weights (whole numbers, as floats) go to the fits as row weights (no row is
    copied), and a cure model starts from ``previous``'s coefficients: a reweighted
    sample's estimate lies next to them. With ``curvature`` a refitted mixture gets the
    covariance at its estimate too (see :func:`fit_components`).
    """
    durations, converted = pre.durations, pre.converted
    method = previous.method
    if method == "none":
        return FirstPurchaseCurve()
    if method == "kaplan-meier":
        n_conv = int(converted.sum() if weights is None else weights[pre.converters.rows].sum())
        if n_conv == 0:
            return FirstPurchaseCurve()
    else:
        # the durations' logarithms and order are prepared once per table; the sample's
        # conversions are counted there, not in another pass over its weights
        data = pre.cure_rows.data(weights, whole=True)
        if data.n_converted == 0:
            return FirstPurchaseCurve()
        if data.n_converted >= 5:
            try:
                # from the previous fit (a plateau only where its p was fixed: from the data)
                fit = fit_cure_data(data, method, start=previous.cure)  # type: ignore[arg-type]
            except FIT_FAILURES as exc:
                notes.append(
                    f"{stage}: the {method} cure model could not be fitted "
                    f"({failure_reason(exc)}); Kaplan-Meier used"
                )
            else:
                if fit.converged and all(
                    math.isfinite(c) or i == 0 for i, c in enumerate(fit.coefficients)
                ):
                    return FirstPurchaseCurve(cure=with_curvature(fit, data) if curvature else fit)
                notes.append(
                    f"{stage}: the {method} cure model did not converge; Kaplan-Meier used"
                )
    km = kaplan_meier(durations, converted, weights=weights)
    return FirstPurchaseCurve(km_times=km.times, km_rate=km.rate)


# ---------------------------------------------------------------------- purchase and spend
def _fit_group(
    table: CustomerTable,
    g: int,
    sample: SampleWeights | None,
    purchase_model: Any,
    template: Components | None,
    pooled: Components | None,
    notes: list[str],
    *,
    forced: bool,
    strict: bool,
    horizon: float,
    curvature: bool = False,
) -> GroupModel:
    name = table.group_names[g]
    rows = table.buyer_rows[g]
    if sample is None:
        row_w = rows.row_weights(np.ones(table.n_customers))
    else:
        row_w = sample.block(("buyers", g))

    def stand_in(why: str, remedies: str = "") -> GroupModel:
        if pooled is None or (strict and not forced):
            raise DataError(f"The {name} purchase model cannot be fitted: {why}.{remedies}")
        if not forced:
            notes.append(f"{name}: {why}; the model fitted on all customers stands in")
        model = pooled.groups[g]
        return GroupModel(
            name=name,
            purchase=model.purchase,
            spend=model.spend,
            spend_mean=model.spend_mean,
            first_spend=model.first_spend,
            n_buyers=float(row_w.sum()),
            pooled=True,
        )

    if forced:
        return stand_in("kept from the full fit")
    repeaters = float(row_w[rows.repeat_rows].sum())
    if repeaters < MIN_REPEAT_BUYERS:
        return stand_in(
            f"not enough data: {repeaters:.0f} repeat buyers, need {MIN_REPEAT_BUYERS}",
            _TOO_FEW_REMEDIES,
        )
    previous = None if template is None else template.groups[g].purchase
    try:
        purchase = _fit_purchase(
            purchase_model, rows, row_w, table, previous, notes, name, curvature
        )
    except FIT_FAILURES as exc:
        return stand_in(f"the purchase model could not be fitted ({failure_reason(exc)})")
    if purchase.result_.boundary and template is None:
        notes.append(f"{name} purchase model: {purchase.result_.message}")
    if not _usable(purchase, horizon):
        return stand_in(
            f"the fitted {type(purchase).__name__} gives non-finite predictions "
            f"(parameters {_rounded(purchase.params_)})"
        )
    spends = table.buyer_first_spends[g]
    if sample is None:
        n_buyers, first_spend = float(spends.size), float(np.mean(spends))
    else:
        # the buyers' count is their rows' (fewer); one pass over the buyers for the spend
        n_buyers = float(row_w.sum())
        first_spend = float(sample.floats[rows.customers] @ spends) / n_buyers
    spend, spend_mean = fit_spend(
        table,
        g,
        np.ones(table.n_customers) if sample is None else sample,
        notes,
        name,
        None if template is None else template.groups[g].spend,
        curvature=curvature,
    )
    return GroupModel(
        name=name,
        purchase=purchase,
        spend=spend,
        spend_mean=spend_mean,
        first_spend=first_spend,
        n_buyers=n_buyers,
    )


#: what helps a purchase model short of repeat buyers (left out of notes, see failure_reason)
_TOO_FEW_REMEDIES = (
    " Things to try: 1. more customers, or a longer observation window (more buyers come back"
    " within it); 2. funnelkit.report(log), which still reports the funnel, the conversion"
    " and the time to a first purchase without a purchase model."
)


def _usable(purchase: Any, horizon: float) -> bool:
    # A prediction that overflows in Python floats (math.exp, lgamma) is as unusable as one
    # that comes back infinite.
    try:
        with np.errstate(all="ignore"):
            probe = np.asarray(
                purchase.expected_purchases_new_customer(horizon * np.array([0.01, 0.1, 1.0, 2.0])),
                dtype=float,
            )
    except FIT_FAILURES:
        return False
    return bool(np.all(np.isfinite(probe)) and np.all(probe >= 0))


def _rounded(params: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in params.items())


def _fit_purchase(
    spec: Any,
    rows: UniqueRows,
    row_w: np.ndarray,
    table: CustomerTable,
    previous: Any,
    notes: list[str],
    name: str,
    curvature: bool = False,
) -> Any:
    """The purchase model of one group; a refit starts from ``previous`` (a fit of it).

    With ``curvature`` a fit from ``previous``'s estimates, with its Hessian (see
    :func:`fit_components`), rather than a refit.
    """
    start = None if previous is None else previous.params_
    fitter = make_purchase_fitter(spec, start)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if previous is None:
            fitter.fit(rows.mapping(), weights=row_w, time_unit=table.unit)
        else:
            # a refit starts from the full-data estimates and needs no standard errors; the
            # rows nobody drew (a third of a sample, most of a segment) are not handed over
            if curvature:
                drawn = row_w > 0
                data = {k: v[drawn] for k, v in rows.mapping().items()}
                fitter.fit(data, weights=row_w[drawn], time_unit=table.unit)
            else:
                fitter.refit(rows.fit_data(row_w, table.unit), start=previous)
    for w in caught:
        if issubclass(w.category, ConvergenceWarning) and start is None:
            notes.append(f"{name} purchase model: {w.message}")
    return fitter
