"""The spend model of a buyer group: Gamma-Gamma on its repeat buyers, refitted per sample.

A bootstrap sample refits it from the full-data model on the group's distinct (frequency,
spend) rows, found once per customer table (:attr:`CustomerTable.spend_rows`), with the
sample's counts as row weights.
"""

from __future__ import annotations

import math
import warnings
import weakref
from typing import Any

import numpy as np

from funnelkit.exceptions import ConvergenceWarning, FunnelkitError
from funnelkit.lifecycle._bootstrap import FIT_FAILURES, failure_reason
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle._rows import SampleWeights, SpendRows

__all__ = ["MIN_REPEAT_BUYERS", "fit_spend"]

#: A group needs this many buyers with a repeat purchase for its own purchase and spend model.
MIN_REPEAT_BUYERS = 20


def fit_spend(
    table: CustomerTable,
    g: int,
    weights: np.ndarray | SampleWeights,
    notes: list[str],
    name: str,
    template: Any,
    *,
    curvature: bool = False,
) -> tuple[Any, float]:
    """Gamma-Gamma on the repeat buyers of group ``g`` (``weights`` per customer, or a
    sample's weights with its rows counted, see :class:`~funnelkit.lifecycle._rows.WeightPlan`).

    ``template`` is the full-data spend model of a refit (None for the full fit): a refit
    starts from its parameters and hands the fitter the group's distinct (frequency,
    spend) rows, found once per table (:attr:`CustomerTable.spend_rows`), with this
    sample's counts, so that no bootstrap sample sorts or checks them again. With
    ``curvature`` the model is fitted in full from the template's parameters (see
    :func:`~funnelkit.lifecycle._components.fit_components`).
    """
    quiet = template is not None
    if not table.has_values:
        return None, 1.0
    from funnelkit.clv import GammaGammaFitter

    sample = weights if isinstance(weights, SampleWeights) else table.weight_plan.sample(weights)
    if quiet and not curvature and set(template.params_) == {"p", "q", "v"}:
        return _refit_spend(table.spend_rows[g], sample.block(("spend", g)), sample, template)
    order = _spend_order(table, g)
    buyers = table.buyer_rows[g].customers[order]
    w = sample.floats[buyers]
    x = table.at_end.frequency[buyers]
    m = table.at_end.monetary_value[buyers]
    usable = (x > 0) & (m > 0) & (w > 0)
    fallback = float(np.average(m[usable], weights=w[usable])) if usable.any() else 0.0
    if usable.sum() < MIN_REPEAT_BUYERS:
        if not quiet:
            notes.append(
                f"{name}: too few repeat buyers with spend for a Gamma-Gamma model; "
                "the mean repeat spend is used"
            )
        return None, fallback
    data = {"frequency": x[usable], "monetary_value": m[usable]}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = None
            if template is not None and set(template.params_) == {"p", "q", "v"}:
                start = dict(template.params_)
            model = GammaGammaFitter(initial_params=start)
            if start is None or curvature:
                model.fit(data, weights=w[usable])
            else:
                model.refit(data, weights=w[usable], start=template)
            mean = model.population_mean_spend()
        if not math.isfinite(mean):
            raise FunnelkitError(f"its mean spend is not finite ({mean})")
    except FIT_FAILURES as exc:
        if not quiet:
            notes.append(
                f"{name}: Gamma-Gamma spend model unusable ({failure_reason(exc)}); the mean "
                "repeat spend is used"
            )
        return None, fallback
    return model, float(mean)


def _refit_spend(
    rows: SpendRows, row_w: np.ndarray, sample: SampleWeights, template: Any
) -> tuple[Any, float]:
    """:func:`fit_spend` of a bootstrap sample (``row_w`` per row of ``rows``), from
    ``template``."""
    from funnelkit.clv import GammaGammaFitter

    data = rows.rows_data(row_w)
    fallback = (
        float(np.average(data["monetary_value"], weights=data.weights)) if data.n_rows else 0.0
    )
    # every row drawn holds a buyer drawn: only a sample of few rows needs its buyers counted
    if data.n_rows < MIN_REPEAT_BUYERS and rows.n_drawn(sample.weights) < MIN_REPEAT_BUYERS:
        return None, fallback
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = GammaGammaFitter(initial_params=dict(template.params_))
            model.refit(data, start=template)
            mean = model.population_mean_spend()
        if not math.isfinite(mean):
            raise FunnelkitError(f"its mean spend is not finite ({mean})")
    except FIT_FAILURES:
        return None, fallback
    return model, float(mean)


#: id of a customer table → (the table, held weakly; buyer group → order by frequency, spend)
_SPEND_ORDERS: dict[int, tuple[weakref.ref[CustomerTable], dict[int, np.ndarray]]] = {}


def _spend_order(table: CustomerTable, g: int) -> np.ndarray:
    """Group ``g``'s buyers sorted by (frequency, spend): once per table, whatever the weights."""
    key = id(table)
    held = _SPEND_ORDERS.get(key)
    if held is None or held[0]() is not table:
        held = (weakref.ref(table), {})
        _SPEND_ORDERS[key] = held
        # forget the orders with the table (and never hand them to a new table at its id)
        weakref.finalize(table, _SPEND_ORDERS.pop, key, None)
    orders = held[1]
    if g not in orders:
        buyers = table.buyer_rows[g].customers
        orders[g] = np.lexsort(
            (table.at_end.monetary_value[buyers], table.at_end.frequency[buyers])
        )
    return orders[g]
