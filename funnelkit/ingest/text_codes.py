"""Codes of a text column (customer ids, event types) into its sorted distinct strings.

Arrow hashes the strings into a dictionary in input order; only the dictionary (one entry per
distinct value) is sorted and turned into Python strings. Arrow compares UTF-8 bytes, which
orders exactly as Python compares the strings (by code point).

Short ids take a faster road, as engines that keep short strings inline do: when every
string, past a prefix all of them share, has at most 8 bytes (7 if the text holds NUL
characters), each is packed into one integer whose order is the strings' byte order.
Hashing integers is much cheaper than hashing strings, and sorting the distinct integers
sorts the distinct strings. Longer ids of one length (UUIDs, hashes) are read as fixed-size
binary values, hashed and sorted in numpy. polars hands over its text as Arrow string views,
read where they lie: short strings are held in the views themselves, longer ones in data
buffers in the order of the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = [
    "PackedText",
    "arrow_strings",
    "dictionary_codes",
    "fixed_order",
    "fixed_width",
    "flat_text",
    "is_text_type",
    "is_view",
    "packed_text",
]

#: where the strings of a run of rows lie: ``(starts, lengths, data)`` (see :func:`flat_text`)
Flat = tuple[np.ndarray, np.ndarray, np.ndarray]

#: bytes of a string (past the shared prefix) that one packed integer holds
PACKED_BYTES = 8
#: longest shared prefix checked; longer ones take the general road
PREFIX_BYTES = 8
# _KEEP[r] keeps the first r bytes of a big-endian 8-byte word
_KEEP = np.array(
    [0] + [(2**64 - 1) ^ (2 ** (64 - 8 * r) - 1) for r in range(1, 9)], dtype=np.uint64
)


def dictionary_codes(arr: Any, *, pack: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """int32 codes into the sorted distinct strings of an Arrow string array without nulls.

    ``pack=False`` skips the packed and fixed-width roads: for a column of a handful of
    values (event types), Arrow's own hashing with its tiny table is the cheaper one.

    Examples
    --------
    >>> import pyarrow as pa
    >>> codes, uniques = dictionary_codes(pa.array(["b", "a", "b"]))
    >>> codes.tolist(), uniques.tolist()
    ([1, 0, 1], ['a', 'b'])
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    given = pa.types.is_dictionary(arr.type)
    text_type = None
    if given:
        arr = _distinct_dictionary(arr)
    elif pack and (parts := flat_text(arr)) is not None:
        packed = packed_text(arr, parts)
        if packed is not None:
            return _integer_codes(packed)
        fixed = fixed_width(arr, parts)
        if fixed is not None:
            found = _fixed_codes(fixed)
            if found is not None:
                return _in_order(*found, arr.type)
            text_type, arr = (pa.large_string() if is_view(arr.type) else arr.type), fixed
    encoded = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    chunks = [c for c in encoded.chunks if len(c)]
    dictionary = chunks[0].dictionary
    if not all(c.dictionary.equals(dictionary) for c in chunks[1:]):
        # One shared dictionary for every chunk, so their indices can be concatenated.
        # Encoding a chunked array already gives every chunk the final dictionary; unifying
        # it again would hash it once per chunk.
        chunks = [c for c in encoded.unify_dictionaries().chunks if len(c)]
        dictionary = chunks[0].dictionary
    indices = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in chunks])
    # Only a given dictionary can hold labels no row has (categories, other row groups);
    # one Arrow builds here holds the values that occur.
    used = np.bincount(indices, minlength=len(dictionary)) > 0 if given else np.ones(1, bool)
    if not used.all():  # labels no row has: not ids
        kept = np.flatnonzero(used)
        dictionary = dictionary.take(pa.array(kept))
        renumber = np.zeros(used.size, dtype=np.int32)
        renumber[kept] = np.arange(kept.size, dtype=np.int32)
        indices = renumber[indices]
    return _in_order(indices, dictionary, text_type)


def _in_order(
    indices: np.ndarray, dictionary: Any, text_type: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Codes into ``dictionary`` (distinct values) as int32 codes into its values sorted,
    and those values as Python strings (``text_type``: the text type of fixed-width bytes,
    None for text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if is_view(dictionary.type):  # Arrow sorts strings with offsets only
        dictionary = dictionary.cast(pa.large_string())
    by_value = None if text_type is None else fixed_order(dictionary)
    if by_value is None:
        by_value = pc.array_sort_indices(dictionary).to_numpy()
    rank = _ranks(by_value)
    uniques = dictionary.take(pa.array(by_value))
    if text_type is not None:  # the bytes of fixed-width text back to strings
        uniques = uniques.cast(pa.large_binary()).cast(text_type)
    return rank[indices], np.asarray(uniques.to_numpy(zero_copy_only=False), dtype=object)


def arrow_strings(values: np.ndarray) -> Any:
    """A numpy column of text as an Arrow array of strings, or None when it holds other values.

    None and NaN are missing, as pandas reads an ``object`` column. Frames usually hold one
    Python string per distinct value, shared by its rows (pandas' CSV reader interns them,
    Arrow's ``to_pandas`` deduplicates them): the rows of an ``object`` column are then
    grouped by the object they hold (:func:`_object_codes`) and each distinct string is
    converted once, into a dictionary array: 20-70 ms for a column of 3M rows, where
    converting every row's string took 0.1-0.3 s, all of it holding the interpreter's lock.

    Examples
    --------
    >>> ids = np.array(["b", "a", "b", None], dtype=object)
    >>> arrow_strings(ids).to_pylist()
    ['b', 'a', 'b', None]
    >>> arrow_strings(np.array([1, "a"], dtype=object)) is None  # not text only
    True
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        shared = _object_codes(values)
        if shared is not None:
            codes, first = shared
            labels = pa.array(values[first], from_pandas=True)
            if labels.null_count == 0:
                if not is_text_type(labels.type):
                    return None
                # distinct objects can hold equal strings: one label each
                distinct = pc.dictionary_encode(labels)
                if len(distinct.dictionary) < len(labels):
                    codes = distinct.indices.to_numpy()[codes]
                return pa.DictionaryArray.from_arrays(pa.array(codes), distinct.dictionary)
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    return arr if is_text_type(arr.type) else None


def is_text_type(kind: Any) -> bool:
    """Whether an Arrow type is text (string, large string or string view)."""
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or is_view(kind))


def is_view(kind: Any) -> bool:
    """Whether an Arrow type is a string view (polars' text: each string a 16-byte view)."""
    import pyarrow as pa

    return bool(getattr(pa.types, "is_string_view", lambda _: False)(kind))


#: a Python object spans at least two pointers (its reference count and type), so distinct
#: objects have distinct addresses divided by this
_OBJECT_BYTES = 2 * np.dtype(np.uintp).itemsize
#: objects lie together in a few stretches of memory (CPython keeps small ones in arenas
#: of 1 MiB): the table of :func:`_object_codes` has a part per 64 KiB that hold any
_BLOCK_BITS = 16
#: slots per row (beside 2**16) that the table of :func:`_object_codes` may take
TABLE_SLOTS = 4


def _object_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per row of an ``object`` array, a code of the object it holds, and a row holding
    each code's object; None for other arrays.

    The rows are grouped by the objects' addresses, read as integers without touching the
    objects. A table indexed by address does it without hashing or sorting: a slot per
    ``_OBJECT_BYTES`` of each block of memory holding objects of the column. Where the
    blocks are too many for a table of :data:`TABLE_SLOTS` per row (long strings, each on
    its own), Arrow hashes the addresses instead.

    Examples
    --------
    >>> a, b = "x" * 20, "y" * 20
    >>> codes, first = _object_codes(np.array([a, b, a], dtype=object))
    >>> bool(codes[0] == codes[2] != codes[1]), sorted(codes[first].tolist())
    (True, [0, 1])
    """
    n = values.size
    if values.dtype != object or values.ndim != 1 or not n or not values.flags.c_contiguous:
        return None
    # the buffer of an object array is its pointers; the view keeps the array alive
    address = np.frombuffer(values.data, dtype=np.uintp)
    allowed = TABLE_SLOTS * n + 2**16
    block = address >> _BLOCK_BITS
    block -= block.min()
    blocks = int(block.max()) + 1
    per_block = 2**_BLOCK_BITS // _OBJECT_BYTES
    if blocks > allowed:
        return _hashed_codes(address)
    held = np.zeros(blocks, dtype=bool)
    held[block] = True
    part = np.cumsum(held, dtype=np.uintp)  # a block's part of the table, plus one
    size = int(part[-1]) * per_block
    if size > allowed:
        return _hashed_codes(address)
    slot = part[block]
    slot -= 1
    slot *= per_block
    slot += (address & (2**_BLOCK_BITS - 1)) // _OBJECT_BYTES
    index = np.int32 if n < 2**31 else np.int64
    row = np.full(size, -1, dtype=index)
    row[slot] = np.arange(n, dtype=index)  # a row of each object: any will do
    occupied = row >= 0
    first = row[occupied]
    np.cumsum(occupied, dtype=index, out=row)  # a slot's code, plus one
    codes = row[slot]
    codes -= 1
    return codes, first


def _hashed_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of integer ``keys`` by Arrow's hash, and a row of each code."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(keys))
    codes = encoded.indices.to_numpy()
    return codes, _row_of_each(codes, len(encoded.dictionary))


def _row_of_each(codes: np.ndarray, count: int) -> np.ndarray:
    """A row holding each of ``count`` codes (one of those written there: any will do)."""
    row = np.empty(count, dtype=np.int64)
    row[codes] = np.arange(codes.size)
    return row


def fixed_width(arr: Any, parts: list[Flat] | None = None) -> Any:
    """The strings as fixed-size binary (no copy) when all have one length of 9+ bytes.

    Arrow hashes and sorts fixed-size values (UUIDs, hashes, zero-padded numbers) faster
    than strings with offsets, and their bytes compare as the strings do. None otherwise.

    Examples
    --------
    >>> import pyarrow as pa
    >>> fixed_width(pa.chunked_array([["0123456789", "abcdefghij"]])).type
    FixedSizeBinaryType(fixed_size_binary[10])
    """
    import pyarrow as pa

    parts = flat_text(arr) if parts is None else parts
    if not parts:
        return None
    width = int(parts[0][1][0])
    if width <= PACKED_BYTES:
        return None
    kind = pa.binary(width)
    fixed = []
    for starts, lengths, data in parts:
        # one after the other, as a string view's strings need not be
        if (lengths != width).any() or (np.diff(starts) != width).any():
            return None
        at = int(starts[0])
        fixed.append(
            pa.FixedSizeBinaryArray.from_buffers(
                kind, len(lengths), [None, pa.py_buffer(data[at : at + len(lengths) * width])]
            )
        )
    return pa.chunked_array(fixed, type=kind)


@dataclass(frozen=True)
class PackedText:
    """Strings packed into integers (see :func:`packed_text`), and how to unpack them."""

    #: one key per string, in the order of the strings' bytes
    keys: np.ndarray
    #: the bytes every string begins with, left out of the keys
    prefix: bytes
    #: whether the keys hold 7 bytes and the length (the text has NUL characters)
    with_length: bool

    def strings(self, keys: np.ndarray) -> np.ndarray:
        """The strings of some keys, as an object array of Python strings."""
        import pyarrow as pa

        if self.with_length:
            lengths = (keys & np.uint64(7)).astype(np.int64)
            words = (keys >> np.uint64(3)) << np.uint64(8)
        else:  # without NUL characters, a string's bytes are the non-zero ones
            words = keys
            lengths = np.zeros(keys.size, dtype=np.int64)
            for j in range(8):
                lengths += (keys >> np.uint64(8 * j)) & np.uint64(0xFF) != 0
        body = words.astype(">u8").view(np.uint8).reshape(-1, 8)
        width = len(self.prefix)
        shared = np.broadcast_to(np.frombuffer(self.prefix, np.uint8), (keys.size, width))
        sizes = width + lengths
        text = np.hstack([shared, body])[np.arange(width + 8) < sizes[:, None]]
        ends = np.concatenate([[0], np.cumsum(sizes)])
        strings = pa.LargeStringArray.from_buffers(
            keys.size, pa.py_buffer(ends), pa.py_buffer(text)
        )
        return np.asarray(strings.to_numpy(zero_copy_only=False), dtype=object)


def packed_text(arr: Any, parts: list[Flat] | None = None) -> PackedText | None:
    """One uint64 per string, ordered as the strings' bytes, or None if they are too long.

    Applies when every string of the (chunked) string array, past a prefix of at most
    :data:`PREFIX_BYTES` bytes that all of them share, has at most :data:`PACKED_BYTES`
    bytes. The key is those bytes big-endian, zero-padded: padding sorts a string before
    any longer one it begins. Text holding NUL characters keeps one byte fewer and the
    length in the low bits, which tells apart strings that differ only by trailing NULs.
    So equal keys mean equal strings and key order is byte order.

    Examples
    --------
    >>> import pyarrow as pa
    >>> ids = ["customer-10", "customer-9", "customer-1", "customer-"]
    >>> packed = packed_text(pa.chunked_array([ids]))
    >>> packed.prefix, np.argsort(packed.keys).tolist()  # -, -1, -10, -9
    (b'cus', [3, 2, 0, 1])
    """

    parts = flat_text(arr) if parts is None else parts
    if not parts:
        return None
    longest = max(int(n.max()) for _, n, _ in parts)
    shortest = min(int(n.min()) for _, n, _ in parts)
    if longest - PACKED_BYTES > min(PREFIX_BYTES, shortest):
        return None  # too long even without NULs: no need to scan the bytes for them
    # a view's bytes hold its length and padding: its strings are taken to hold NULs
    nul = is_view(arr.type) or any(not data.all() for _, _, data in parts)
    width = PACKED_BYTES - 1 if nul else PACKED_BYTES
    prefix = max(0, longest - width)
    if prefix > PREFIX_BYTES or shortest < prefix:
        return None
    starts, _, data = parts[0]
    shared = data[starts[0] : starts[0] + prefix].tobytes()
    if prefix and not all(_begin_with(s, d, shared) for s, _, d in parts):
        return None
    keys = np.empty(len(arr), dtype=np.uint64)
    at = 0
    for starts, n, data in parts:
        body = _words(data, starts + prefix)
        rest = n - prefix
        body &= _KEEP[rest]
        if nul:
            body >>= np.uint64(5)  # 7 bytes in bits 63..8 move to 58..3, beside the length
            body |= rest.astype(np.uint64)
        keys[at : at + body.size] = body
        at += body.size
    return PackedText(keys, shared, nul)


def _begin_with(starts: np.ndarray, data: np.ndarray, pattern: bytes) -> bool:
    """Whether every string (at ``starts`` of ``data``, none shorter than ``pattern``)
    begins with the bytes ``pattern`` (8 at most)."""
    head = int.from_bytes(pattern.ljust(PACKED_BYTES, b"\0"), "big")
    found = _words(data, starts) & _KEEP[len(pattern)]
    return bool((found == np.uint64(head)).all())


def _words(data: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The 8 bytes from each start, big-endian, as uint64 (zeros past the end of ``data``).

    One gather of an unaligned 8-byte view of the data; only the strings whose 8 bytes run
    past the end read from a small zero-padded copy of the tail.
    """
    words = np.empty(starts.size, dtype=np.uint64)
    inside = int(np.searchsorted(starts, data.size - 8, side="right")) if data.size >= 8 else 0
    if inside:
        view = np.ndarray((data.size - 7,), dtype=">u8", buffer=data, strides=(1,))
        words[:inside] = view[starts[:inside]]
    if inside < starts.size:
        base = int(starts[inside])
        tail = np.zeros(data.size - base + 8, dtype=np.uint8)
        tail[: data.size - base] = data[base:]
        view = np.ndarray((tail.size - 7,), dtype=">u8", buffer=tail, strides=(1,))
        words[inside:] = view[starts[inside:] - base]
    return words


#: odd 64-bit constant of the multiplicative hash of :func:`_fixed_codes`
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _fixed_codes(fixed: Any) -> tuple[np.ndarray, Any] | None:
    """Codes of fixed-width values (see :func:`fixed_width`) and the distinct values, one
    per code, grouped by a 64-bit hash of their bytes; None should two distinct values share
    a hash (every row is compared with one of its group: then Arrow hashes the bytes).

    Arrow's hash table of fixed-width values takes 160 ns a row for 3M ids of 32 bytes
    (300,000 distinct ones); hashing their 8-byte words in numpy and grouping the hashes as
    integers (:func:`_split_codes`), on two threads from :data:`SPLIT_FROM` rows, takes
    less than half of that, the check included (190-280 against 630 ms for those ids).

    Examples
    --------
    >>> import pyarrow as pa
    >>> codes, distinct = _fixed_codes(fixed_width(pa.chunked_array([["0123456789"] * 2])))
    >>> codes.tolist(), distinct.to_pylist()
    ([0, 0], [b'0123456789'])
    """
    import pyarrow as pa

    values = fixed.combine_chunks()
    n = len(values)
    words = _byte_words(values, np.uint64)
    hashed = np.zeros(n, dtype=np.uint64)

    def hash_rows(part: slice) -> None:
        h = hashed[part]
        for word in words:
            h ^= word[part]
            h *= _MIX
            h ^= h >> np.uint64(29)

    _on_halves(hash_rows, n)
    codes, keys = _split_codes(hashed) if n >= SPLIT_FROM else _key_codes(hashed)
    row = _row_of_each(codes, keys.size)
    same = row[codes]  # every row's value must be that of its code's row

    def all_equal(part: slice) -> bool:
        return all(np.array_equal(word[same[part]], word[part]) for word in words)

    if not all(_on_halves(all_equal, n)):
        return None
    return codes, values.take(pa.array(row))


def _byte_words(values: Any, dtype: Any) -> list[np.ndarray]:
    """Views of the 8-byte words of fixed-width ``values`` (9+ bytes each) at bytes 0, 8,
    16... and of their last 8 bytes, so that every byte is in one word at least; read as
    ``dtype`` (a 64-bit integer type: big-endian ``">u8"`` orders as the bytes do)."""
    n, width = len(values), values.type.byte_width
    start = values.offset * width
    data = np.frombuffer(values.buffers()[1], dtype=np.uint8)[start : start + n * width]
    return [
        np.ndarray((n,), dtype=dtype, buffer=data, offset=at, strides=(width,))
        for at in [*range(0, width - 8, 8), width - 8]
    ]


def fixed_order(values: Any) -> np.ndarray | None:
    """The order that sorts distinct fixed-width values by their bytes, or None where more
    than an eighth of them share their first word that differs (then Arrow sorts them).

    Words all values share are skipped; the first of the others, as a native integer, is
    sorted in numpy, and only values tied on it are sorted by all their words. 300,000
    ids of 32 random hexadecimal digits: 5 ms, where Arrow's sort took 50 ms.

    Examples
    --------
    >>> import pyarrow as pa
    >>> ids = pa.array([b"id-00000002", b"id-00000001", b"id-00000010"], pa.binary(11))
    >>> fixed_order(ids).tolist()
    [1, 0, 2]
    """
    if len(values) < 2:
        return np.arange(len(values))
    words = [w for w in _byte_words(values, ">u8") if not (w == w[0]).all()]
    if not words:  # all equal
        return np.arange(len(values))
    first = words[0].astype(np.uint64)
    order = np.argsort(first)
    ranked = first[order]
    tied = np.flatnonzero(ranked[1:] == ranked[:-1])
    if 8 * tied.size > len(values):
        return None
    if tied.size:
        # the places of tied values hold them, sorted on all words (first word first)
        places = np.union1d(tied, tied + 1)
        rows = order[places]
        order[places] = rows[np.lexsort([w[rows] for w in reversed(words)])]
    return order


def _on_halves(fn: Callable[[slice], Any], n: int) -> list[Any]:
    """``fn`` of the first and of the second half of ``n`` rows, on two threads from
    :data:`SPLIT_FROM` rows, else of all rows here."""
    if n < SPLIT_FROM:
        return [fn(slice(0, n))]
    return list(_both(fn, slice(0, n // 2), slice(n // 2, n)))


def _both(fn: Callable[[Any], Any], first: Any, second: Any) -> tuple[Any, Any]:
    """``fn(first)`` here while ``fn(second)`` runs on a second thread (numpy and Arrow
    release the GIL in their loops)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        later = pool.submit(fn, second)
        return fn(first), later.result()


def flat_text(arr: Any) -> list[Flat] | None:
    """Where the strings of a text array without nulls lie, in runs of rows (see
    :func:`_flat`), for :func:`packed_text` and :func:`fixed_width` (found once for both);
    None for other arrays, and for string views whose strings lie neither all inline nor
    in the order of the rows in their data buffers."""
    chunks = [c for c in arr.chunks if len(c)]
    if not chunks or not is_text_type(arr.type) or arr.null_count:
        return None
    parts = []
    for chunk in chunks:
        runs = _flat(chunk)
        if runs is None:
            return None
        parts += runs
    return parts


def _flat(chunk: Any) -> list[Flat] | None:
    """Where the strings of a chunk without nulls lie, in runs of rows: ``(starts, lengths,
    data)`` per run, string ``i`` of a run being ``data[starts[i] : starts[i] + lengths[i]]``,
    the starts ascending.

    Strings with offsets: one run. A string view (polars' text), read without copying it:
    one run when all its strings are inline (12 bytes or fewer, held in the views
    themselves); when none is, a run per data buffer, if each buffer's strings are in the
    order of the rows (as a builder appends them). None for other views.
    """
    if not is_view(chunk.type):
        offsets, data = _offsets_and_bytes(chunk)
        return [(offsets[:-1], np.diff(offsets), data)]
    buffers = chunk.buffers()
    views = np.frombuffer(buffers[1], dtype=np.int32).reshape(-1, 4)
    views = views[chunk.offset : chunk.offset + len(chunk)]
    lengths = views[:, 0]
    if int(lengths.max()) <= _INLINE_BYTES:
        # each view: its length (4 bytes), then the string
        starts = 16 * np.arange(chunk.offset, chunk.offset + len(chunk)) + 4
        return [(starts, lengths, np.frombuffer(buffers[1], dtype=np.uint8))]
    if int(lengths.min()) <= _INLINE_BYTES:
        return None
    # each view: length, first 4 bytes, data buffer, offset in it
    buffer, starts = views[:, 2], views[:, 3].astype(np.int64)
    ends = np.flatnonzero(buffer[1:] != buffer[:-1]) + 1
    backwards = np.diff(starts) < 0
    backwards[ends - 1] = False  # a new buffer begins anywhere
    if ends.size > _MAX_RUNS or backwards.any():
        return None
    bounds = [0, *ends.tolist(), len(chunk)]
    return [
        (starts[a:b], lengths[a:b], np.frombuffer(buffers[2 + int(buffer[a])], dtype=np.uint8))
        for a, b in pairwise(bounds)
    ]


#: data buffers of a string view read in place at most (polars' grow to 16 MiB each)
_MAX_RUNS = 256
#: a string view holds strings of at most this many bytes itself
_INLINE_BYTES = 12


def _offsets_and_bytes(chunk: Any) -> tuple[np.ndarray, np.ndarray]:
    """The offsets (relative to the data buffer) and the data bytes of a string array."""
    import pyarrow as pa

    _, offsets_buffer, data_buffer = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(offsets_buffer, dtype=width)[
        chunk.offset : chunk.offset + len(chunk) + 1
    ]
    if data_buffer is None:  # only empty strings
        return offsets, np.zeros(0, dtype=np.uint8)
    return offsets, np.frombuffer(data_buffer, dtype=np.uint8)


def _integer_codes(packed: PackedText) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dictionary_codes` from packed keys: only the distinct keys become strings."""
    keys = packed.keys
    codes, distinct = _split_codes(keys) if keys.size >= SPLIT_FROM else _key_codes(keys)
    return codes, packed.strings(distinct)


#: from this many keys :func:`_split_codes` hashes them on two threads
SPLIT_FROM = 1_000_000


def _key_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 ranks of ``keys`` among their distinct values, and those values sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(keys))
    indices = encoded.indices.to_numpy()
    distinct = encoded.dictionary.to_numpy()
    by_value = np.argsort(distinct)
    return _ranks(by_value)[indices], distinct[by_value]


def _ranks(by_value: np.ndarray) -> np.ndarray:
    """Each distinct value's int32 rank, from the order that sorts them."""
    rank = np.empty(by_value.size, dtype=np.int32)
    rank[by_value] = np.arange(by_value.size, dtype=np.int32)
    return rank


def _split_codes(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_key_codes` of the keys up to their median and of those above it, on two
    threads (Arrow hashes without the GIL): the two sets of distinct keys do not overlap, so
    the upper ranks follow the lower ones. Two tables of half the size also miss the cache
    less: 85 against 115 ms for 3 million keys of 300,000 customers.

    Examples
    --------
    >>> keys = np.array([9, 3, 9, 7, 1], dtype=np.uint64)
    >>> codes, distinct = _split_codes(keys)
    >>> codes.tolist(), distinct.tolist()
    ([3, 1, 3, 2, 0], [1, 3, 7, 9])
    """
    sample = keys[:: max(1, keys.size // 4096)]
    pivot = np.partition(sample, sample.size // 2)[sample.size // 2]
    low = keys <= pivot
    lower, upper = np.flatnonzero(low), np.flatnonzero(~low)
    if not (lower.size and upper.size):
        return _key_codes(keys)
    (low_codes, low_keys), (high_codes, high_keys) = _both(_key_codes, keys[lower], keys[upper])
    codes = np.empty(keys.size, dtype=np.int32)
    codes[lower] = low_codes
    codes[upper] = high_codes + np.int32(low_keys.size)
    return codes, np.concatenate([low_keys, high_keys])


def _distinct_dictionary(arr: Any) -> Any:
    """A dictionary column whose labels are distinct and not null, else the decoded strings.

    Arrow allows repeated or null labels in a dictionary; such a column is decoded (one
    string per row) and encoded afresh, as any text column.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    unified = arr.unify_dictionaries()
    labels = unified.chunks[0].dictionary if unified.num_chunks else pa.array([], pa.string())
    if labels.null_count == 0 and pc.count_distinct(labels).as_py() == len(labels):
        return unified
    return arr.cast(arr.type.value_type)
