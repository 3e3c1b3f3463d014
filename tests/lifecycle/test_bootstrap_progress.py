"""The progress switch: True, False, a callable, or None (a bar for long, watched runs)."""

from __future__ import annotations

import io
import sys

import pytest

from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle import LifecycleModel
from funnelkit.lifecycle._bootstrap import AUTO_PROGRESS_WORK, ProgressBar, resolve_progress

from .conftest import Community


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_true_false_and_a_callable() -> None:
    assert isinstance(resolve_progress(True, n_customers=10, n_resamples=1), ProgressBar)
    assert resolve_progress(False, n_customers=10**7, n_resamples=100) is None

    def mine(step: str, done: int, total: int) -> None:
        return None

    assert resolve_progress(mine, n_customers=10, n_resamples=1) is mine


def test_automatic_shows_a_bar_for_long_runs_someone_watches(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    long = {"n_customers": AUTO_PROGRESS_WORK // 100, "n_resamples": 100}
    short = {"n_customers": AUTO_PROGRESS_WORK // 100 - 1, "n_resamples": 100}
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a file or a pipe: nobody watches
    assert resolve_progress(None, **long) is None
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert isinstance(resolve_progress(None, **long), ProgressBar)
    assert resolve_progress(None, **short) is None
    assert resolve_progress(None, n_customers=10**8, n_resamples=0) is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # inside a Jupyter kernel
    assert isinstance(resolve_progress(None, **long), ProgressBar)


def test_a_model_draws_its_bar_on_request(community: Community, monkeypatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    end = community.sim.observation_end
    quiet = LifecycleModel(n_resamples=3, progress=False, n_jobs=1)
    quiet.fit(community.log, observation_end=end)
    assert stream.getvalue() == ""
    shown = LifecycleModel(n_resamples=3, progress=True, n_jobs=1)
    shown.fit(community.log, observation_end=end)
    assert "bootstrap" in stream.getvalue() and "3/3" in stream.getvalue()
    assert shown.stage_values() == quiet.stage_values()


def test_a_progress_that_is_neither_is_refused(community: Community) -> None:
    with pytest.raises(
        FunnelkitError,
        match=r"must be callable \(progress\(step, done, total\)\), True, False or None",
    ):
        LifecycleModel(progress="yes").fit(community.log)
