"""Per-customer scores: current stage, probability alive, expected purchases and value."""

from __future__ import annotations

from typing import Any

import numpy as np

from funnelkit._frames import frame_from_columns
from funnelkit.clv.scoring import score_batch
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle.state import LifecycleFit, check_customers
from funnelkit.lifecycle.values import buyer_curves, conditional_purchases, pre_values

__all__ = ["score_customers"]

NO_STAGE = "(none)"
_WAIT_GRID = 129


def score_customers(
    fit: LifecycleFit, customers: CustomerTable, *, backend: str | None = None
) -> Any:
    """Score every customer of ``customers`` as of its observation end.

    The customers need not be those the model was fitted on: a table built from new events
    under the fitted funnel (``LifecycleModel.customers(log)``) is scored the same way.

    Columns (one row per customer, in the log's customer order):

    ``customer_id``; ``stage`` (the last funnel stage reached, ``"(none)"`` if none);
    ``group`` (``"member"``/``"non-member"`` at the first purchase, None for non-buyers);
    ``probability_alive`` (buyers: the purchase model's P(alive); NaN for non-buyers);
    ``probability_first_purchase`` (non-buyers: P(first purchase within the horizon), given
    how long they have already waited in their stage; NaN for buyers);
    ``expected_purchases`` (over the horizon from the observation end, undiscounted) and
    ``expected_value`` (discounted; buyers: conditional expected purchases times Gamma-Gamma
    expected spend; non-buyers: the stage value conditioned on their time in the stage).

    A customer whose events belong to none of the funnel's stages and who never bought
    (stage ``"(none)"``) is outside what the model describes: all four numbers are NaN.

    Parameters
    ----------
    fit
        The fitted state (``LifecycleModel.fit_``).
    customers
        The customer table to score (``LifecycleModel.customers(log)``).
    backend
        None for a dict of numpy arrays, or ``"pandas"``, ``"polars"``, ``"pyarrow"``.
    """
    check_customers(fit, customers, "Scoring")
    table = customers
    comps = fit.main_components()
    grid = fit.grid
    n = table.n_customers
    reached = ~np.isnan(table.entry)
    last = np.where(reached.any(axis=1), reached.shape[1] - 1 - np.argmax(reached[:, ::-1], 1), -1)
    names = np.array([*table.stage_names, NO_STAGE], dtype=object)
    stage = names[last]  # index -1 picks NO_STAGE
    groups = np.array([*table.group_names, None], dtype=object)
    group = groups[table.group.astype(np.int64)]

    alive = np.full(n, np.nan)
    first_prob = np.full(n, np.nan)
    purchases = np.full(n, np.nan)
    value = np.full(n, np.nan)
    at_end = table.at_end
    with np.errstate(all="ignore"):
        for g, rows in enumerate(table.buyer_rows):
            if rows.T.size == 0:
                continue
            model_g = comps.groups[g]
            mine = rows.customers
            # P(alive) and the undiscounted purchases come from the CLV scoring door; the
            # value discounts continuously over the grid like the stage values do.
            scored = score_batch(
                model_g.purchase, rows.mapping(), horizon=grid.horizon, data_time_unit=fit.period
            )
            disc, _ = conditional_purchases(model_g.purchase, rows, grid)
            spend = model_g.expected_spend(at_end.frequency[mine], at_end.monetary_value[mine])
            alive[mine] = scored["probability_alive"][rows.inverse]
            purchases[mine] = scored["expected_purchases"][rows.inverse]
            value[mine] = spend * disc[rows.inverse]
        curves = buyer_curves(comps, grid)
        for k, name in enumerate(table.stage_names):
            pre = table.pre.get(name)
            if pre is None:
                continue
            mine = np.flatnonzero((last == k) & (table.group < 0))
            if mine.size == 0:
                continue
            waited = np.maximum(table.observation_end - table.entry[mine, k], 0.0)
            points = np.linspace(0.0, float(waited.max()), _WAIT_GRID)
            v, p, q = pre_values(
                comps.curves[name], comps.shares[name], comps, grid, waited=points, curves=curves
            )
            value[mine] = np.interp(waited, points, v)
            purchases[mine] = np.interp(waited, points, p)
            first_prob[mine] = np.interp(waited, points, q)
    columns = {
        "customer_id": table.customer_ids,
        "stage": stage,
        "group": group,
        "probability_alive": alive,
        "probability_first_purchase": first_prob,
        "expected_purchases": purchases,
        "expected_value": value,
    }
    if backend is None:
        return columns
    return frame_from_columns(columns, backend)  # type: ignore[arg-type]
