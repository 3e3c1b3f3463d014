"""Categorical covariates encode alike whether they come as numpy text, booleans or objects."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv.covariates import labels_of, learn_encoding
from funnelkit.exceptions import DataError


def test_numpy_text_and_python_objects_give_the_same_encoding():
    rng = np.random.default_rng(0)
    text = rng.choice(np.array(["tiktok", "instagram", "referral"]), size=300)
    member = rng.random(300) < 0.4
    fast_enc, fast = learn_encoding({"channel": text, "member": member}, None, 300)
    slow_enc, slow = learn_encoding(
        {"channel": text.astype(object), "member": member.astype(object)}, None, 300
    )
    assert fast_enc == slow_enc
    assert fast_enc.names == ["channel[referral]", "channel[tiktok]", "member[True]"]
    assert np.array_equal(fast, slow)
    expected = np.column_stack([text == "referral", text == "tiktok", member]).astype(float)
    assert np.array_equal(fast, expected)


def test_labels_are_numpy_text():
    assert labels_of("x", np.array(["b", "a"]), None).tolist() == ["b", "a"]
    assert labels_of("x", np.array([True, False]), None).tolist() == ["True", "False"]
    mixed = labels_of("x", np.array(["a", 3], dtype=object), None)
    assert mixed.dtype.kind == "U" and mixed.tolist() == ["a", "3"]


def test_unknown_level_at_prediction_is_named_with_its_customer():
    enc, _ = learn_encoding({"channel": np.array(["a", "b", "a"])}, None, 3)
    with pytest.raises(
        DataError, match=r"1 value\(s\) the model was not fitted with \('c'; .* customer\(s\) 11:"
    ):
        enc.design({"channel": np.array(["a", "c"])}, np.array([10, 11]), 2)
    assert enc.design({"channel": np.array(["b", "a"])}, None, 2).tolist() == [[1.0], [0.0]]


def test_missing_labels_in_objects_are_still_refused():
    with pytest.raises(DataError, match=r"Covariate 'channel' has 1 missing value\(s\)"):
        learn_encoding({"channel": np.array(["a", None, "b"], dtype=object)}, None, 3)
