"""Channel and membership compared with each held fixed: covariates instead of segment refits.

:func:`covariate_comparison` fits the lifecycle model's purchase model family and a
Gamma-Gamma spend model once, on all buyers, with two covariates entered together: the
acquisition channel (one-hot against a reference channel) and membership (1 for a buyer who
was a member at the first purchase, the model's own member flag). Each effect is then the
difference between channels *for the same membership*, and between members and non-members
*from the same channel*, which the per-segment views (one refit per channel, one model per
membership group) cannot separate when the two overlap.

The adjusted value of a level is standardised: every buyer is given that level, keeps their
other covariate, and the expected discounted value of a new buyer's repeat purchases over the
model's horizon is averaged over them. Beside it, the *raw* figure refits the plain models on
that level's buyers only (the per-segment view, without the other covariate held fixed).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from funnelkit._results import Interval
from funnelkit.clv._data import unique_combinations
from funnelkit.exceptions import ConvergenceWarning, FunnelkitError
from funnelkit.lifecycle._bootstrap import FIT_FAILURES, failure_reason
from funnelkit.lifecycle._components import MIN_REPEAT_BUYERS, make_purchase_fitter
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle.covariate_results import (
    MEMBER,
    AdjustedValue,
    CovariateComparison,
    CovariateEffect,
    effect_sentence,
    is_clear,
)
from funnelkit.lifecycle.segments import customer_segments
from funnelkit.lifecycle.state import LifecycleFit, check_customers

if TYPE_CHECKING:
    from funnelkit.lifecycle.values import ValueGrid

__all__ = [
    "AdjustedValue",
    "CovariateComparison",
    "CovariateEffect",
    "covariate_comparison",
    "effect_sentence",
    "is_clear",
]


# ---------------------------------------------------------------------- computation
def covariate_comparison(
    fit: LifecycleFit,
    customers: CustomerTable,
    by: str | None = "channel",
    *,
    purchase_model: Any = None,
) -> CovariateComparison:
    """Fit purchase and spend models with channel and membership together (module docstring).

    The reference channel is the one with the most buyers (the first in sorted order on a
    tie). A covariate that does not vary among the buyers (one channel; no member, or no
    membership stage) is left out with a note; without any, a
    :class:`~funnelkit.FunnelkitError` says so.

    Parameters
    ----------
    fit : LifecycleFit
        The fitted state (``LifecycleModel.fit_``): horizon, discount, level, groups.
    customers : CustomerTable
        The customers to fit on (``LifecycleModel.customers(log)``).
    by : str or None, default "channel"
        The customer attribute compared with membership; None: membership only.
    purchase_model : str or fitter, optional
        A purchase model name or an unfitted fitter used as a template; default the one of
        ``fit`` (BG/NBD for a model fitted with a template).

    Returns
    -------
    CovariateComparison

    Examples
    --------
    >>> from funnelkit import EventLog, LifecycleModel
    >>> from funnelkit.datasets import simulate_community
    >>> sim = simulate_community(6_000, seed=3)
    >>> log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    >>> model = LifecycleModel(n_resamples=0).fit(log, observation_end=sim.observation_end)
    >>> result = covariate_comparison(model.fit_, model.customers())
    >>> result.reference, [v.level for v in result.values if v.covariate == "member"]
    ('instagram', ['non-member', 'member'])
    >>> result.effect("purchase", "member").effect.lower > 1.5  # members buy more often
    True
    """
    spec = purchase_model if purchase_model is not None else fit.purchase_model or "bgnbd"
    check_customers(fit, customers, "The covariate comparison")
    table = customers
    buyers = np.flatnonzero(table.group >= 0)
    if buyers.size == 0:
        raise FunnelkitError("The covariate comparison needs buyers; these customers have none.")
    notes: list[str] = []
    # each covariate as small integer codes and the value of each code: masks, counts and
    # distinct rows come from these without comparing or sorting text per buyer
    coded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    reference = None
    labels: tuple[str, ...] = ()
    if by is not None:
        codes, labels = customer_segments(table, by)
        counts = np.bincount(codes[buyers], minlength=len(labels))
        present = tuple(lb for lb, c in zip(labels, counts, strict=True) if c > 0)
        if len(present) > 1:
            # the largest channel as reference: the other channels' effects are then
            # measured against the best-estimated level
            reference = labels[int(np.argmax(counts))]
            # numpy text, not Python objects: the covariate encoding then needs no loop
            coded[by] = (codes[buyers], np.array(labels, dtype=str))
            labels = present
        else:
            notes.append(f"all buyers share one {by} ({present[0]}): {by} is left out")
            by = None
    member = (table.group[buyers] == 1).astype(np.int64)
    if len(table.group_names) == 2 and 0 < member.sum() < member.size:
        coded[MEMBER] = (member, np.array([0.0, 1.0]))
    else:
        notes.append("members and non-members cannot be told apart: membership is left out")
    if not coded:
        raise FunnelkitError(
            "Nothing to compare: the buyers share one channel and one membership group. Read "
            "the log with attribute_cols=['channel'] and a funnel with a membership stage."
        )
    at_end = table.at_end
    rfm = {
        "frequency": at_end.frequency[buyers],
        "recency": at_end.recency[buyers],
        "T": at_end.T[buyers],
    }
    ref: dict[str, str] = {} if reference is None or by is None else {by: reference}
    level = float(fit.conf_level)
    rows = _distinct_rows(rfm, coded)
    purchase = _purchase_fit(spec, ref, level, rows, table, notes)
    dropout_meaning = (
        "mean dropout rate"
        if type(purchase).__name__ == "ParetoNBDFitter"
        else "odds of dropping out after a purchase"
    )
    if getattr(purchase.result_, "boundary", None):
        notes.append(f"purchase model with covariates: {purchase.result_.message}")
    meaning = {
        "purchase": "mean purchase rate",
        "dropout": dropout_meaning,
        "spend": "mean spend per purchase",
    }
    effects = _effects(purchase.coefficient_rows(), meaning, level)
    m = at_end.monetary_value[buyers]
    repeat = (rfm["frequency"] > 0) & (m > 0)
    spend = None
    spend_test = None
    fallback = float(m[repeat].mean()) if repeat.any() else 1.0
    if not table.has_values:
        fallback = 1.0
    elif int(repeat.sum()) < MIN_REPEAT_BUYERS:
        notes.append(f"only {int(repeat.sum())} repeat buyers with spend: no spend effects")
    else:
        spend = _spend_fit(rfm["frequency"][repeat], m[repeat], coded, repeat, ref, level, notes)
        if spend is not None:
            effects += _effects(spend.coefficient_rows(), meaning, level)
            spend_test = spend.covariate_test_
    grid = fit.grid
    values = _adjusted_values(
        purchase, spend, fallback, coded, by, labels, grid, table, rows, rfm, repeat, m, spec, notes
    )
    return CovariateComparison(
        by=by,
        reference=reference,
        purchase_model=type(purchase).__name__,
        effects=tuple(effects),
        purchase_test=purchase.covariate_test_,
        spend_test=spend_test,
        values=tuple(values),
        n_buyers=int(buyers.size),
        n_repeat_buyers=int(repeat.sum()),
        horizon=fit.horizon,
        time_unit=fit.time_unit,
        discount_rate=fit.discount_rate,
        conf_level=level,
        value_unit=fit.value_unit,
        notes=tuple(dict.fromkeys(notes)),
    )


def _fitter(spec: Any, reference: dict[str, str], level: float) -> Any:
    fitter = make_purchase_fitter(spec)
    return fitter.set_params(covariate_reference=reference or None, conf_level=level)


@dataclass(frozen=True)
class _Rows:
    """Buyers sharing their purchase summary and their covariates, as one row each with
    the number of buyers (the fits compress their input so: handing them the distinct rows
    gives the same fits and spares them sorting every buyer)."""

    rfm: dict[str, np.ndarray]
    #: each covariate's codes per row (an index into its values) and its values
    coded: dict[str, tuple[np.ndarray, np.ndarray]]
    counts: np.ndarray

    @property
    def covariates(self) -> dict[str, np.ndarray]:
        return {k: values[codes] for k, (codes, values) in self.coded.items()}

    def where(self, name: str, code: int) -> np.ndarray:
        """Which rows have covariate ``name`` at code ``code``."""
        return np.asarray(self.coded[name][0] == code)


def _distinct_rows(
    rfm: dict[str, np.ndarray], coded: dict[str, tuple[np.ndarray, np.ndarray]]
) -> _Rows:
    names = list(coded)
    columns = [rfm["frequency"], rfm["recency"], rfm["T"], *(coded[k][0] for k in names)]
    values, inverse = unique_combinations(*columns)
    counts = np.bincount(inverse, minlength=values[0].size).astype(float)
    return _Rows(
        rfm={"frequency": values[0], "recency": values[1], "T": values[2]},
        coded={k: (values[3 + i], coded[k][1]) for i, k in enumerate(names)},
        counts=counts,
    )


def _purchase_fit(
    spec: Any,
    reference: dict[str, str],
    level: float,
    rows: _Rows,
    table: CustomerTable,
    notes: list[str],
) -> Any:
    """The purchase model with covariates on purchase and dropout, or on purchase alone.

    Dropout effects rest on the few customers seen to stop buying: with little data a
    coefficient runs off to infinity, and the information matrix is singular (no effect
    gets an interval) or the interval spans more than a float can hold. The covariates then
    enter the purchase rate only (a note says so), unless the template fitter names its
    processes itself.
    """
    purchase = _fitter(spec, reference, level)
    covariates = rows.covariates
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        purchase.fit(rows.rfm, covariates=covariates, weights=rows.counts, time_unit=table.unit)
        bounds = np.array(
            [
                [np.nan if r[c] is None else r[c] for c in ("lower", "upper")]
                for r in purchase.coefficient_rows()
            ],
            dtype=float,
        )
        if purchase.covariate_processes is not None or _bounded(bounds):
            return purchase
        narrow = _fitter(spec, reference, level).set_params(covariate_processes=("purchase",))
        narrow.fit(rows.rfm, covariates=covariates, weights=rows.counts, time_unit=table.unit)
    notes.append(
        "the dropout effects cannot be told apart in these data (too few customers are seen "
        "to stop buying to bound them): the channel and membership enter the purchase rate only"
    )
    return narrow


def _effects(
    table: list[dict[str, Any]], meaning: dict[str, str], level: float
) -> list[CovariateEffect]:
    def column(name: str) -> list[Any]:
        return [row[name] for row in table]

    def number(v: Any) -> float | None:
        return None if v is None or not math.isfinite(float(v)) else float(v)

    out = []
    rows = zip(
        column("process"),
        column("covariate"),
        column("estimate"),
        column("std_error"),
        column("lower"),
        column("upper"),
        strict=True,
    )
    for process, covariate, est, se, lo, hi in rows:
        # a coefficient the fit could not pin down stays None, never a NaN shown as a number
        point, lower, upper = number(est), number(lo), number(hi)
        effect = Interval(estimate=_exp(point), lower=_exp(lower), upper=_exp(upper), level=level)
        out.append(
            CovariateEffect(
                process=str(process),
                covariate=str(covariate),
                estimate=point,
                std_error=number(se),
                lower=lower,
                upper=upper,
                effect=effect,
                multiplies=meaning[str(process)],
            )
        )
    return out


def _bounded(bounds: np.ndarray) -> bool:
    """Whether every interval bound is finite and its ``exp`` a float."""
    return bool(np.isfinite(bounds).all() and (np.abs(bounds) <= 709.0).all())


def _exp(value: float | None) -> float | None:
    # a coefficient past e^709 says the data do not bound it: not estimable, not infinite
    return None if value is None or value > 709.0 else math.exp(value)


def _spend_fit(
    frequency: np.ndarray,
    monetary: np.ndarray,
    coded: dict[str, tuple[np.ndarray, np.ndarray]],
    repeat: np.ndarray,
    reference: dict[str, str],
    level: float,
    notes: list[str],
) -> Any:
    from funnelkit.clv import GammaGammaFitter

    kept = {k: (codes[repeat], values) for k, (codes, values) in coded.items()}
    varying = {k: values[c] for k, (c, values) in kept.items() if c.size and (c != c[0]).any()}
    if not varying:
        notes.append("the covariates do not vary among repeat buyers: no spend effects")
        return None
    ref = {k: v for k, v in reference.items() if k in varying}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = GammaGammaFitter(covariate_reference=ref or None, conf_level=level)
            return model.fit(
                {"frequency": frequency, "monetary_value": monetary}, covariates=varying
            )
    except FIT_FAILURES as exc:
        notes.append(
            f"Gamma-Gamma with covariates unusable ({failure_reason(exc)}): no spend effects"
        )
        return None


def _new_buyer(
    purchase: Any, spend: Any, fallback: float, profile: dict[str, Any] | None, grid: ValueGrid
) -> tuple[float, float, float]:
    """Repeat purchases over the horizon, spend per purchase and discounted value of a new
    buyer (at ``profile``, or of a plain model for ``None``), as the stage values count them."""
    points = grid.half_points
    kw = {} if profile is None else {"covariates": profile}
    n = np.asarray(purchase.expected_purchases_new_customer(points, **kw), dtype=float)
    mids = 0.5 * (points[1:] + points[:-1])
    discounted = float(np.sum(np.diff(n) * grid.discount(mids)))
    per = fallback if spend is None else float(spend.population_mean_spend(**kw))
    return float(n[-1]), per, per * discounted


def _adjusted_values(
    purchase: Any,
    spend: Any,
    fallback: float,
    coded: dict[str, tuple[np.ndarray, np.ndarray]],
    by: str | None,
    labels: tuple[str, ...],
    grid: ValueGrid,
    table: CustomerTable,
    rows: _Rows,
    rfm: dict[str, np.ndarray],
    repeat: np.ndarray,
    monetary: np.ndarray,
    spec: Any,
    notes: list[str],
) -> list[AdjustedValue]:
    levels: list[tuple[str, int, str]] = []  # (covariate, code, label)
    if by is not None:
        names = [str(v) for v in coded[by][1]]
        levels += [(by, names.index(lb), lb) for lb in labels]
    if MEMBER in coded:
        levels += [(MEMBER, g, name) for g, name in enumerate(table.group_names)]
    # each covariate's buyers per code, once (counted, not sorted)
    counts = {k: np.bincount(c, minlength=values.size) for k, (c, values) in coded.items()}
    n_buyers = float(rows.counts.sum())
    out = []
    for name, code, label in levels:
        value = coded[name][1][code].item()
        others = [k for k in coded if k != name]
        # standardised: each buyer's other covariate kept, this one set to the level; the
        # predictions depend on the profile only, so one call per value of the other
        if others:
            (other,) = others
            kinds = coded[other][1]
            profiles = [
                ({name: value, other: kinds[k].item()}, float(c))
                for k, c in enumerate(counts[other])
                if c > 0
            ]
        else:
            profiles = [({name: value}, n_buyers)]
        parts = np.array([_new_buyer(purchase, spend, fallback, p, grid) for p, _ in profiles])
        if not np.isfinite(parts).all():
            raise FunnelkitError(
                f"The covariate model gives no finite value for {name} = {label}: its "
                "fitted effects are too extreme for these data (see the coefficients)."
            )
        w = np.array([c for _, c in profiles], dtype=float) / n_buyers
        mine = coded[name][0] == code
        raw = _raw(
            spec,
            rows,
            rows.where(name, code),
            mine & repeat,
            rfm["frequency"],
            monetary,
            table,
            fallback,
            grid,
            f"{name} = {label}",
            notes,
        )
        out.append(
            AdjustedValue(
                covariate=name,
                level=label,
                n_buyers=int(counts[name][code]),
                repeat_purchases=float(w @ parts[:, 0]),
                spend_per_purchase=float(w @ parts[:, 1]),
                value=float(w @ parts[:, 2]),
                raw_repeat_purchases=None if raw is None else raw[0],
                raw_value=None if raw is None else raw[2],
            )
        )
    return out


def _raw(
    spec: Any,
    rows: _Rows,
    mine: np.ndarray,
    spenders: np.ndarray,
    frequency: np.ndarray,
    monetary: np.ndarray,
    table: CustomerTable,
    fallback: float,
    grid: ValueGrid,
    what: str,
    notes: list[str],
) -> tuple[float, float, float] | None:
    """The per-segment figure: the plain models refitted on this level's buyers only
    (``mine``: its distinct purchase rows; ``spenders``: its repeat buyers with spend)."""
    repeaters = int(rows.counts[mine & (rows.rfm["frequency"] > 0)].sum())
    if repeaters < MIN_REPEAT_BUYERS:
        notes.append(
            f"{what}: {repeaters} repeat buyers, need {MIN_REPEAT_BUYERS} for a per-segment "
            "figure: only the adjusted value is shown"
        )
        return None
    from funnelkit.clv import GammaGammaFitter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            purchase = make_purchase_fitter(spec)
            data = {k: v[mine] for k, v in rows.rfm.items()}
            purchase.fit(data, weights=rows.counts[mine], time_unit=table.unit)
            spend = None
            if table.has_values:
                fallback = float(monetary[spenders].mean()) if spenders.any() else fallback
                if int(spenders.sum()) >= MIN_REPEAT_BUYERS:
                    spend = GammaGammaFitter().fit(
                        {"frequency": frequency[spenders], "monetary_value": monetary[spenders]}
                    )
            result = _new_buyer(purchase, spend, fallback, None, grid)
    except FIT_FAILURES as exc:
        notes.append(f"{what}: the per-segment models could not be fitted ({failure_reason(exc)})")
        return None
    if not all(math.isfinite(v) for v in result):
        notes.append(f"{what}: the per-segment models give no finite value")
        return None
    return result
