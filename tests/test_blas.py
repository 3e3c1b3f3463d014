"""The OpenBLAS thread control: looked up once, not per fit."""

from __future__ import annotations

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
