"""Helpers shared by the benchmarks: timing, peak memory, synthetic purchase logs."""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall time over ``repeat`` runs, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


class PeakRSS:
    """Sample the process's resident memory while a block runs (peak above the start level)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.start = self.current()
        self.peak = self.start
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())

    @property
    def added(self) -> int:
        return self.peak - self.start


def purchase_log(n_events: int, n_customers: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Unsorted purchases over two years at second resolution, with values."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2022-01-01T00:00:00", "ns")
    seconds = rng.integers(0, 2 * 365 * 86_400, n_events)
    return {
        "customer_id": rng.integers(0, n_customers, n_events),
        "timestamp": start + (seconds * 10**9).astype("timedelta64[ns]"),
        "value": np.round(rng.gamma(2.0, 20.0, n_events), 2),
    }
