"""Property tests: however the covariates are given, the model sees the same design."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from funnelkit import DataError
from funnelkit.conversion.covariates import CovariateEncoding, covariate_columns
from funnelkit.journeys import Journeys

LEVELS = ["a", "b", "c", "d"]


@st.composite
def customers(draw: st.DrawFn) -> tuple[Journeys, dict[str, np.ndarray], np.ndarray]:
    n = draw(st.integers(3, 30))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i}" for i in rng.permutation(10 * n)[:n]], dtype=object)
    cat = np.array(LEVELS, dtype=object)[rng.integers(0, draw(st.integers(2, 4)), n)]
    cat[:2] = ["a", "b"]  # at least two levels
    num = rng.normal(size=n)
    entry = np.column_stack([np.zeros(n), np.where(rng.random(n) < 0.5, 1.0, np.nan)])
    journeys = Journeys(
        stage_names=("s0", "s1"),
        entry_times=entry,
        customer_ids=ids,
        censoring_times=np.full(n, 5.0),
        time_unit="D",
        attributes={"cat": cat, "num": num},
    )
    order = rng.permutation(n)
    return journeys, {"customer_id": ids, "cat": cat, "num": num}, order


@given(customers(), st.integers(0, 5))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_names_frames_and_mappings_give_the_same_design(case, extra: int) -> None:  # type: ignore[no-untyped-def]
    journeys, columns, order = case
    by_name, _ = covariate_columns(journeys, ["cat", "num"], fitter="F")
    # a frame in any order, with customers the journeys do not have, aligns on customer_id
    shuffled = {k: v[order] for k, v in columns.items()}
    shuffled["customer_id"] = np.concatenate(
        [shuffled["customer_id"], np.array([f"x{i}" for i in range(extra)], dtype=object)]
    )
    shuffled["cat"] = np.concatenate([shuffled["cat"], np.full(extra, "a", dtype=object)])
    shuffled["num"] = np.concatenate([shuffled["num"], np.zeros(extra)])
    import pandas as pd

    by_frame, _ = covariate_columns(journeys, pd.DataFrame(shuffled), fitter="F")
    by_mapping, _ = covariate_columns(journeys, shuffled, fitter="F")
    encoding = CovariateEncoding.learn(by_name, ids=journeys.customer_ids)
    design = encoding.matrix(by_name)
    np.testing.assert_array_equal(encoding.matrix(by_frame), design)
    np.testing.assert_array_equal(encoding.matrix(by_mapping), design)
    # one indicator per non-reference level, the reference is the first level in sorted order
    levels = sorted(set(columns["cat"].tolist()))
    assert encoding.terms == (*(f"cat[{lv}]" for lv in levels[1:]), "num")
    assert design[:, : len(levels) - 1].sum(axis=1).tolist() == [
        0.0 if c == levels[0] else 1.0 for c in columns["cat"]
    ]
    # the encoding survives JSON and encodes alike
    loaded = CovariateEncoding.from_json(encoding.to_json())
    np.testing.assert_array_equal(loaded.matrix(by_name), design)


@given(customers(), st.integers(1, 3))
@settings(max_examples=40, deadline=None)
def test_missing_customers_are_counted(case, dropped: int) -> None:  # type: ignore[no-untyped-def]
    journeys, columns, _ = case
    kept = {k: v[dropped:] for k, v in columns.items()}
    with pytest.raises(DataError, match=rf"^{dropped} of {len(journeys)} customer\(s\)"):
        covariate_columns(journeys, kept, fitter="F")
