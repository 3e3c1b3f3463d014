"""Fits that fail on one bootstrap sample or one segment are contained, counted and stated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from funnelkit import EventLog
from funnelkit.datasets import simulate_community
from funnelkit.exceptions import ConvergenceError
from funnelkit.lifecycle import LifecycleModel, _components, model as model_module
from funnelkit.lifecycle._bootstrap import failure_reason, run_replicates


@pytest.fixture(scope="module")
def small() -> tuple[EventLog, Any]:
    sim = simulate_community(2_000, seed=5)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return log, sim.observation_end


def _failing_on(calls: set[int], exc: BaseException, real: Callable[..., Any]) -> Any:
    """``real`` wrapped to raise ``exc`` on the given (1-based) calls."""
    count = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] in calls:
            raise exc
        return real(*args, **kwargs)

    return wrapper


def test_the_default_seed_is_fixed(small: tuple[EventLog, Any]) -> None:
    log, end = small
    assert LifecycleModel().random_state == 0
    a = LifecycleModel(n_bootstrap=10).fit(log, observation_end=end)
    b = LifecycleModel(n_bootstrap=10).fit(log, observation_end=end)
    assert a.random_state_ == 0
    assert a.stage_values().to_json() == b.stage_values().to_json()
    assert a.stage_values()["prospect"].ci is not None


def test_no_seed_draws_one_and_records_it(small: tuple[EventLog, Any]) -> None:
    log, end = small
    drawn = LifecycleModel(n_bootstrap=10, random_state=None).fit(log, observation_end=end)
    assert isinstance(drawn.random_state_, int)
    again = LifecycleModel(n_bootstrap=10, random_state=drawn.random_state_)
    again = again.fit(log, observation_end=end)
    assert again.stage_values().to_json() == drawn.stage_values().to_json()


@pytest.mark.parametrize(
    "exc",
    [
        OverflowError("math range error"),
        ZeroDivisionError("float division by zero"),
        np.linalg.LinAlgError("Singular matrix"),
        ConvergenceError("BetaGeoFitter did not converge: ABNORMAL"),
        ValueError("array must not contain infs or NaNs"),
    ],
)
def test_run_replicates_counts_numerical_failures(exc: BaseException) -> None:
    fn = _failing_on({2}, exc, lambda w: int(w.sum()))
    results, failures = run_replicates(np.arange(4), 10, fn)
    assert failures.count == 1 and failures.total == 4 and not failures.too_many
    assert [r for _, r in results] == [10, 10, 10]


def test_run_replicates_does_not_hide_programming_errors() -> None:
    fn = _failing_on({2}, TypeError("unsupported operand"), lambda w: 0)
    with pytest.raises(TypeError, match="unsupported operand"):
        run_replicates(np.arange(4), 10, fn)


def test_a_replicate_that_overflows_is_left_out_and_counted(
    small: tuple[EventLog, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, end = small
    real = model_module.fit_components
    # call 1 is the full-data fit, call 2 the first bootstrap sample
    monkeypatch.setattr(
        model_module, "fit_components", _failing_on({2}, OverflowError("math range error"), real)
    )
    model = LifecycleModel(n_bootstrap=12).fit(log, observation_end=end)
    assert model.n_bootstrap_failed_ == 1
    assert (
        "1 of 12 bootstrap samples could not be fitted (OverflowError: math range error) and "
        "were left out of the intervals"
    ) in model.notes_
    sv = model.stage_values()
    assert sv.n_bootstrap == 11
    assert sv["prospect"].ci is not None


def test_intervals_are_not_estimable_when_most_replicates_fail(
    small: tuple[EventLog, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, end = small
    real = model_module.fit_components
    failing = set(range(2, 2 + 12))  # 12 of 22 samples fail: more than half in any case
    monkeypatch.setattr(
        model_module,
        "fit_components",
        _failing_on(failing, OverflowError("math range error"), real),
    )
    model = LifecycleModel(n_bootstrap=22).fit(log, observation_end=end)
    failed = model.n_bootstrap_failed_
    assert 12 <= failed <= 22  # a sample may also fail on its own
    sv = model.stage_values()
    assert all(v.ci is None and v.value is not None for v in sv.values())
    assert model.value_of_advancing("prospect", "visitor").ci is None
    assert sv.interval_method == (
        f"not estimable: {failed} of 22 bootstrap samples could not be fitted (more than half)"
    )
    assert any(
        n.startswith(f"{failed} of 22 bootstrap samples could not be fitted (OverflowError")
        and n.endswith("the intervals are not estimable")
        for n in model.notes_
    )


def test_failure_reasons_are_one_short_line() -> None:
    exc = ConvergenceError("BetaGeoFitter did not converge: ABNORMAL. Things to try: 1. a\n2. b")
    assert failure_reason(exc) == "BetaGeoFitter did not converge: ABNORMAL"
    assert failure_reason(OverflowError("math range error")) == "OverflowError: math range error"
    assert failure_reason(ValueError("x" * 300)) == "ValueError: " + "x" * 197 + "..."


def test_a_segment_whose_purchase_fit_fails_borrows_the_pooled_model(
    small: tuple[EventLog, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, end = small
    model = LifecycleModel(n_bootstrap=0).fit(log, observation_end=end)
    calls: list[float] = []
    real = _components._fit_purchase

    def fit_purchase(spec: Any, rows: Any, row_w: np.ndarray, *args: Any) -> Any:
        calls.append(float(row_w.sum()))
        if len(calls) == 1:  # the first segment's first group
            raise ConvergenceError("BetaGeoFitter did not converge: ABNORMAL_TERMINATION_IN_LNSRCH")
        return real(spec, rows, row_w, *args)

    monkeypatch.setattr(_components, "_fit_purchase", fit_purchase)
    by_channel = model.segment_values("channel")
    first = by_channel.rows[0]
    assert first.segment == "facebook"
    assert "member" in first.pooled_models
    assert first.value_per_prospect.value is not None
    assert (
        "facebook: member: the purchase model could not be fitted (BetaGeoFitter did not "
        "converge: ABNORMAL_TERMINATION_IN_LNSRCH); the model fitted on all customers stands in"
    ) in by_channel.notes
