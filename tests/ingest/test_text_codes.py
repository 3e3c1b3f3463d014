"""Short text packed into integers, or fixed-width text as binary, gives exactly the codes of
the Arrow dictionary road."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

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


@settings(max_examples=150, deadline=None)
@given(
    values=st.one_of(  # inline (12 bytes at most, packed when 7 past a shared prefix) or not
        *(
            st.lists(
                st.text(alphabet=st.sampled_from(["a", "b", "\x00", "é", "日", "z"]), max_size=k),
                min_size=1,
                max_size=60,
            )
            for k in (2, 4, 16)
        )
    ),
    start=st.integers(0, 5),
)
def test_any_string_views_get_the_codes_of_strings(values: list[str], start: int) -> None:
    views = pa.array(values, type=pa.string_view()).slice(min(start, len(values) - 1))
    kept = values[min(start, len(values) - 1) :]
    codes, uniques = dictionary_codes(views)
    expected_codes, expected_uniques = _general(pa.array(kept, type=pa.string()))
    np.testing.assert_array_equal(codes, expected_codes)
    assert uniques.tolist() == expected_uniques.tolist() == sorted(set(kept))


@pytest.mark.parametrize(
    "layout", ["inline", "inline slices", "in order", "out of order", "inline and not"]
)
def test_string_views_get_the_codes_of_strings(layout: str) -> None:
    """polars hands its text over as string views: read without copying where they lie
    inline or in order in one buffer, converted otherwise; the codes are the same."""
    rng = np.random.default_rng(len(layout))
    short = _strings(rng, 3_000, "", 2)  # at most 6 bytes: inline, packed
    long = np.array([f"{i:020d}" for i in rng.integers(0, 500, 3_000)], dtype=object)
    values = {"inline and not": np.where(rng.random(3_000) < 0.5, short, long)}.get(
        layout, long if layout in ("in order", "out of order") else short
    )
    views = pa.array(values, type=pa.string_view())
    if layout == "inline slices":
        views = pa.chunked_array([views.slice(5, 1_000), views.slice(1_005)])
        values = values[5:]
    if layout == "out of order":  # the same views, shuffled: their strings out of order
        order = rng.permutation(values.size)
        _, held, *data = views.buffers()
        shuffled = np.frombuffer(held, dtype=np.int32).reshape(-1, 4)[order]
        views = pa.Array.from_buffers(
            pa.string_view(), values.size, [None, pa.py_buffer(shuffled.tobytes()), *data]
        )
        values = values[order]
    chunked = views if isinstance(views, pa.ChunkedArray) else pa.chunked_array([views])
    readable = text_codes.flat_text(chunked) is not None
    assert readable == (layout not in ("out of order", "inline and not"))
    if layout.startswith("inline") and readable:
        assert packed_text(chunked) is not None  # the roads tested
    if layout == "in order":  # Arrow's builder spreads them over buffers of 32 KiB
        assert text_codes.fixed_width(chunked).num_chunks > 1
    codes, uniques = dictionary_codes(views)
    expected_codes, expected_uniques = _general(pa.array(values, type=pa.string()))
    np.testing.assert_array_equal(codes, expected_codes)
    assert uniques.tolist() == expected_uniques.tolist() == sorted(set(values.tolist()))
    labels_codes, labels = dictionary_codes(views, pack=False)  # Arrow's hash of the views
    np.testing.assert_array_equal(labels_codes, expected_codes)
    assert labels.tolist() == uniques.tolist()


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


@pytest.mark.parametrize("width", [9, 16, 33])
@pytest.mark.parametrize("hashes", ["as they are", "all one"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fixed_width_ids_grouped_by_hash_get_the_dictionary_codes(
    width: int, hashes: str, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if threads == 2:  # rows hashed and checked in two halves
        monkeypatch.setattr(text_codes, "SPLIT_FROM", 1_000)
    rng = np.random.default_rng(width)
    # ids that differ in one byte, anywhere: every byte must count
    distinct = ["x" * width] + [
        "x" * at + c + "x" * (width - at - 1) for at in range(width) for c in "ab"
    ]
    ids = pa.array(np.array(distinct, dtype=object)[rng.integers(0, len(distinct), 5_000)])
    fixed = text_codes.fixed_width(pa.chunked_array([ids]))
    if hashes == "all one":  # every id in one group: the check sends them to Arrow's hash
        monkeypatch.setattr(text_codes, "_key_codes", lambda k: (np.zeros(k.size, np.int32), k[:1]))
        assert text_codes._fixed_codes(fixed) is None
    else:
        assert text_codes._fixed_codes(fixed) is not None  # the road tested
    codes, uniques = dictionary_codes(ids)
    expected_codes, expected_uniques = _general(ids)
    np.testing.assert_array_equal(codes, expected_codes)
    assert uniques.tolist() == expected_uniques.tolist() == sorted(set(ids.to_pylist()))


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(9, 40),
    letters=st.sampled_from([b"ab", b"\x00\x7f\x80\xff", bytes(range(256))]),
    data=st.data(),
)
def test_fixed_width_values_sort_as_their_bytes(width: int, letters: bytes, data: Any) -> None:
    value = st.lists(st.sampled_from(letters), min_size=width, max_size=width).map(
        lambda picks: b"".join(bytes([c]) for c in picks)
    )
    values = data.draw(st.lists(value, unique=True, max_size=40))
    sliced = pa.array([b"\x00" * width, *values], pa.binary(width)).slice(1)  # an offset
    order = text_codes.fixed_order(sliced)
    if order is not None:  # None: Arrow sorts them
        assert [values[i] for i in order] == sorted(values)


def test_fixed_width_values_tied_on_a_word_are_sorted_on_the_others() -> None:
    rng = np.random.default_rng(7)
    heads = rng.integers(0, 2**63, 1_000).astype(">u8").tobytes()
    values = [heads[8 * i : 8 * i + 8] + rng.bytes(9) for i in range(1_000)]
    values += [v[:8] + rng.bytes(9) for v in values[:50]]  # first word tied
    values = list(dict.fromkeys(values))
    order = text_codes.fixed_order(pa.array(values, pa.binary(17)))
    assert order is not None  # the road tested
    assert [values[i] for i in order] == sorted(values)


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


def _rows(vocabulary: list[Any], picks: list[int], shared: bool) -> np.ndarray:
    """Rows of ``vocabulary`` entries, one object per entry (``shared``) or one per row."""

    def fresh(v: Any) -> Any:
        return v.encode().decode() if isinstance(v, str) else v  # a new string object

    values = np.empty(len(picks), dtype=object)
    values[:] = [vocabulary[i] if shared else fresh(vocabulary[i]) for i in picks]
    return values


@settings(max_examples=200, deadline=None)
@given(
    vocabulary=st.lists(
        st.one_of(st.text(max_size=12), st.none(), st.just(float("nan"))), min_size=1, max_size=8
    ),
    data=st.data(),
    shared=st.booleans(),
)
def test_object_text_converts_as_arrow_does(
    vocabulary: list[Any], data: st.DataObject, shared: bool
) -> None:
    picks = data.draw(st.lists(st.integers(0, len(vocabulary) - 1), min_size=1, max_size=60))
    values = _rows(vocabulary, picks, shared)
    got = text_codes.arrow_strings(values)
    want = pa.array(values, from_pandas=True)
    assert (got is not None) == pa.types.is_string(want.type)  # text, not only missing values
    if got is not None:
        assert got.to_pylist() == want.to_pylist()


def test_shared_strings_become_a_dictionary_of_distinct_labels() -> None:
    rng = np.random.default_rng(5)
    vocabulary = [f"cust-{i}" for i in range(300)]
    # equal strings held by distinct objects, as two CSV chunks read apart give them
    values = np.concatenate(
        [_rows(vocabulary, rng.integers(0, 300, 2_000).tolist(), shared=True) for _ in (0, 1)]
    )
    got = text_codes.arrow_strings(values)
    assert pa.types.is_dictionary(got.type)
    assert sorted(got.dictionary.to_pylist()) == sorted(set(values.tolist()))
    assert got.to_pylist() == values.tolist()
    codes, uniques = dictionary_codes(got)
    assert uniques[codes].tolist() == values.tolist()


def test_object_text_refuses_what_is_not_text_only() -> None:
    assert text_codes.arrow_strings(np.array([1, "a", "a"], dtype=object)) is None
    assert text_codes.arrow_strings(np.array([1, 2, 2], dtype=object)) is None
    strided = np.array(["a", "b"] * 50, dtype=object)[::2]  # not contiguous: row by row
    assert text_codes.arrow_strings(strided).to_pylist() == ["a"] * 50


def test_objects_far_apart_are_converted_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    values = _rows(["x", "y"], [0, 1, 1, 0], shared=True)
    monkeypatch.setattr(text_codes, "_object_codes", lambda v: None)
    got = text_codes.arrow_strings(values)
    assert got.type == pa.string() and got.to_pylist() == ["x", "y", "y", "x"]


def test_pandas_object_ids_take_the_shared_road(monkeypatch: pytest.MonkeyPatch) -> None:
    import funnelkit as fk

    pytest.importorskip("pandas")

    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, 50, 400)],
            "timestamp": pa.array(rng.integers(0, 10**15, 400), pa.timestamp("us")),
            "event": rng.choice(["visit", "purchase"], 400).tolist(),
        }
    )
    # pandas 3 reads text as its string type: asked for objects, as pandas 2 gives them
    objects = table.to_pandas().astype({"customer_id": object, "event": object})
    grouped: list[int] = []
    codes_of = text_codes._object_codes
    monkeypatch.setattr(
        text_codes, "_object_codes", lambda v: grouped.append(v.size) or codes_of(v)
    )
    got = fk.RFM.from_events(objects)
    assert grouped == [400, 400]  # ids and event types
    want = fk.RFM.from_events(table)
    for name in ("customer_ids", "frequency", "recency", "T"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist()


def test_objects_grouped_by_table_and_by_hash_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    made = [f"id-{i:05d}" for i in range(5_000)]
    # strings within one MiB of memory: their table (at most 65,536 slots) is always allowed
    block = max(set(id(v) >> 20 for v in made), key=[id(v) >> 20 for v in made].count)
    vocabulary = [v for v in made if id(v) >> 20 == block]
    values = _rows(vocabulary, rng.integers(0, len(vocabulary), 20_000).tolist(), shared=True)
    hashed: list[int] = []
    by_hash = text_codes._hashed_codes
    monkeypatch.setattr(text_codes, "_hashed_codes", lambda k: hashed.append(k.size) or by_hash(k))
    table = text_codes._object_codes(values)
    assert table is not None and hashed == []  # the table road is the one tested
    address = np.frombuffer(values.data, dtype=np.uintp)
    for codes, first in (table, by_hash(address)):
        assert all(a is b for a, b in zip(values[first][codes], values, strict=True))
        assert np.unique(codes).size == first.size == len(set(map(id, values)))
