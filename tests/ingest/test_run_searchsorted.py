"""Per-run searchsorted agrees with numpy's searchsorted run by run."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from funnelkit.ingest.numpy_summaries import run_searchsorted


@settings(max_examples=80, deadline=None)
@given(
    runs=st.lists(
        st.tuples(st.lists(st.integers(0, 40), max_size=70), st.integers(-2, 42)), max_size=8
    ),
    side=st.sampled_from(["left", "right"]),
    nan_limit=st.booleans(),
    through_positions=st.booleans(),
)
def test_counts_match_searchsorted_within_each_run(
    runs: list, side: str, nan_limit: bool, through_positions: bool
) -> None:
    values = np.concatenate([np.sort(v).astype(float) for v, _ in runs] + [np.zeros(0)])
    length = np.array([len(v) for v, _ in runs], dtype=np.int64)
    start = np.cumsum(length) - length
    limit = np.array([float(lim) for _, lim in runs])
    if nan_limit and limit.size:
        limit[0] = np.nan
    expected = [
        0 if np.isnan(lim) else np.searchsorted(values[s : s + n], lim, side=side)
        for s, n, lim in zip(start, length, limit, strict=True)
    ]
    if through_positions:  # the same runs read through positions into a shuffled array
        rng = np.random.default_rng(0)
        order = rng.permutation(values.size)
        shuffled = np.empty_like(values)
        shuffled[order] = values
        got = run_searchsorted(shuffled, start, length, limit, side=side, positions=order)
    else:
        got = run_searchsorted(values, start, length, limit, side=side)
    np.testing.assert_array_equal(got, np.asarray(expected, dtype=np.int64))
