"""Codes of a text column (customer ids, event types) into its sorted distinct strings.

Arrow hashes the strings into a dictionary in input order; only the dictionary (one entry per
distinct value) is sorted and turned into Python strings. Arrow compares UTF-8 bytes, which
orders exactly as Python compares the strings (by code point).

Short ids take a faster road, as engines that keep short strings inline do: when every
string, past a prefix all of them share, has at most 8 bytes (7 if the text holds NUL
characters), each is packed into one integer whose order is the strings' byte order.
Hashing integers is much cheaper than hashing strings, and sorting the distinct integers
sorts the distinct strings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dictionary_codes", "packed_text"]

#: bytes of a string (past the shared prefix) that one packed integer holds
PACKED_BYTES = 8
#: longest shared prefix checked; longer ones take the general road
PREFIX_BYTES = 8
# _KEEP[r] keeps the first r bytes of a big-endian 8-byte word
_KEEP = np.array(
    [0] + [(2**64 - 1) ^ (2 ** (64 - 8 * r) - 1) for r in range(1, 9)], dtype=np.uint64
)


def dictionary_codes(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """int32 codes into the sorted distinct strings of an Arrow string array without nulls.

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
    if given:
        arr = _distinct_dictionary(arr)
    else:
        keys = packed_text(arr)
        if keys is not None:
            return _integer_codes(arr, keys)
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
    by_value = pc.array_sort_indices(dictionary).to_numpy()
    rank = np.empty(by_value.size, dtype=np.int32)
    rank[by_value] = np.arange(by_value.size, dtype=np.int32)
    uniques = dictionary.take(pa.array(by_value)).to_numpy(zero_copy_only=False)
    return rank[indices], np.asarray(uniques, dtype=object)


def packed_text(arr: Any) -> np.ndarray | None:
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
    >>> keys = packed_text(pa.chunked_array([["id-10", "id-9", "id-1", "id-"]]))
    >>> np.argsort(keys).tolist()  # "id-", "id-1", "id-10", "id-9"
    [3, 2, 0, 1]
    """
    import pyarrow as pa

    chunks = [c for c in arr.chunks if len(c)]
    text = pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
    if not chunks or not text or arr.null_count:
        return None
    parts = [_offsets_and_bytes(c) for c in chunks]
    lengths = [np.diff(offsets) for offsets, _ in parts]
    nul = any(not data.all() for _, data in parts)
    width = PACKED_BYTES - 1 if nul else PACKED_BYTES
    longest = max(int(n.max()) for n in lengths)
    prefix = max(0, longest - width)
    if prefix > PREFIX_BYTES or min(int(n.min()) for n in lengths) < prefix:
        return None
    keys = np.empty(len(arr), dtype=np.uint64)
    shared = None
    at = 0
    for (offsets, data), n in zip(parts, lengths, strict=True):
        # Each string's next 8 bytes in one gather: a big-endian word at every byte.
        padded = np.zeros(data.size + 8, dtype=np.uint8)
        padded[: data.size] = data
        words = np.ndarray((data.size + 1,), dtype=">u8", buffer=padded, strides=(1,))
        starts = offsets[:-1]
        if prefix:
            head = words[starts].astype(np.uint64)
            shared = head[0] if shared is None else shared
            head ^= shared
            head >>= np.uint64(64 - 8 * prefix)
            if head.any():
                return None
            starts = starts + prefix
        body = words[starts].astype(np.uint64)
        rest = n - prefix
        body &= _KEEP[rest]
        if nul:
            body >>= np.uint64(5)  # 7 bytes in bits 63..8 move to 58..3, beside the length
            body |= rest.astype(np.uint64)
        keys[at : at + body.size] = body
        at += body.size
    return keys


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


def _integer_codes(arr: Any, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dictionary_codes` from packed keys: the strings are looked up once per value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(keys))
    indices = encoded.indices.to_numpy()
    distinct = encoded.dictionary.to_numpy()
    by_value = np.argsort(distinct)
    rank = np.empty(by_value.size, dtype=np.int32)
    rank[by_value] = np.arange(by_value.size, dtype=np.int32)
    # The row where each value first occurs (the reversed scatter leaves the earliest).
    first = np.empty(distinct.size, dtype=np.int64)
    first[indices[::-1]] = np.arange(indices.size - 1, -1, -1)
    uniques = arr.take(pa.array(first[by_value])).to_numpy(zero_copy_only=False)
    return rank[indices], np.asarray(uniques, dtype=object)


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
