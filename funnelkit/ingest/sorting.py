"""The one sort of the numpy engine: events by ``(customer, time)``, and the reordering.

The sort is one value sort of a packed uint64 key, ``code | time | row``: the customer code in
the high bits, the time offset in the middle and the row number in the low ones. Sorting
values rather than indices lets numpy use its vectorised sort (several times faster than an
argsort), the row number read back from the sorted key is the permutation, the code read back
is the sorted customer column (no gather), and as every key is distinct, ties keep their input
order. Reordering the other columns is a gather per column, spread over two threads (numpy
releases the GIL, so a 2-core machine gathers on both cores).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = ["reorder", "sort_order", "sorted_order_and_codes"]

#: below this many rows, threads cost more than they save
PARALLEL_ROWS = 1_000_000


def sort_order(codes: np.ndarray, raw: np.ndarray) -> np.ndarray | None:
    """Permutation sorting by (customer, time), ties kept in input order; None if sorted.

    ``codes`` are non-negative integers, ``raw`` integer or finite float times.

    Examples
    --------
    >>> sort_order(np.array([1, 0, 1, 0]), np.array([5, 7, 2, 7])).tolist()
    [1, 3, 2, 0]
    """
    found = sorted_order_and_codes(codes, raw)
    return None if found is None else found[0]


def sorted_order_and_codes(
    codes: np.ndarray, raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`sort_order` and the codes in that order (read off the sorted key); None if sorted.

    When code, time span and row number do not fit in 64 bits together (nanosecond times
    over years), the key keeps the top bits of the time: events of one customer that share
    a key then lie side by side in input order, and only those runs are put in time order,
    by the same sort applied to them with their times relative to their run.
    """
    n = codes.shape[0]
    if _is_sorted(codes, raw):
        return None
    offset = _time_offsets(raw)
    row_bits = max(1, (n - 1).bit_length())
    code_bits = int(codes.max()).bit_length()
    time_bits = int(offset.max()).bit_length()
    if row_bits + code_bits > 62:  # beyond any table held in memory
        order = np.lexsort((raw, codes))
        return order, codes[order]
    shift = max(0, row_bits + code_bits + time_bits - 64)
    kept_bits = time_bits - shift
    key = codes.astype(np.uint64)
    key <<= np.uint64(kept_bits + row_bits)
    if kept_bits:
        offset >>= np.uint64(shift)
        offset <<= np.uint64(row_bits)
        key |= offset
    del offset
    # Block by block below: no temporary as long as the key (8 bytes a row) is made.
    for start, stop in _blocks(n):
        key[start:stop] |= np.arange(start, stop, dtype=np.uint64)
    key.sort()
    sorted_codes = np.empty(n, dtype=codes.dtype)
    for start, stop in _blocks(n):
        sorted_codes[start:stop] = key[start:stop] >> np.uint64(kept_bits + row_bits)
    tied = None
    if shift:
        # equal high bits: a run of one customer's events the key could not order
        tied = np.empty(max(n - 1, 0), dtype=bool)
        for start, stop in _blocks(n - 1):
            step = key[start + 1 : stop + 1] ^ key[start:stop]
            tied[start:stop] = step < np.uint64(1 << row_bits)
    key &= np.uint64((1 << row_bits) - 1)
    order = key.view(np.int64)
    if tied is not None and tied.any():
        _order_ties(order, tied, raw)
    return order, sorted_codes


#: rows per block of the element-wise passes over the sort key
BLOCK_ROWS = 1 << 20


def _blocks(n: int) -> list[tuple[int, int]]:
    return [(start, min(start + BLOCK_ROWS, n)) for start in range(0, max(n, 0), BLOCK_ROWS)]


def _order_ties(order: np.ndarray, tied: np.ndarray, raw: np.ndarray) -> None:
    """Put runs of equal coarse keys (in input order) in (time, input) order, in place.

    Within a run the times differ by less than the bits the key dropped, so relative to the
    run's earliest they fit beside a run number and a row number: the same packed sort, on
    fewer rows and a narrower span, finishes the work.
    """
    at_run = np.zeros(order.size, dtype=bool)
    at_run[1:] = tied
    at_run[:-1] |= tied
    where = np.flatnonzero(at_run)
    rows = order[where]
    starts = np.ones(where.size, dtype=bool)
    # a new run starts after an untied step, or where two runs touch
    starts[1:] = ~tied[where[:-1]] | (where[1:] != where[:-1] + 1)
    run = np.cumsum(starts) - 1
    offset = _time_offsets(raw[rows])
    first = np.flatnonzero(starts)
    offset -= np.repeat(np.minimum.reduceat(offset, first), np.diff(np.append(first, rows.size)))
    found = sorted_order_and_codes(run, offset.view(np.int64))
    if found is not None:
        order[where] = rows[found[0]]


def _is_sorted(codes: np.ndarray, raw: np.ndarray) -> bool:
    if not np.all(codes[1:] >= codes[:-1]):
        return False
    same = codes[1:] == codes[:-1]
    return bool(np.all(raw[1:][same] >= raw[:-1][same]))


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


def reorder(
    order: np.ndarray, columns: Sequence[np.ndarray], *, release: bool = False
) -> list[np.ndarray]:
    """Every column gathered by ``order``; on large logs two columns at a time.

    A random gather waits on memory rather than computing, so two threads gathering two
    columns take about half the time of one gathering both. With ``release``, ``columns`` is
    a list handed over by the caller and is returned: each entry is replaced by its gathered
    copy as soon as that is made, so the old column can be freed then rather than once every
    column is gathered (on 10 million events, the peak memory drops by a column or two).
    """
    out = columns if release and isinstance(columns, list) else list(columns)

    def gather(i: int) -> None:
        out[i] = np.take(out[i], order)

    if order.size < PARALLEL_ROWS or len(out) < 2:
        for i in range(len(out)):
            gather(i)
    else:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(gather, range(len(out))))
    return out
