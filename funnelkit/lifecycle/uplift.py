"""Membership uplift: horizon value of member buyers vs comparable non-member buyers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit.conversion.segments import cohort_unit, segment_codes
from funnelkit.exceptions import FunnelkitError
from funnelkit.journeys import Journeys
from funnelkit.lifecycle._bootstrap import estimate, map_replicates, shared_replicate_weights
from funnelkit.lifecycle._components import Components
from funnelkit.lifecycle._data import CustomerTable, UniqueRows
from funnelkit.lifecycle.results import MembershipUplift, UpliftStratum
from funnelkit.lifecycle.state import LifecycleFit, check_customers, check_membership_groups
from funnelkit.lifecycle.values import ValueGrid, conditional_purchases
from funnelkit.rfm import RFM

__all__ = ["buyer_horizon_values", "membership_uplift"]

FIRST_PURCHASE = "first purchase"


def membership_uplift(
    fit: LifecycleFit,
    customers: CustomerTable,
    strata: Sequence[str] | None = None,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    n_jobs: int | None = 1,
) -> MembershipUplift:
    """Compare member and non-member buyers within strata; an association, not an effect.

    Each buyer's value is the discounted value of their purchases over the horizon from their
    first purchase: the purchases already made within it, plus -- for buyers observed for
    less than the horizon -- their group model's conditional expectation of the rest
    (:func:`buyer_horizon_values`). Within each stratum the member mean is compared with the
    non-member mean, and the differences are averaged with the members' weights.

    Parameters
    ----------
    fit
        The fitted state (``LifecycleModel.fit_``) of a model with members and non-members.
    customers
        The buyers to compare (``LifecycleModel.customers(log)``).
    strata
        Customer attributes and/or ``"cohort:<period>"`` (the period of the first purchase).
        Default: ``("channel", "cohort:month")``, without ``channel`` if the log has no such
        attribute.
    progress, n_jobs
        Where each bootstrap sample's difference is reported as it finishes (``progress(step,
        done, total)``), and how many processes compute them (see
        :func:`~funnelkit.lifecycle._bootstrap.worker_count`): the same numbers for any.
    """
    check_customers(fit, customers, "Membership uplift")
    check_membership_groups(fit, "Membership uplift")
    table = customers
    if strata is None:
        strata = ("channel", "cohort:month") if "channel" in table.attributes else ("cohort:month",)
    if isinstance(strata, str) or not strata:
        raise FunnelkitError(f"strata must be a non-empty sequence of names. Got {strata!r}.")
    buyers = np.flatnonzero(table.group >= 0)
    codes, labels = _strata(table, buyers, tuple(strata))
    member = table.group[buyers] == 1
    grid = fit.grid
    realized = _realized(table, buyers, grid)
    level = fit.conf_level

    # what does not change between the fits: the rows each group's model values and where
    # its buyers sit among ``buyers``; members' and non-members' positions and strata
    horizon_rows = _HorizonRows(table, buyers, grid)
    point_values = realized + horizon_rows.values(fit.main_components(), grid)
    point = _stratified(point_values, member, codes, len(labels), np.ones(buyers.size))
    split = _Split(member, codes, len(labels))
    replicates = dict(fit.replicate_components())

    def difference(seed: int) -> float:
        w = shared_replicate_weights(seed, table.n_customers)[buyers].astype(float)
        return split.difference(realized + horizon_rows.values(replicates[seed], grid), w)

    done, failures = map_replicates(
        np.array(list(replicates), dtype=np.int64),
        difference,
        table.n_customers,
        progress,
        label="membership uplift",
        n_jobs=n_jobs,
    )
    samples = np.array([] if failures.too_many else [d for _, d in done], dtype=float)
    diff = estimate(point.difference, samples, level)
    rows = tuple(
        UpliftStratum(
            stratum=label,
            n_members=int(point.n_member[k]),
            n_non_members=int(point.n_non_member[k]),
            member_value=_none(point.mean_member[k]),
            non_member_value=_none(point.mean_non_member[k]),
        )
        for k, label in enumerate(labels)
    )
    ratio = None
    if point.non_member_value > 0 and np.isfinite(point.member_value):
        ratio = float(point.member_value / point.non_member_value)
    return MembershipUplift(
        strata=tuple(strata),
        difference=diff,
        member_value=_none(point.member_value),
        non_member_value=_none(point.non_member_value),
        ratio=ratio,
        crude_difference=_none(point.crude),
        n_members=int(member.sum()),
        n_non_members=int((~member).sum()),
        n_members_compared=int(point.n_member[point.compared].sum()),
        n_strata_compared=int(point.compared.sum()),
        rows=rows,
        **fit.header(),
    )


def buyer_horizon_values(
    table: CustomerTable, buyers: np.ndarray, comps: Components, grid: ValueGrid
) -> np.ndarray:
    """Model part of each buyer's horizon value: the expected rest after the observation end.

    Buyers observed for ``T < H`` periods since their first purchase get their group's
    conditional expected discounted purchases over the remaining ``H - T`` (discounted from
    the first purchase) times their Gamma-Gamma expected spend; others get 0.
    """
    return _HorizonRows(table, buyers, grid).values(comps, grid)


@dataclass(frozen=True)
class _GroupRows:
    """One buyer group's part of :func:`buyer_horizon_values`, selected once for many fits."""

    group: int
    rows: UniqueRows  # the distinct summaries observed for less than the horizon
    summaries: RFM  # the same, checked once for all the fits that predict from them
    ages: RFM  # their distinct (frequency, T), each with a recency of theirs
    age: np.ndarray  # the distinct (frequency, T) of each of ``rows``
    first: np.ndarray  # a row of ``rows`` with each distinct (frequency, T)
    short: np.ndarray  # their positions among the group's distinct summaries
    n_rows: int  # number of the group's distinct summaries
    inverse: np.ndarray  # distinct summary of each of the group's buyers
    kept: np.ndarray  # which of the group's buyers are among ``buyers``
    where: np.ndarray  # and their positions there
    frequency: np.ndarray  # the group's buyers' frequency and mean spend at the end
    monetary: np.ndarray


class _HorizonRows:
    """:func:`buyer_horizon_values` for many fits of the same buyers, in ``buyers`` order."""

    def __init__(self, table: CustomerTable, buyers: np.ndarray, grid: ValueGrid) -> None:
        position = np.full(table.n_customers, -1, dtype=np.int64)
        position[buyers] = np.arange(buyers.size)
        self.size = buyers.size
        self.parts: list[_GroupRows] = []
        for g, rows in enumerate(table.buyer_rows):
            short = grid.horizon > rows.T
            if not short.any():
                continue
            mine = rows.customers
            kept = position[mine] >= 0
            sub = _short_rows(rows, short)
            first, age = _distinct_pairs(sub.frequency, sub.T)
            self.parts.append(
                _GroupRows(
                    group=g,
                    rows=sub,
                    summaries=RFM.from_arrays(**sub.mapping(), time_unit=table.unit),
                    ages=RFM.from_arrays(
                        **{k: v[first] for k, v in sub.mapping().items()}, time_unit=table.unit
                    ),
                    age=age.reshape(-1),
                    first=first,
                    short=short,
                    n_rows=rows.T.size,
                    inverse=rows.inverse,
                    kept=kept,
                    where=position[mine[kept]],
                    frequency=table.at_end.frequency[mine],
                    monetary=table.at_end.monetary_value[mine],
                )
            )

    def values(self, comps: Components, grid: ValueGrid) -> np.ndarray:
        out = np.zeros(self.size)
        for part in self.parts:
            group, sub = comps.groups[part.group], part.rows
            disc, _ = conditional_purchases(
                _ByAge.of(group.purchase, part), sub, grid, start=sub.T, length=grid.horizon - sub.T
            )
            per_row = disc
            if disc.size < part.n_rows:  # the group's other buyers expect nothing more
                per_row = np.zeros(part.n_rows)
                per_row[part.short] = disc
            value = group.expected_spend(part.frequency, part.monetary) * per_row[part.inverse]
            out[part.where] = value if part.where.size == value.size else value[part.kept]
        return out


class _ByAge:
    """A purchase model's ``expected_purchases`` of one group's short rows, factored.

    The models give it as ``probability_alive(rows) * expected_purchases_if_alive(t, rows)``,
    and the second factor depends on ``frequency`` and ``T`` alone (and the horizon, here a
    function of ``T``): its special function is evaluated once per distinct ``(frequency,
    T)``, several times fewer than the rows, and P(alive) once for all the horizons of
    :func:`~funnelkit.lifecycle.values.conditional_purchases`. Both factors are those the
    model multiplies itself, so the products are the same to the last bit.
    """

    def __init__(self, model: Any, part: _GroupRows) -> None:
        self.model, self.part = model, part
        self.alive = np.asarray(model.probability_alive(part.summaries), dtype=float)

    @classmethod
    def of(cls, model: Any, part: _GroupRows) -> Any:
        """The factored model, or ``model`` itself when it has no such factorisation."""
        if callable(getattr(model, "expected_purchases_if_alive", None)):
            return cls(model, part)
        return model

    def expected_purchases(self, t: np.ndarray, data: Any) -> np.ndarray:
        # ``t`` has one horizon per row of ``part.rows`` (those ``data`` holds), equal
        # within a distinct (frequency, T)
        part = self.part
        if_alive = self.model.expected_purchases_if_alive(t[part.first], part.ages)
        return np.asarray(if_alive, dtype=float)[part.age] * self.alive


def _distinct_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first position of each distinct ``(x, y)`` and each position's pair (0, 1, ...).

    As ``np.unique`` of the stacked pairs with ``return_index`` and ``return_inverse``, which
    sorts them as records, several times slower than this stable sort on two keys.
    """
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])
    pair = np.empty(order.size, dtype=np.int64)
    pair[order] = np.cumsum(new) - 1
    return order[new], pair


def _short_rows(rows: UniqueRows, short: np.ndarray) -> UniqueRows:
    return UniqueRows(
        customers=np.zeros(0, dtype=np.int64),
        frequency=rows.frequency[short],
        recency=rows.recency[short],
        T=rows.T[short],
        inverse=np.zeros(0, dtype=np.int64),
    )


def _realized(table: CustomerTable, buyers: np.ndarray, grid: ValueGrid) -> np.ndarray:
    ev = table.events
    since = ev.time - table.at_end.first_time[ev.customer]
    inside = (since >= 0) & (since <= grid.horizon)
    total = np.bincount(
        ev.customer[inside],
        weights=ev.value[inside] * grid.discount(since[inside]),
        minlength=table.n_customers,
    )
    return total[buyers]


def _strata(
    table: CustomerTable, buyers: np.ndarray, strata: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    journeys = Journeys(
        stage_names=(FIRST_PURCHASE,),
        entry_times=table.at_end.first_time[buyers][:, None],
        customer_ids=table.customer_ids[buyers],
        censoring_times=np.full(buyers.size, table.observation_end),
        time_unit=table.unit,
        attributes={k: v[buyers] for k, v in table.attributes.items()},
        is_datetime=table.is_datetime,
    )
    combined = np.zeros(buyers.size, dtype=np.int64)
    parts: list[tuple[str, ...]] = []
    for name in strata:
        if cohort_unit(name) is None and name not in table.attributes:
            raise FunnelkitError(
                f"Unknown stratum {name!r}: use a customer attribute "
                f"{list(table.attributes)} or 'cohort:week' / 'cohort:month' (first purchase)."
            )
        codes, labels = segment_codes(journeys, name, np.arange(buyers.size), FIRST_PURCHASE)
        combined = combined * len(labels) + np.asarray(codes)
        parts.append(labels)
    values, inverse = np.unique(combined, return_inverse=True)
    names = []
    for v in values:
        pieces = []
        for labels in reversed(parts):
            pieces.append(labels[int(v % len(labels))])
            v //= len(labels)
        names.append(" | ".join(reversed(pieces)))
    return inverse.reshape(-1), tuple(names)


@dataclass(frozen=True)
class _Comparison:
    difference: float
    member_value: float
    non_member_value: float
    crude: float
    n_member: np.ndarray
    n_non_member: np.ndarray
    mean_member: np.ndarray
    mean_non_member: np.ndarray
    compared: np.ndarray


def _stratified(
    values: np.ndarray, member: np.ndarray, codes: np.ndarray, k: int, weights: np.ndarray
) -> _Comparison:
    wm, wn = weights * member, weights * ~member
    n_m = np.bincount(codes, weights=wm, minlength=k)
    n_n = np.bincount(codes, weights=wn, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_m = np.bincount(codes, weights=wm * values, minlength=k) / n_m
        mean_n = np.bincount(codes, weights=wn * values, minlength=k) / n_n
        compared = (n_m > 0) & (n_n > 0)
        total = n_m[compared].sum()
        member_value = float(np.dot(n_m[compared], mean_m[compared]) / total)
        non_member_value = float(np.dot(n_m[compared], mean_n[compared]) / total)
        crude = float(np.dot(wm, values) / wm.sum() - np.dot(wn, values) / wn.sum())
    return _Comparison(
        difference=member_value - non_member_value,
        member_value=member_value,
        non_member_value=non_member_value,
        crude=crude,
        n_member=n_m,
        n_non_member=n_n,
        mean_member=mean_m,
        mean_non_member=mean_n,
        compared=compared,
    )


class _Split:
    """``_stratified(...).difference`` for many weightings of the same buyers and strata.

    Members and non-members are summed apart: each stratum's sums then add the same terms in
    the same order as over all buyers, without the zero terms of the other group.
    """

    def __init__(self, member: np.ndarray, codes: np.ndarray, k: int) -> None:
        self.member, self.codes, self.k = member, codes, k
        self.members, self.others = np.flatnonzero(member), np.flatnonzero(~member)
        self.codes_m, self.codes_n = codes[self.members], codes[self.others]

    def difference(self, values: np.ndarray, weights: np.ndarray) -> float:
        if not np.isfinite(values).all():
            # 0 x inf or NaN spreads to the other group's sums there: keep that exactly
            return _stratified(values, self.member, self.codes, self.k, weights).difference
        k = self.k
        w_m, w_n = weights[self.members], weights[self.others]
        n_m = np.bincount(self.codes_m, weights=w_m, minlength=k)
        n_n = np.bincount(self.codes_n, weights=w_n, minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            s_m = np.bincount(self.codes_m, weights=w_m * values[self.members], minlength=k)
            s_n = np.bincount(self.codes_n, weights=w_n * values[self.others], minlength=k)
            mean_m, mean_n = s_m / n_m, s_n / n_n
            compared = (n_m > 0) & (n_n > 0)
            total = n_m[compared].sum()
            member_value = float(np.dot(n_m[compared], mean_m[compared]) / total)
            non_member_value = float(np.dot(n_m[compared], mean_n[compared]) / total)
        return member_value - non_member_value


def _none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
