"""Segment codes of an attribute: the labels of attribute_segments, from distinct values."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.conversion.segments import _attribute_codes, _dense_codes
from funnelkit.journeys import MISSING_LABEL, attribute_segments


def _objects(items: list[object]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


rng = np.random.default_rng(11)
_CHANNELS = ["tiktok", "instagram", "Referral", "é-mail", "a", "a\x00"]
CASES = {
    "strings": _objects(list(rng.choice(_CHANNELS[:4], 500))),
    "strings and missing": _objects(
        [
            None if u < 0.1 else np.nan if u < 0.2 else str(c)
            for u, c in zip(rng.random(500), rng.choice(_CHANNELS, 500), strict=True)
        ]
    ),
    "integers": rng.integers(-3, 12, 500),  # labels sort as text: "-1" < "10" < "2"
    "booleans": rng.random(500) < 0.3,
    "numpy strings": rng.choice(np.array(_CHANNELS[:4]), 500),
    "mixed objects": _objects([1, "1", 1.0, True, None, "b"] * 20),
    "floats": np.where(rng.random(500) < 0.1, np.nan, rng.integers(0, 4, 500) / 2),
    "empty": _objects([]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_codes_and_labels_equal_attribute_segments(name: str) -> None:
    values = CASES[name]
    codes, labels = _attribute_codes(values)
    expected_codes, expected_labels = attribute_segments(values)
    assert labels == expected_labels
    assert codes.dtype == expected_codes.dtype
    np.testing.assert_array_equal(codes, expected_codes)


def test_missing_values_are_one_segment_labelled_last() -> None:
    codes, labels = _attribute_codes(_objects(["b", None, "a", np.nan, "b"]))
    assert labels == ("a", "b", MISSING_LABEL)
    assert codes.tolist() == [1, 2, 0, 2, 1]


@pytest.mark.parametrize(
    "values",
    [
        rng.integers(-40, 700, 1_000),  # months since 1970, and some before
        np.array([5, 5, 5]),
        np.array([], dtype=np.int64),
        np.array([np.iinfo(np.int64).min, 3, 3, 2]),  # a NaN time cast to an integer
    ],
)
def test_dense_codes_equal_numpy_unique(values: np.ndarray) -> None:
    distinct, codes = _dense_codes(values)
    expected, inverse = np.unique(values, return_inverse=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(codes, inverse.reshape(-1))
    assert codes.dtype == np.int64
