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
