"""A segment's refits on its own sub-table equal refits on every customer with weight 0 outside."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.lifecycle import LifecycleModel
from funnelkit.lifecycle._bootstrap import replicate_weights
from funnelkit.lifecycle._components import fit_components
from funnelkit.lifecycle.segments import customer_segments
from funnelkit.lifecycle.state import refit_components
from funnelkit.lifecycle.values import stage_value_array


@pytest.fixture(scope="module")
def referral(fitted: LifecycleModel) -> np.ndarray:
    table = fitted.customers()
    codes, labels = customer_segments(table, "channel")
    return np.flatnonzero(codes == labels.index("referral"))


def test_the_sub_table_holds_the_segment_customers_only(
    fitted: LifecycleModel, referral: np.ndarray
) -> None:
    table = fitted.customers()
    sub = table.subset(referral)
    assert sub.n_customers == referral.size
    np.testing.assert_array_equal(sub.customer_ids, table.customer_ids[referral])
    np.testing.assert_array_equal(sub.attributes["channel"], np.full(referral.size, "referral"))
    np.testing.assert_array_equal(sub.at_end.frequency, table.at_end.frequency[referral])
    inside = np.zeros(table.n_customers, dtype=bool)
    inside[referral] = True
    for g, rows in enumerate(sub.buyer_rows):
        # every row is used, and each customer keeps its (frequency, recency, T)
        assert np.bincount(rows.inverse, minlength=rows.T.size).min() >= 1
        full = table.buyer_rows[g]
        assert rows.customers.size == int(inside[full.customers].sum())
        np.testing.assert_array_equal(
            rows.frequency[rows.inverse], sub.at_end.frequency[rows.customers]
        )
        np.testing.assert_array_equal(rows.T[rows.inverse], sub.at_end.T[rows.customers])
    for stage, pre in sub.pre.items():
        assert pre.customers.size == int(inside[table.pre[stage].customers].sum())
    assert sub.events.customer.size == int(inside[table.events.customer].sum())
    assert np.all(np.diff(sub.followup_sorted) >= 0)
    assert sub.followup_order.size == int(inside[table.followup_order].sum())


@pytest.mark.parametrize("seed", [None, 11])
def test_refits_on_the_sub_table_equal_refits_with_zero_weights(
    fitted: LifecycleModel, referral: np.ndarray, seed: int | None
) -> None:
    fit, table = fitted.fit_, fitted.customers()
    main = fit.main_components()
    weights = (
        np.ones(table.n_customers, dtype=np.int64)
        if seed is None
        else replicate_weights(seed, table.n_customers)
    )
    outside = np.zeros(table.n_customers, dtype=np.int64)
    outside[referral] = 1
    w_full = weights * outside
    full = refit_components(fit, table, w_full, template=main, pooled=main)
    sub = table.subset(referral)
    w_sub = weights[referral]
    own = refit_components(fit, sub, w_sub, template=main, pooled=main)
    for a, b in zip(full.groups, own.groups, strict=True):
        assert a.pooled == b.pooled
        assert a.n_buyers == b.n_buyers
        assert a.first_spend == pytest.approx(b.first_spend, rel=1e-12)
        for name, value in a.purchase.params_.items():
            assert b.purchase.params_[name] == pytest.approx(value, rel=1e-9), name
    for stage, curve in full.curves.items():
        assert own.curves[stage].method == curve.method
        if curve.cure is not None:
            np.testing.assert_allclose(own.curves[stage].cure.coefficients, curve.cure.coefficients)
    np.testing.assert_allclose(
        stage_value_array(sub, own, fit.grid, w_sub),
        stage_value_array(table, full, fit.grid, w_full),
        rtol=1e-9,
    )


def test_a_segment_fit_with_curvature_has_standard_errors_and_the_same_estimates(
    fitted: LifecycleModel, referral: np.ndarray
) -> None:
    # the segment's own fit keeps the curvature its bootstrap samples step in; a refit
    # (curvature=False) gives the same estimates without standard errors
    fit, table = fitted.fit_, fitted.customers()
    main = fit.main_components()
    sub = table.subset(referral)
    ones = np.ones(referral.size, dtype=np.int64)
    settings = {
        "purchase_model": fit.purchase_spec(),
        "conversion_model": fit.conversion_model,
        "conf_level": fit.conf_level,
        "template": main,
        "pooled_fallback": main,
        "horizon": fit.grid_horizon,
    }
    full = fit_components(sub, ones, curvature=True, **settings)
    quick = fit_components(sub, ones, **settings)
    for a, b in zip(full.groups, quick.groups, strict=True):
        assert not a.pooled and not b.pooled
        with_errors = a.purchase.summary()["std_error"].to_numpy()
        without = b.purchase.summary()["std_error"].to_numpy(dtype=float)
        assert np.all(np.isfinite(with_errors)) and np.all(with_errors > 0)
        assert not np.any(np.isfinite(without))
        for name, value in a.purchase.params_.items():
            assert b.purchase.params_[name] == pytest.approx(value, rel=1e-4), name
        assert a.spend is not None and b.spend is not None
        assert np.all(np.isfinite(a.spend.summary()["std_error"].to_numpy()))
