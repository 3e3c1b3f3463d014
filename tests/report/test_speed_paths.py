"""The report's trends run beside its value steps: the same report either way."""

from __future__ import annotations

import numpy as np
import pytest

import funnelkit as fk
from funnelkit.datasets import simulate_community
from funnelkit.exceptions import FunnelkitError
from funnelkit.report import _background, _build, trends as report_trends
from funnelkit.report._background import Background, can_fork
from funnelkit.report.report import StepTimer

needs_fork = pytest.mark.skipif(not can_fork(), reason="the side-by-side path needs fork")


@pytest.fixture(scope="module")
def world():
    sim = simulate_community(2_500, seed=3)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    return log, sim.observation_end


def _report(world, n_jobs):
    log, end = world
    return fk.report(log, observation_end=end, n_resamples=0, seed=0, n_jobs=n_jobs)


def _without_seconds(rep):
    return rep.model_copy(update={"seconds": {}})


@needs_fork
def test_side_by_side_gives_the_same_report(world, monkeypatch):
    monkeypatch.setattr(_background, "usable_cores", lambda: 2)
    started = []

    class Counted(Background):
        def __init__(self, fn):
            started.append(fn)
            super().__init__(fn)

    monkeypatch.setattr(_background, "Background", Counted)
    here = _report(world, 1)
    assert started == []
    beside = _report(world, 2)
    assert len(started) == 1
    assert _without_seconds(beside) == _without_seconds(here)
    assert beside.to_html().count("<table") == here.to_html().count("<table")
    assert list(beside.seconds) == list(here.seconds)
    assert list(here.seconds)[:3] == ["lifecycle model", "stage conversion", "funnel trends"]


@needs_fork
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_fit_failure_in_the_trends_leaves_its_section_out(world, monkeypatch, n_jobs):
    def failing(*args, **kwargs):
        raise FunnelkitError("no cohort could be fitted")

    monkeypatch.setattr(report_trends, "trends_of", failing)
    rep = _report(world, n_jobs)
    assert rep.trends == ()
    assert rep.unavailable == {"trends": "no cohort could be fitted"}
    assert rep.transitions is not None


@needs_fork
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_bug_in_the_trends_is_raised_with_its_type(world, monkeypatch, n_jobs):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug, not a fact about the data")

    monkeypatch.setattr(report_trends, "trends_of", broken)
    with pytest.raises(RuntimeError, match="a bug, not a fact about the data"):
        _report(world, n_jobs)


@pytest.mark.parametrize(
    ("n_jobs", "n_customers", "cores", "expected"),
    [
        (None, 49_999, 2, False),
        (None, 50_000, 2, True),
        (None, 1_000_000, 1, False),
        (1, 1_000_000, 2, False),
        (2, 10, 2, True),
        (-1, 10, 2, True),
    ],
)
def test_when_the_trends_run_beside(monkeypatch, n_jobs, n_customers, cores, expected):
    monkeypatch.setattr(_background, "usable_cores", lambda: cores)
    monkeypatch.setattr(_background, "can_fork", lambda: True)
    assert _build._side_by_side(n_jobs, n_customers) is expected
    monkeypatch.setattr(_background, "can_fork", lambda: False)
    assert _build._side_by_side(n_jobs, n_customers) is False


def test_steps_timed_elsewhere_are_listed_after_their_predecessor():
    calls = []
    timer = StepTimer(lambda step, done, total: calls.append((step, done, total)), total=4)
    timer.run("first", lambda: None)
    timer.run("last", lambda: None)
    timer.record({"a": 1.5, "b": 2.0}, after="first")
    assert list(timer.seconds) == ["first", "a", "b", "last"]
    assert timer.seconds["a"] == 1.5 and timer.seconds["b"] == 2.0
    assert calls == [("first", 0, 4), ("last", 1, 4), ("a", 2, 4), ("b", 3, 4)]
    assert timer.done == 4


@needs_fork
def test_background_returns_the_value_and_raises_the_error():
    data = np.arange(10.0)
    assert Background(lambda: float(data.sum())).result() == 45.0

    def fails() -> None:
        raise ZeroDivisionError("from the child")

    with pytest.raises(ZeroDivisionError, match="from the child"):
        Background(fails).result()


@needs_fork
def test_background_result_larger_than_a_pipe_buffer():
    big = np.arange(2_000_000, dtype=float)
    got = Background(lambda: big * 2.0).result()
    assert np.array_equal(got, big * 2.0)


@needs_fork
def test_background_that_dies_says_so():
    import os

    with pytest.raises(FunnelkitError, match=r"ended without a result \(exit code 3\)"):
        Background(lambda: os._exit(3)).result()
