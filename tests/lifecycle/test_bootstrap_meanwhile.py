"""Work of the caller that runs while the bootstrap replicates are fitted elsewhere."""

from __future__ import annotations

import os

import numpy as np
import pytest

from funnelkit.conversion import ConversionFitter
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle import LifecycleModel
from funnelkit.lifecycle._bootstrap import _chunks, run_replicates

SEEDS = np.arange(12, dtype=np.int64)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_meanwhile_runs_once_here_and_leaves_the_replicates_alone(n_jobs: int) -> None:
    changed: list[int] = []

    def fn(weights: np.ndarray) -> tuple[int, int]:
        # what ``meanwhile`` changes must not reach a replicate: in workers they were forked
        # before, here the replicates run first
        return int(weights[:4].sum()), len(changed)

    def meanwhile() -> None:
        changed.append(os.getpid())

    alone, _ = run_replicates(SEEDS, 6, fn, n_jobs=1)
    results, failures = run_replicates(SEEDS, 6, fn, n_jobs=n_jobs, meanwhile=meanwhile)
    assert results == alone
    assert [value[1] for _, value in results] == [0] * 12
    assert changed == [os.getpid()]
    assert failures.count == 0


def test_meanwhile_runs_without_replicates() -> None:
    changed: list[str] = []
    results, failures = run_replicates(
        np.zeros(0, dtype=np.int64), 6, len, n_jobs=2, meanwhile=lambda: changed.append("done")
    )
    assert results == [] and failures.total == 0
    assert changed == ["done"]


def test_what_meanwhile_raises_propagates_from_a_pool() -> None:
    def meanwhile() -> None:
        raise FunnelkitError("the full-data fit failed")

    with pytest.raises(FunnelkitError, match="the full-data fit failed"):
        run_replicates(SEEDS, 6, lambda w: float(w.sum()), n_jobs=2, meanwhile=meanwhile)


def test_segment_conversion_is_the_conversion_fitted_by_segment(fitted: LifecycleModel) -> None:
    # fitted beside the samples, it is still the plain ConversionFitter by segment
    values = fitted.segment_values("channel")
    direct = ConversionFitter(conf_level=fitted.conf_level).fit(
        fitted.customers().journeys, by="channel"
    )
    steps = 0
    for row in values.rows:
        for step in row.conversion:
            est = direct.estimate(step.source, step.target, row.segment)
            assert step.eventual_rate == est.eventual_rate
            assert step.naive_rate == est.naive_rate
            assert step.eventual_rate_ci == est.eventual_rate_ci
            steps += 1
    assert steps >= len(values.rows)


@pytest.mark.parametrize("n_tasks", [1, 2, 7, 100, 501])
@pytest.mark.parametrize("jobs", [2, 3, 8])
def test_chunks_shrink_to_single_samples_and_keep_every_task_once(n_tasks: int, jobs: int) -> None:
    tasks = [(b, 10 * b) for b in range(n_tasks)]
    chunks = _chunks(tasks, jobs)
    assert [t for chunk in chunks for t in chunk] == tasks
    sizes = [len(chunk) for chunk in chunks]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 1
    assert sizes[0] == -(-n_tasks // (4 * jobs))  # a quarter per worker of what is left
