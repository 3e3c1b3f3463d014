"""A customer table's subset: every per-customer and per-purchase array, cut by hand."""

from __future__ import annotations

import numpy as np

from funnelkit import LifecycleModel


def test_subset_cuts_every_array_of_the_chosen_customers(fitted: LifecycleModel) -> None:
    table = fitted.customers()
    chosen = np.flatnonzero(np.random.default_rng(4).random(table.n_customers) < 0.3)
    sub = table.subset(chosen)
    code = np.full(table.n_customers, -1)
    code[chosen] = np.arange(chosen.size)

    ev, mine = table.events, np.isin(table.events.customer, chosen)
    np.testing.assert_array_equal(sub.events.customer, code[ev.customer[mine]])
    np.testing.assert_array_equal(sub.events.time, ev.time[mine])
    np.testing.assert_array_equal(sub.events.period, ev.period[mine])
    np.testing.assert_array_equal(sub.events.value, ev.value[mine])
    assert sub.events.n_customers == chosen.size

    for name, entrants in table.pre.items():
        keep = np.isin(entrants.customers, chosen)
        got = sub.pre[name]
        np.testing.assert_array_equal(got.customers, code[entrants.customers[keep]])
        np.testing.assert_array_equal(got.durations, entrants.durations[keep])
        np.testing.assert_array_equal(got.converted, entrants.converted[keep])
    for name, buyers in table.post.items():
        keep = np.isin(buyers.customers, chosen)
        got = sub.post[name]
        np.testing.assert_array_equal(got.customers, code[buyers.customers[keep]])
        np.testing.assert_array_equal(got.delay, buyers.delay[keep])
        np.testing.assert_array_equal(got.monetary_value, buyers.monetary_value[keep])

    followed = np.isin(table.followup_order, chosen)
    np.testing.assert_array_equal(sub.followup_order, code[table.followup_order[followed]])
    np.testing.assert_array_equal(sub.followup_sorted, table.followup_sorted[followed])

    np.testing.assert_array_equal(sub.entry, table.entry[chosen])
    np.testing.assert_array_equal(sub.journeys.entry_times, table.journeys.entry_times[chosen])
    np.testing.assert_array_equal(sub.journeys.customer_ids, table.customer_ids[chosen])
    np.testing.assert_array_equal(
        sub.journeys.censoring_times, table.journeys.censoring_times[chosen]
    )


def test_subset_rows_are_those_of_the_chosen_buyers_in_order() -> None:
    # Few or many chosen customers: their distinct rows keep the table's row order.
    from funnelkit.lifecycle._data import unique_rows

    rng = np.random.default_rng(7)
    n = 400
    customers = np.sort(rng.choice(2 * n, n, replace=False))
    x, t_x = rng.integers(0, 4, n), rng.integers(0, 6, n)
    rows = unique_rows(customers, x, t_x, t_x + rng.integers(0, 3, n))
    for share in (0.01, 0.6):
        keep = rng.random(2 * n) < share
        new_code = np.cumsum(keep) - 1
        sub = rows.subset(keep, new_code)
        mine = keep[customers]
        want = unique_rows(
            new_code[customers[mine]], x[mine], t_x[mine], rows.T[rows.inverse][mine]
        )
        np.testing.assert_array_equal(sub.customers, want.customers)
        for name in ("frequency", "recency", "T", "inverse"):
            np.testing.assert_array_equal(getattr(sub, name), getattr(want, name))


def test_a_subsets_purchases_are_gathered_when_read_and_nest(fitted: LifecycleModel) -> None:
    table = fitted.customers()
    chosen = np.flatnonzero(np.random.default_rng(5).random(table.n_customers) < 0.5)
    sub = table.subset(chosen)
    assert "time" not in vars(sub.events)  # a segment's refits never read its purchases
    inner = np.flatnonzero(np.random.default_rng(6).random(chosen.size) < 0.5)
    nested, direct = sub.subset(inner).events, table.subset(chosen[inner]).events
    for name in ("customer", "time", "period", "value"):
        got, want = getattr(nested, name), getattr(direct, name)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert nested.n_customers == direct.n_customers == inner.size
    starts, counts = nested.runs
    np.testing.assert_array_equal(counts, np.bincount(direct.customer, minlength=inner.size))
    np.testing.assert_array_equal(starts, np.cumsum(counts) - counts)
