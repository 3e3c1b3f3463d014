"""Run the model fits with single-threaded OpenBLAS.

funnelkit runs many small maximum-likelihood fits (bootstrap samples,
segments) whose linear algebra works on vectors of 3-6 numbers. OpenBLAS threads do nothing
useful there but spin between calls, and on a busy machine they slow the optimisers down
several-fold (measured 5-8x on a shared 2-core machine). While a fit runs, the thread count
of every loaded OpenBLAS (numpy's and scipy's copies) is set to 1 and restored afterwards,
as threadpoolctl does. Other platforms and BLAS libraries are left alone.

A count that is 1 already is not set again. A forked process keeps only the thread that
forked, and setting the count there starts OpenBLAS's threads again, whatever the count: in
a bootstrap worker (forked inside this block) they then spun beside the fits, and made each
worker's first sample about three times slower (100,000 customers: 0.14 s against 0.05 s).
"""

from __future__ import annotations

import ctypes
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["single_threaded_blas"]

_SYMBOLS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
_CONTROLS: dict[str, tuple[Callable[[int], Any], Callable[[], int]] | None] = {}
#: the last scan, and the number of imported modules when it was made
_SCANNED: list[Any] = [-1, []]


def _controls() -> list[tuple[Callable[[int], Any], Callable[[], int]]]:
    # Reading and scanning /proc/self/maps takes milliseconds (a third of a small report
    # when done per fit). Shared libraries are loaded by imports, so the scan is redone
    # only when modules were imported since the last one.
    n_modules = len(sys.modules)
    if _SCANNED[0] != n_modules:
        _SCANNED[:] = [n_modules, _scan()]
    found: list[tuple[Callable[[int], Any], Callable[[], int]]] = _SCANNED[1]
    return found


def _scan() -> list[tuple[Callable[[int], Any], Callable[[], int]]]:
    try:
        with open("/proc/self/maps") as fh:
            maps = fh.read()
    except OSError:
        return []
    out = []
    for path in sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps))):
        if path not in _CONTROLS:
            _CONTROLS[path] = _find(path)
        found = _CONTROLS[path]
        if found is not None:
            out.append(found)
    return out


def _find(path: str) -> tuple[Callable[[int], Any], Callable[[], int]] | None:
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for set_name, get_name in _SYMBOLS:
        setter = getattr(lib, set_name, None)
        getter = getattr(lib, get_name, None)
        if setter is not None and getter is not None:
            getter.restype = ctypes.c_int
            return setter, getter
    return None


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit every loaded OpenBLAS to one thread inside the block (see the module docstring)."""
    controls = _controls()
    previous = []
    for setter, getter in controls:
        try:
            count = int(getter())
            if count != 1:
                setter(1)
                previous.append((setter, count))
        except (OSError, ValueError):  # pragma: no cover - defensive
            continue
    try:
        yield
    finally:
        for setter, count in previous:
            setter(count)
