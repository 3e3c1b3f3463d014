"""Stage values: the horizon value of a customer who has just entered each stage.

Definitions (time in the model's ``time_unit``; ``H`` the horizon; ``D(t) = (1 + d)^-t`` the
continuous discount factor for a rate ``d`` per ``time_unit``):

*Value from entry.* A customer's value at the moment ``e`` they enter a stage is the
discounted value of their purchases in ``[e, e + H]``: ``sum_j D(t_j - e) v_j``. Purchases
before entering are sunk and do not count; a purchase that *is* the entry event (the second
purchase that makes a repeat buyer) counts in full. The stage value ``V(s)`` is its
expectation over the customers who enter ``s``.

*A new buyer.* After a first purchase of value ``m1`` a buyer of group ``g`` (member or not at
that purchase) makes repeat purchases with expected cumulative count ``N_g(t)`` (the purchase
model's ``expected_purchases_new_customer``), each worth the spend model's population mean
``m_g``. The value of the remaining horizon ``tau`` after the first purchase is::

    A_g(tau) = m1_g + m_g * int_0^tau D(u) dN_g(u)

*Entrants who have not bought yet.* With ``F_s`` the probability of a first purchase within
``t`` of entering ``s`` (a mixture cure model, Maller & Zhou 1996) and ``q_s(t)`` the share of
those purchases made as a member::

    V_pre(s) = int_0^H D(t) [q_s(t) A_member(H - t) + (1 - q_s(t)) A_non-member(H - t)] dF_s(t)

*Stages counted in purchases* (``repeat_buyer``: the second purchase) are valued from the
purchase model alone (:func:`purchase_count_values`): at the ``k``-th purchase a buyer's
summary is ``x = k - 1``, ``t_x = T = G`` with ``G`` the time since the first purchase, whose
distribution the model gives; the value is averaged over ``G <= H``.

*Other entrants who had bought already* (a member who joined after buying): their purchase
summary ``(x, t_x, T)`` at entry is known, so::

    V_post(i) = v_entry(i) + s_i * int_0^H D(u) dE[X(T_i, T_i + u) | x_i, t_x_i, T_i]

with the purchase model's conditional expectation (Fader, Hardie & Lee 2005, eq. 10) and the
Gamma-Gamma conditional expected spend ``s_i``, averaged over these entrants with inverse
probability of censoring weights ``1 / K(d_i)`` (``d_i`` the time from their first purchase
to entering the stage, ``K`` the share of buyers followed that long), because entrants who
took long to enter are under-represented in a finite observation window.

``V(s)`` is the entrant-weighted mixture of ``V_pre`` and the mean of ``V_post``.
The integrals are evaluated with the midpoint rule on a grid of ``n_grid`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit.lifecycle._components import Components, FirstPurchaseCurve, MemberShare
from funnelkit.lifecycle._data import CustomerTable, PostEntrants, UniqueRows
from funnelkit.lifecycle._rows import SampleWeights

__all__ = ["ValueGrid", "conditional_purchases", "stage_value_array"]

#: Inverse-probability-of-censoring weights are capped at 1 / MIN_SURVIVAL.
MIN_SURVIVAL = 0.05


@dataclass(frozen=True)
class ValueGrid:
    """Horizon and continuous discount rate ``delta`` (both in model time units), and the grid.

    A discount rate ``d`` per reporting unit that is ``k`` model units long gives
    ``delta = log(1 + d) / k``.
    """

    horizon: float
    delta: float
    n_grid: int = 200

    def discount(self, t: Any) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if self.delta == 0.0 and np.isfinite(t).all():
            # exp(-0 t) is exactly 1 at finite t: no exponential of millions of zeros
            return np.ones(t.shape)
        return np.exp(-self.delta * t)

    @property
    def half_points(self) -> np.ndarray:
        """``0, h/2, h, ..., H`` with ``h = H / n_grid``."""
        return np.linspace(0.0, self.horizon, 2 * self.n_grid + 1)


def buyer_curves(comps: Components, grid: ValueGrid) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per group, ``A_g`` (discounted value) and ``1 + N_g`` (purchases) on the half grid."""
    points = grid.half_points
    values, counts = [], []
    for group in comps.groups:
        n = np.asarray(group.purchase.expected_purchases_new_customer(points), dtype=float)
        mids = 0.5 * (points[1:] + points[:-1])
        disc = np.concatenate([[0.0], np.cumsum(np.diff(n) * grid.discount(mids))])
        values.append(group.first_spend + group.spend_mean * disc)
        counts.append(1.0 + n)
    return values, counts


def pre_values(
    curve: FirstPurchaseCurve,
    share: MemberShare,
    comps: Components,
    grid: ValueGrid,
    waited: np.ndarray | None = None,
    curves: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Value, expected purchases and P(first purchase) over the horizon for non-buyers.

    ``waited`` are times already spent in the stage without buying (default: 0, just
    entered); the first-purchase distribution is then conditioned on ``T > waited``.
    """
    c = np.zeros(1) if waited is None else np.asarray(waited, dtype=float)
    values, counts = curves if curves is not None else buyer_curves(comps, grid)
    k = grid.n_grid
    u = np.linspace(0.0, grid.horizon, k + 1)
    mids = 0.5 * (u[1:] + u[:-1])
    cdf = curve.cdf(c[:, None] + u[None, :])
    mass = np.diff(cdf, axis=1)  # (C, K)
    # remaining horizon after a first purchase at mids[j] is H - mids[j] = half point 2(K-j)-1
    remaining = 2 * (k - np.arange(k)) - 1
    if len(comps.groups) == 1:
        a = np.broadcast_to(values[0][remaining], mass.shape)
        n = np.broadcast_to(counts[0][remaining], mass.shape)
    else:
        q = share(c[:, None] + mids[None, :])
        a = q * values[1][remaining] + (1.0 - q) * values[0][remaining]
        n = q * counts[1][remaining] + (1.0 - q) * counts[0][remaining]
    alive = np.maximum(1.0 - cdf[:, 0], 1e-300)
    value = (mass * grid.discount(mids) * a).sum(axis=1) / alive
    purchases = (mass * n).sum(axis=1) / alive
    prob = (cdf[:, -1] - cdf[:, 0]) / alive
    return value, purchases, prob


def conditional_purchases(
    model: Any,
    rows: UniqueRows,
    grid: ValueGrid,
    *,
    start: np.ndarray | None = None,
    length: np.ndarray | None = None,
    n_steps: int = 24,
) -> tuple[np.ndarray, np.ndarray]:
    """Discounted and plain expected purchases of each row over ``(T, T + length]``.

    The discount clock starts ``start`` time units before ``T`` (0: discount from now). The
    discounted sum uses the midpoint rule on ``n_steps`` steps (one step without discounting,
    where it is exact).
    """
    size = rows.T.size
    if size == 0:
        return np.zeros(0), np.zeros(0)
    length = np.full(size, grid.horizon) if length is None else np.asarray(length, dtype=float)
    start = np.zeros(size) if start is None else np.asarray(start, dtype=float)
    data = rows.mapping()
    if grid.delta == 0.0:
        n_steps = 1
        # one undiscounted step: 0 + (E - 0) * 1 is E itself (+ 0.0 keeps its zeros positive
        # and gives a second array) wherever the midpoint's discount is exactly 1 (finite)
        if np.isfinite(start + length * 0.5).all():
            plain = np.asarray(model.expected_purchases(length, data), dtype=float)
            return plain + 0.0, plain
    # every step's horizon at once (steps x rows), as a loop over the steps would form them
    horizons = length * (np.arange(1, n_steps + 1) / n_steps)[:, None]
    cumulative = _cumulative_purchases(model, data, horizons)
    previous = np.zeros(size)
    total = np.zeros(size)
    for j in range(1, n_steps + 1):
        current = cumulative[j - 1]
        mid = start + length * ((j - 0.5) / n_steps)
        total += (current - previous) * grid.discount(mid)
        previous = current
    return total, previous.copy()


#: cells (horizons x rows) of the grid :func:`_cumulative_purchases` asks a model for at once
_GRID_CELLS = 2**20


def _cumulative_purchases(
    model: Any, data: dict[str, np.ndarray], horizons: np.ndarray
) -> np.ndarray:
    """``model.expected_purchases(horizons[k], data)`` for every step ``k`` (steps x rows).

    Where the model factorises it as ``probability_alive(data) *
    expected_purchases_if_alive(t, data)`` (BG/NBD, MBG/NBD, Pareto/NBD: the product its
    ``expected_purchases`` forms, so the same numbers), P(alive) is found once, not once per
    step (for Pareto/NBD it is a quadrature per customer), and the second factor in one
    call on the whole grid instead of one call per step. Rows go in pieces of at most
    :data:`_GRID_CELLS` cells.
    """
    steps, n = horizons.shape
    piece = max(1, _GRID_CELLS // steps)
    if n > piece:
        return np.concatenate(
            [
                _cumulative_purchases(
                    model,
                    {k: v[at : at + piece] for k, v in data.items()},
                    horizons[:, at : at + piece],
                )
                for at in range(0, n, piece)
            ],
            axis=1,
        )
    if not (hasattr(model, "probability_alive") and hasattr(model, "expected_purchases_if_alive")):
        return np.array(
            [np.asarray(model.expected_purchases(t, data), dtype=float) for t in horizons]
        )
    alive = np.asarray(model.probability_alive(data), dtype=float)
    if_alive = np.asarray(model.expected_purchases_if_alive(horizons, data), dtype=float)
    with np.errstate(under="ignore"):  # near-certain death: 0 purchases, rightly
        return alive * if_alive


def post_values(
    post: PostEntrants, comps: Components, grid: ValueGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Per post-entrant: value from entry and expected purchases (entry purchase excluded)."""
    value = post.entry_value.copy()
    purchases = np.zeros(post.customers.size)
    for g, rows in enumerate(post.rows):
        if rows.T.size == 0:
            continue
        mine = post.group == g
        disc, plain = conditional_purchases(comps.groups[g].purchase, rows, grid)
        spend = comps.groups[g].expected_spend(post.frequency[mine], post.monetary_value[mine])
        value[mine] += spend * disc[rows.inverse]
        purchases[mine] = plain[rows.inverse]
    return value, purchases


def stage_value_array(
    table: CustomerTable,
    comps: Components,
    grid: ValueGrid,
    weights: np.ndarray | SampleWeights | None,
    *,
    curves: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> np.ndarray:
    """``V(s)`` for every stage (NaN for a stage nobody entered).

    ``weights`` per customer, or the :class:`SampleWeights` of ``table.weight_plan`` that
    the components were fitted with (its stage counts are taken from there, not counted
    again). ``curves`` are :func:`buyer_curves` of ``comps`` when the caller has them.
    """
    curves = buyer_curves(comps, grid) if curves is None else curves
    counted: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
    out = np.full(len(table.stage_names), np.nan)
    if isinstance(weights, SampleWeights):
        sample = weights
    else:
        w = np.ones(table.n_customers) if weights is None else np.asarray(weights)
        sample = table.weight_plan.sample(w)
    for k, stage in enumerate(table.stage_names):
        total = mass = 0.0
        pre = table.pre.get(stage)
        if pre is not None:
            n_pre = float(sample.block(("pre", stage)).sum())  # the entrants' weights
            if n_pre > 0:
                value = pre_values(
                    comps.curves[stage], comps.shares[stage], comps, grid, curves=curves
                )[0]
                total += n_pre * float(value[0])
                mass += n_pre
        post = table.post.get(stage)
        if post is not None:
            count = table.purchase_counts.get(stage)
            if count is not None and count not in counted:
                counted[count] = purchase_count_values(comps, grid, count, curves=curves)
            by_group = None if count is None else counted[count]
            shares = sample.block(("post", stage))  # the stage's buyers per group
            n_post = float(shares.sum())
            if n_post > 0 and by_group is not None:
                total += float(np.dot(shares, by_group[0]))
                mass += n_post
            elif n_post > 0:
                value = post_values(post, comps, grid)[0]
                wp = sample.weights[post.customers]
                ipcw = wp / np.maximum(
                    table.followup_survival(post.delay, sample.weights), MIN_SURVIVAL
                )
                total += n_post * float(np.dot(ipcw, value)) / float(ipcw.sum())
                mass += n_post
        if mass > 0:
            out[k] = total / mass
    return out


def purchase_count_values(
    comps: Components,
    grid: ValueGrid,
    count: int,
    *,
    curves: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per group, value and expected purchases at the ``count``-th purchase (model-based).

    A customer enters a stage counted in purchases (``repeat_buyer``: the 2nd) at the time
    ``G`` of their ``count - 1``-th repeat purchase, counted from the first purchase. Under the
    purchase model a new buyer has ``P(G > g) = P(X(g) <= count - 2)``
    (``probability_of_purchases``), and at that moment their summary is ``x = count - 1``,
    ``t_x = T = G``. Averaging over the model's distribution of ``G`` *within the horizon*
    (``G <= H``: a repeat buyer is someone whose ``count``-th purchase comes within the horizon
    of the first, which keeps the answer from resting on gaps of many years that the data
    cannot show)::

        V = m * (1 + E[ int_0^H D(u) dE[X(G, G + u) | x, G, G] | G <= H ])

    (the entry purchase and later ones each worth the mean spend ``m``; for ``count = 1`` it
    is the new-buyer value ``A(H)``). None if the purchase model cannot give
    ``probability_of_purchases``. ``curves`` are :func:`buyer_curves` of ``comps`` when the
    caller has them already.
    """
    if count <= 1:
        values, counts = buyer_curves(comps, grid) if curves is None else curves
        return np.array([v[-1] for v in values]), np.array([c[-1] for c in counts])
    edges = np.concatenate([[0.0], np.geomspace(grid.horizon * 1e-6, grid.horizon, 160)])
    mids = 0.5 * (edges[1:] + edges[:-1])
    out_v, out_n = [], []
    for group in comps.groups:
        model = group.purchase
        if not hasattr(model, "probability_of_purchases"):
            return None
        with np.errstate(all="ignore"):
            below = sum(
                np.asarray(model.probability_of_purchases(n, edges), dtype=float)
                for n in range(count - 1)
            )
        below = np.clip(np.minimum.accumulate(np.asarray(below)), 0.0, 1.0)
        mass = np.maximum(-np.diff(below), 0.0)
        if not mass.sum() > 0:
            out_v.append(np.nan)
            out_n.append(np.nan)
            continue
        rows = UniqueRows(
            customers=np.zeros(0, dtype=np.int64),
            frequency=np.full(mids.size, float(count - 1)),
            recency=mids,
            T=mids,
            inverse=np.zeros(0, dtype=np.int64),
        )
        disc, plain = conditional_purchases(model, rows, grid)
        share = mass / mass.sum()
        out_v.append(group.spend_mean * (1.0 + float(np.dot(share, disc))))
        out_n.append(1.0 + float(np.dot(share, plain)))
    return np.array(out_v), np.array(out_n)


def new_buyer_values(
    comps: Components,
    grid: ValueGrid,
    *,
    curves: tuple[list[np.ndarray], list[np.ndarray]] | None = None,
) -> np.ndarray:
    """``A_g(H)``: horizon value of a buyer at their first purchase, per group.

    ``curves`` are :func:`buyer_curves` of ``comps`` when the caller has them already.
    """
    values, _ = buyer_curves(comps, grid) if curves is None else curves
    return np.array([v[-1] for v in values])
