"""The one sort of the numpy engine: events by ``(customer, time)``, and the reordering.

The sort is a single unstable argsort of a packed int64 key (customer code in the high bits,
the time offset in the low ones), split over two threads for large logs; reordering the
columns by it is a gather per column, also spread over two threads. numpy releases the GIL
in both, so a 2-core machine sorts and gathers on both cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["reorder", "sort_order"]

#: below this many rows, threads cost more than they save
PARALLEL_ROWS = 1_000_000


def sort_order(codes: np.ndarray, raw: np.ndarray) -> np.ndarray | None:
    """Permutation sorting by (customer, time), ties kept in input order; None if sorted.

    One unstable sort of a packed int64 key ``code << bits | time`` does the work. When the
    customer code and the full time span do not fit in 62 bits together (nanosecond times
    over years), the key keeps the top bits of the time: events of one customer that share
    a key then lie side by side, and only those runs are put in exact (time, input) order.
    Events are rarely that close, so this stays one O(n log n) sort instead of a lexsort.
    """
    if np.all(codes[1:] >= codes[:-1]):
        same = codes[1:] == codes[:-1]
        if np.all(raw[1:][same] >= raw[:-1][same]):
            return None
    key, exact = _packed_key(codes, raw)
    order = _argsort_halves(key)
    sorted_key = key[order]
    equal = sorted_key[1:] == sorted_key[:-1]
    if equal.any():
        # The sort is not stable and a coarse key ties different times: order each run of
        # equal keys by time, then by input position (determinism).
        tied = np.zeros(order.size, dtype=bool)
        tied[1:] |= equal
        tied[:-1] |= equal
        where = np.flatnonzero(tied)
        rows = order[where]
        by = (rows, sorted_key[where]) if exact else (rows, raw[rows], sorted_key[where])
        order[where] = rows[np.lexsort(by)]
    return order


def _argsort_halves(key: np.ndarray) -> np.ndarray:
    """argsort of a large int64 key, the lower and upper halves of the key range in parallel.

    numpy releases the GIL while sorting, so two threads use two cores; concatenating works
    because every key of the lower half is smaller than every key of the upper half.
    """
    if key.size < PARALLEL_ROWS:
        return np.argsort(key)
    sample = key[:: max(1, key.size // 100_000)]
    middle = np.partition(sample, sample.size // 2)[sample.size // 2]
    low = np.flatnonzero(key < middle)
    high = np.flatnonzero(key >= middle)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parts = list(pool.map(lambda idx: idx[np.argsort(key[idx])], (low, high)))
    return np.concatenate(parts)


def _packed_key(codes: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, bool]:
    """``code << bits | time`` in one int64, and whether it holds the time exactly.

    Times become unsigned offsets from the earliest one (floats through their order-keeping
    bit pattern), so any span fits 64 bits; they are shifted right as far as needed for the
    customer code to fit beside them in 62 bits.
    """
    offset = _time_offsets(raw)
    time_bits = int(offset.max()).bit_length()
    code_bits = int(codes.max()).bit_length()
    shift = max(0, time_bits + code_bits - 62)
    if shift:
        offset >>= np.uint64(shift)
    key = offset.view(np.int64)
    key |= codes.astype(np.int64) << (time_bits - shift)
    return key, shift == 0


def _time_offsets(raw: np.ndarray) -> np.ndarray:
    """Times as uint64 offsets from the earliest, in the same order (ints and finite floats).

    Unsigned subtraction wraps modulo 2**64, so the difference of any two int64 is exact.
    """
    if raw.dtype.kind == "f":
        # IEEE bits order positive floats; flipping all but the sign bit of negative ones
        # reverses them into place. Adding 0.0 turns -0.0 into 0.0, which compare equal.
        bits = (raw.astype(np.float64) + 0.0).view(np.int64)
        raw = np.where(bits < 0, bits ^ np.int64(0x7FFF_FFFF_FFFF_FFFF), bits)
    low = np.int64(raw.min()).view(np.uint64)
    return raw.astype(np.int64, copy=False).view(np.uint64) - low


def reorder(order: np.ndarray, columns: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Every column gathered by ``order``; on large logs two columns at a time.

    A random gather waits on memory rather than computing, so two threads gathering two
    columns take about half the time of one gathering both.
    """
    if order.size < PARALLEL_ROWS or len(columns) < 2:
        return [values[order] for values in columns]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda values: np.take(values, order), columns))
