"""Bootstrap counts drawn once for the two membership uplifts, the same as drawn each time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from funnelkit import LifecycleModel
from funnelkit.lifecycle import _bootstrap
from funnelkit.lifecycle._bootstrap import (
    replicate_weights,
    shared_replicate_weights,
    sharing_replicate_weights,
)
from funnelkit.lifecycle.join_uplift import membership_uplift_from_join
from funnelkit.lifecycle.uplift import membership_uplift


def test_the_second_call_takes_the_kept_copy_back() -> None:
    with sharing_replicate_weights():
        first = shared_replicate_weights(3, 5000)
        assert list(_bootstrap._SHARED) == [(3, 5000)]
        assert _bootstrap._SHARED[(3, 5000)].dtype == np.uint8
        second = shared_replicate_weights(3, 5000)
        assert not _bootstrap._SHARED
    expected = replicate_weights(3, 5000)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected)
    assert first.dtype == second.dtype == expected.dtype


def test_nothing_is_kept_outside_and_all_is_forgotten_on_leaving() -> None:
    np.testing.assert_array_equal(shared_replicate_weights(4, 500), replicate_weights(4, 500))
    assert not _bootstrap._SHARED
    with sharing_replicate_weights():
        with sharing_replicate_weights():
            shared_replicate_weights(3, 500)
        # an inner sharing leaves the outer one's copies kept
        assert list(_bootstrap._SHARED) == [(3, 500)]
    assert not _bootstrap._SHARED


def test_kept_copies_stay_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bootstrap, "SHARED_WEIGHTS_BYTES", 2500)
    with sharing_replicate_weights():
        for seed in range(4):
            np.testing.assert_array_equal(
                shared_replicate_weights(seed, 1000), replicate_weights(seed, 1000)
            )
        assert sorted(_bootstrap._SHARED) == [(0, 1000), (1, 1000)]
        for seed in range(4):
            np.testing.assert_array_equal(
                shared_replicate_weights(seed, 1000), replicate_weights(seed, 1000)
            )
        # the ones not kept were kept on their second draw, in the room the first ones left
        assert sorted(_bootstrap._SHARED) == [(2, 1000), (3, 1000)]


def test_counts_above_a_byte_are_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    big = np.array([0, 256, 1, 3])
    small = np.array([0, 255, 1, 3])
    with sharing_replicate_weights():
        monkeypatch.setattr(_bootstrap, "replicate_weights", lambda seed, n: big.copy())
        np.testing.assert_array_equal(shared_replicate_weights(1, 4), big)
        assert not _bootstrap._SHARED
        monkeypatch.setattr(_bootstrap, "replicate_weights", lambda seed, n: small.copy())
        shared_replicate_weights(1, 4)
        np.testing.assert_array_equal(_bootstrap._SHARED[(1, 4)], small)


def test_no_customers() -> None:
    with sharing_replicate_weights():
        assert shared_replicate_weights(0, 0).size == 0
        assert shared_replicate_weights(0, 0).size == 0


def test_both_uplifts_leave_nothing_kept(fitted: LifecycleModel) -> None:
    # as the report calls them: the first keeps the counts, the second takes them back
    table = fitted.customers()
    with sharing_replicate_weights():
        stratified = membership_uplift(fitted.fit_, table)
        assert len(_bootstrap._SHARED) == fitted.fit_.n_resamples
        membership_uplift_from_join(fitted.fit_, table, stratified=stratified)
        assert not _bootstrap._SHARED
    # the membership uplift alone keeps nothing; the uplift from the join, which computes
    # it itself, shares the counts within the call
    assert membership_uplift(fitted.fit_, table) == stratified
    assert not _bootstrap._SHARED
    alone = fitted.membership_uplift_from_join()
    assert not _bootstrap._SHARED
    assert alone.stratified == stratified


def test_samples_that_cannot_be_valued_leave_no_interval(
    fitted: LifecycleModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # more than half of the samples failing: the rest are not a random set of samples
    from funnelkit.lifecycle import uplift

    point_only = uplift._HorizonRows.values
    calls: list[Any] = []

    def values(self: Any, comps: Any, grid: Any) -> Any:
        calls.append(comps)
        if len(calls) > 1:
            raise ValueError("array must not contain infs or NaNs")
        return point_only(self, comps, grid)

    monkeypatch.setattr(uplift._HorizonRows, "values", values)
    got = membership_uplift(fitted.fit_, fitted.customers())
    assert got.difference.value is not None and got.difference.ci is None
    assert len(calls) == 1 + fitted.fit_.n_resamples
