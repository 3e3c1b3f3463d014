"""Short text packed into integers, or fixed-width text as binary, gives exactly the codes of
the Arrow dictionary road."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from funnelkit.ingest import text_codes
from funnelkit.ingest.text_codes import dictionary_codes, packed_text

# NUL characters, empty strings, multi-byte characters and strings that begin one another
ALPHABET = np.array(["", "a", "b", "\x00", "é", "z", "0", "9", "日", "\x7f"], dtype=object)


def _strings(rng: np.random.Generator, n: int, prefix: str, longest: int) -> np.ndarray:
    pieces = ALPHABET[rng.integers(0, ALPHABET.size, (n, longest))]
    lengths = rng.integers(0, longest + 1, n)
    return np.array(
        [prefix + "".join(row[:k]) for row, k in zip(pieces, lengths, strict=True)], dtype=object
    )


def _general(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    return dictionary_codes(arr, pack=False)


@pytest.mark.parametrize("prefix", ["", "cust-", "日本"])
@pytest.mark.parametrize("kind", ["string", "large_string", "chunks", "slices"])
@pytest.mark.parametrize("nul", ["NUL", "no NUL"])
def test_packed_codes_equal_the_dictionary_codes(prefix: str, kind: str, nul: str) -> None:
    rng = np.random.default_rng(len(prefix) + len(kind) + len(nul))
    # "日" and "é" take 3 and 2 bytes: at most 2 of them keep a string within 7 bytes;
    # with NUL characters or without, long or short enough for one word
    values = _strings(rng, 3_000, prefix, 2)
    if nul == "no NUL":
        values = np.array([v.replace("\x00", "b") + "é" for v in values], dtype=object)
    whole = pa.array(values, type=pa.string())
    arr = {
        "string": whole,
        "large_string": whole.cast(pa.large_string()),
        "chunks": pa.chunked_array([values[:1_000], values[1_000:]], type=pa.string()),
        "slices": pa.chunked_array([whole.slice(7, 1_500), whole.slice(1_507)]),
    }[kind]
    chunked = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    assert packed_text(chunked) is not None  # the fast road is the one tested
    codes, uniques = dictionary_codes(arr)
    expected_codes, expected_uniques = _general(arr)
    np.testing.assert_array_equal(codes, expected_codes)
    assert codes.dtype == np.int32
    assert uniques.tolist() == expected_uniques.tolist()
    kept = values[7:] if kind == "slices" else values
    assert uniques.tolist() == sorted(set(kept.tolist()))


@pytest.mark.parametrize(
    "values",
    [
        ["ab", "ab\x00", "a", "", "b", "ab\x00\x00", "a\x7f", "é", "\x00"],
        ["12345678", "1234567", "2", "", "ÿ", "\x7f" * 8, "é日本", "a"],  # 8 bytes, no NUL
    ],
)
def test_keys_order_as_the_bytes_and_tell_strings_apart(values: list[str]) -> None:
    packed = packed_text(pa.chunked_array([values]))
    assert packed is not None
    assert np.unique(packed.keys).size == len(values)
    by_key = [values[i] for i in np.argsort(packed.keys)]
    assert by_key == sorted(values, key=lambda s: s.encode())
    assert packed.strings(np.sort(packed.keys)).tolist() == by_key


@pytest.mark.parametrize(
    "values",
    [
        ["123456789", "2"],  # 9 bytes, nothing shared: too long
        ["1234567\x00", "2"],  # with NUL characters, 7 bytes at most
        ["prefix-1234567", "prefiy-1234567"],  # the prefix is not shared
        ["a" * 20, "a" * 20 + "b"],  # a shared prefix longer than 8 bytes
        ["abc", None],  # nulls are refused before encoding; not packed
    ],
)
def test_text_that_does_not_fit_is_not_packed(values: list[str | None]) -> None:
    assert packed_text(pa.chunked_array([values])) is None


@pytest.mark.parametrize("kind", ["string", "large_string", "chunks", "slices"])
def test_fixed_width_codes_equal_the_dictionary_codes(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    # 12 bytes each: ASCII, two-byte and three-byte characters, NULs, shared beginnings
    pieces = np.array(["ab", "é", "\x00\x00", "zz", "\x7f\x7f"], dtype=object)
    values = np.array(
        ["".join(row) + "日本" for row in pieces[rng.integers(0, 5, (2_000, 3))]], dtype=object
    )
    whole = pa.array(values, type=pa.string())
    arr = {
        "string": whole,
        "large_string": whole.cast(pa.large_string()),
        "chunks": pa.chunked_array([values[:700], values[700:]], type=pa.string()),
        "slices": pa.chunked_array([whole.slice(5, 900), whole.slice(905)]),
    }[kind]
    chunked = arr if isinstance(arr, pa.ChunkedArray) else pa.chunked_array([arr])
    assert packed_text(chunked) is None
    assert text_codes.fixed_width(chunked) is not None  # the road tested
    codes, uniques = dictionary_codes(arr)
    expected_codes, expected_uniques = _general(arr)
    np.testing.assert_array_equal(codes, expected_codes)
    assert uniques.tolist() == expected_uniques.tolist()
    kept = values[5:] if kind == "slices" else values
    assert uniques.tolist() == sorted(set(kept.tolist()))


def test_text_of_several_lengths_is_not_read_as_fixed_width() -> None:
    assert text_codes.fixed_width(pa.chunked_array([["0123456789", "012345678"]])) is None
    assert text_codes.fixed_width(pa.chunked_array([["01234567", "abcdefgh"]])) is None


@pytest.mark.parametrize("spread", ["few", "many", "one"])
def test_keys_hashed_in_two_halves_get_the_codes_of_one_table(spread: str) -> None:
    rng = np.random.default_rng(7)
    distinct = {"few": 3, "many": 50_000, "one": 1}[spread]
    keys = rng.integers(0, 2**64 - 1, distinct, dtype=np.uint64, endpoint=True)
    rows = keys[rng.integers(0, distinct, 200_000)]
    codes, values = text_codes._split_codes(rows)
    whole_codes, whole_values = text_codes._key_codes(rows)
    np.testing.assert_array_equal(values, whole_values)
    np.testing.assert_array_equal(codes, whole_codes)
    assert codes.dtype == np.int32
    np.testing.assert_array_equal(values[codes], rows)


def test_many_packed_ids_take_the_two_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = pa.array([f"cust-{i}" for i in np.random.default_rng(2).integers(0, 5_000, 20_000)])
    expected = _general(ids)
    monkeypatch.setattr(text_codes, "SPLIT_FROM", 1_000)
    halves: list[int] = []
    split = text_codes._split_codes
    monkeypatch.setattr(text_codes, "_split_codes", lambda k: halves.append(k.size) or split(k))
    for got, want in zip(dictionary_codes(ids), expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert halves == [20_000]
