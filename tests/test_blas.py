"""The OpenBLAS thread control: looked up once, not per fit."""

from __future__ import annotations

import os
import sys
import types

import numpy as np
import pytest

from funnelkit import _blas


def test_controls_are_scanned_again_only_after_an_import(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(_blas, "_SCANNED", [-1, []])
    monkeypatch.setattr(_blas, "_scan", lambda: calls.append(1) or [])
    _blas._controls()
    _blas._controls()
    assert len(calls) == 1
    monkeypatch.setitem(sys.modules, "funnelkit_blas_probe", types.ModuleType("probe"))
    _blas._controls()
    assert len(calls) == 2


def test_thread_count_is_restored_after_the_block() -> None:
    controls = _blas._controls()
    if sys.platform.startswith("linux"):
        assert controls, "numpy's OpenBLAS was not found among the loaded libraries"
    before = [int(get()) for _, get in controls]
    with _blas.single_threaded_blas():
        assert all(int(get()) == 1 for _, get in controls)
        np.ones((3, 3)) @ np.ones(3)
    assert [int(get()) for _, get in controls] == before


def test_a_count_of_one_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    counts = {"one": 1, "two": 2}
    calls: list[tuple[str, int]] = []

    def control(name: str) -> tuple[object, object]:
        def setter(n: int) -> None:
            calls.append((name, n))
            counts[name] = n

        return setter, lambda: counts[name]

    monkeypatch.setattr(_blas, "_controls", lambda: [control("one"), control("two")])
    with _blas.single_threaded_blas():
        assert counts == {"one": 1, "two": 1}
    assert counts == {"one": 1, "two": 2}
    assert calls == [("two", 1), ("two", 2)]


@pytest.mark.skipif(not hasattr(os, "fork") or not os.path.isdir("/proc/self/task"), reason="Linux")
def test_a_process_forked_inside_the_block_starts_no_blas_threads() -> None:
    # as a bootstrap worker is: its fits enter the block again, and must not start the
    # threads OpenBLAS lost at the fork (they would spin beside the fits)
    with _blas.single_threaded_blas():
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            threads = -1
            try:
                with _blas.single_threaded_blas():
                    np.linalg.solve(np.eye(4) * 2.0, np.ones(4))
                threads = len(os.listdir("/proc/self/task"))
            finally:
                os._exit(threads if threads > 0 else 100)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
