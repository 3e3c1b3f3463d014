"""The join uplift's comparison per bootstrap sample, from runs and bought records, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit import LifecycleModel
from funnelkit.lifecycle._bootstrap import replicate_weights
from funnelkit.lifecycle._join_records import Records, Resampled, compare, landmark_records


@pytest.fixture(scope="module")
def records(fitted: LifecycleModel) -> Records:
    return landmark_records(fitted.customers(), "member", 90.0, 7.0, 0.0)[0]


@pytest.mark.parametrize("seed", range(6))
def test_a_sample_compares_as_over_every_record(records: Records, seed: int) -> None:
    counts = replicate_weights(seed, int(records.parts_customer.max()) + 1)
    assert Resampled(records).compare(counts) == compare(records, counts.astype(float))


def test_counts_too_large_for_a_byte_and_all_ones(records: Records) -> None:
    n = int(records.parts_customer.max()) + 1
    resampled = Resampled(records)
    big = replicate_weights(11, n) * 300
    assert big.max() > 255
    assert resampled.compare(big) == compare(records, big.astype(float))
    ones = np.ones(n, dtype=np.int64)
    assert resampled.compare(ones) == compare(records, np.ones(n))


def test_runs_are_fewer_than_the_non_members_records(records: Records) -> None:
    resampled = Resampled(records)
    n_non_member_rows = records.order.size - records.n_member_rows
    n_runs = resampled.run_customer.size
    assert 0 < n_runs < n_non_member_rows
    assert resampled.span_start.size < n_runs
    assert (resampled.span_begin < resampled.span_end).all()
    # every non-member record lies in exactly one run of its customer
    per_span = np.diff(np.append(resampled.span_start, n_runs))
    cells = resampled.span_end - resampled.span_begin
    assert int((per_span * cells).sum()) == n_non_member_rows
    assert resampled.bought_customer.size < n_non_member_rows
    assert (resampled.bought_outcome != 0).all()


def test_cell_ranks_order_cells_by_stratum_then_landmark(records: Records) -> None:
    rank = records.cell_rank
    np.testing.assert_array_equal(np.sort(rank), np.arange(records.n_cells))
    # a non-member's cells are consecutive in that order while their stratum stays
    non_member = ~records.member
    customer, place = records.customer[non_member], rank[records.cell[non_member]]
    order = np.lexsort((place, customer))
    customer, place = customer[order], place[order]
    same = customer[1:] == customer[:-1]
    assert (np.diff(place)[same] >= 1).all()
    assert (np.diff(place)[same] == 1).mean() > 0.9


def test_records_without_non_members() -> None:
    only_members = Records(
        parts_customer=np.array([0, 2]),
        parts_cell=np.array([0, 1]),
        parts_outcome=np.array([5.0, 0.0]),
        order=np.array([0, 1]),
        n_member_rows=2,
        n_cells=2,
        cell_rank=np.array([0, 1]),
    )
    counts = np.array([1, 0, 2])
    got = Resampled(only_members).compare(counts)
    assert np.isnan(got).all() and np.isnan(compare(only_members, counts.astype(float))).all()
