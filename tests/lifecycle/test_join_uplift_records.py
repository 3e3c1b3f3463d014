"""The landmark records of the join uplift against a direct computation, landmark by landmark."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from funnelkit import LifecycleModel
from funnelkit.lifecycle._bootstrap import replicate_weights
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle._join_records import compare, landmark_records, strata


def _direct(table: CustomerTable, window: float, step: float, delta: float):
    """Every landmark over every customer and every purchase, sorted by time: the definition."""
    k = table.stage_names.index("member")
    join, before = table.entry[:, k], table.entry[:, k - 1]
    fixed, n_fixed, _ = strata(table)
    ev = table.events
    order = np.argsort(ev.time, kind="stable")
    times, custs, values = ev.time[order], ev.customer[order], ev.value[order]
    landmarks = np.arange(float(np.nanmin(join)), table.observation_end - window + 1e-9, step)
    rows = []
    for j, land in enumerate(landmarks):
        at_risk = (before < land + step) & ~(join < land)
        member = at_risk & (join < land + step)
        if not member.any():
            continue
        upto = int(np.searchsorted(times, land, side="left"))
        so_far = np.bincount(custs[:upto], minlength=table.n_customers)
        stratum = fixed * 4 + np.minimum(so_far, 3)
        control = at_risk & ~member & np.isin(stratum, stratum[member])
        idx = np.flatnonzero(member | control)
        stop = int(np.searchsorted(times, land + window, side="right"))
        outcome = np.bincount(
            custs[upto:stop],
            weights=values[upto:stop] * np.exp(-delta * (times[upto:stop] - land)),
            minlength=table.n_customers,
        )
        cell = j * n_fixed * 4 + stratum[idx]
        rows.append((idx, cell, member[idx], outcome[idx]))
    cust, cell, mem, out = (np.concatenate(p) for p in zip(*rows, strict=True))
    cell = np.unique(cell, return_inverse=True)[1].reshape(-1)
    return cust, cell, mem, out


def _assert_same(table: CustomerTable, window: float, step: float, delta: float) -> None:
    records, info = landmark_records(table, "member", window, step, delta)
    cust, cell, mem, out = _direct(table, window, step, delta)
    np.testing.assert_array_equal(records.customer, cust)
    np.testing.assert_array_equal(records.cell, cell)
    np.testing.assert_array_equal(records.member, mem)
    # the same sums in the same order: equal to the last bit
    np.testing.assert_array_equal(records.outcome, out)
    assert records.n_cells == int(cell.max()) + 1
    assert info["n_landmarks"] == len(
        np.arange(float(np.nanmin(table.entry[:, 2])), table.observation_end - window + 1e-9, step)
    )


@pytest.mark.parametrize(("window", "step"), [(90.0, 7.0), (30.0, 30.0), (45.5, 3.0)])
def test_records_equal_the_direct_computation(
    fitted: LifecycleModel, window: float, step: float
) -> None:
    _assert_same(fitted.customers(), window, step, fitted.fit_.grid.delta)


def test_records_do_not_depend_on_the_order_of_the_purchases(fitted: LifecycleModel) -> None:
    table = fitted.customers()
    ev = table.events
    shuffled = np.random.default_rng(5).permutation(ev.customer.size)
    events = dataclasses.replace(
        ev,
        customer=ev.customer[shuffled],
        time=ev.time[shuffled],
        period=ev.period[shuffled],
        value=ev.value[shuffled],
    )
    mixed = dataclasses.replace(table, events=events)
    _assert_same(mixed, 90.0, 7.0, fitted.fit_.grid.delta)
    ordered, _ = landmark_records(table, "member", 90.0, 7.0, fitted.fit_.grid.delta)
    again, _ = landmark_records(mixed, "member", 90.0, 7.0, fitted.fit_.grid.delta)
    np.testing.assert_allclose(again.outcome, ordered.outcome, rtol=1e-12, atol=0)


def _compare_all_rows(records, weights: np.ndarray) -> tuple[float, float]:
    """The comparison over all rows in landmark order, the zero terms included."""
    w = weights[records.customer]
    member = records.member
    wm, wc = w * member, w * ~member
    k, cell, outcome = records.n_cells, records.cell, records.outcome
    n_m = np.bincount(cell, weights=wm, minlength=k)
    n_c = np.bincount(cell, weights=wc, minlength=k)
    s_m = np.bincount(cell, weights=wm * outcome, minlength=k)
    s_c = np.bincount(cell, weights=wc * outcome, minlength=k)
    ok = (n_m > 0) & (n_c > 0)
    total = n_m[ok].sum()
    return float(s_m[ok].sum() / total), float(np.dot(n_m[ok], s_c[ok] / n_c[ok]) / total)


def test_members_and_non_members_summed_apart_give_the_same_bits(fitted: LifecycleModel) -> None:
    table = fitted.customers()
    records, _ = landmark_records(table, "member", 90.0, 7.0, fitted.fit_.grid.delta)
    assert 0 < records.n_member_rows < records.order.size
    for seed in range(5):
        weights = replicate_weights(seed, table.n_customers).astype(float)
        assert compare(records, weights) == _compare_all_rows(records, weights)
    everyone = np.ones(table.n_customers)
    assert compare(records, everyone) == _compare_all_rows(records, everyone)


@pytest.mark.parametrize("delta", [0.0, 0.002])
def test_records_equal_the_direct_computation_with_and_without_discount(
    fitted: LifecycleModel, delta: float
) -> None:
    _assert_same(fitted.customers(), 90.0, 7.0, delta)


def test_records_when_some_buyers_never_reached_the_stage_before(fitted: LifecycleModel) -> None:
    table = fitted.customers()
    entry = table.entry.copy()
    k = table.stage_names.index("member")
    buyers = np.unique(table.events.customer)
    # a third of the buyers without the stage before membership: never at risk, and their
    # purchases are left out of every window
    entry[buyers[::3], k - 1] = np.nan
    entry[buyers[::3], k:] = np.nan
    partial = dataclasses.replace(table, entry=entry)
    _assert_same(partial, 90.0, 7.0, fitted.fit_.grid.delta)
    records, _ = landmark_records(partial, "member", 90.0, 7.0, 0.0)
    assert not np.isin(records.customer, buyers[::3]).any()
