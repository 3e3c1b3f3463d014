"""Bootstrap speed-ups that must not change a number: processes, weights, cached orders."""

from __future__ import annotations

import io
import os
from typing import Any

import numpy as np
import pytest

from funnelkit import EventLog, Funnel
from funnelkit.datasets import simulate_community
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle import LifecycleModel, model as model_module
from funnelkit.lifecycle._bootstrap import (
    AUTO_PARALLEL_WORK,
    ProgressBar,
    map_replicates,
    run_replicates,
    worker_count,
)
from funnelkit.lifecycle._components import _member_share, _spend_order
from funnelkit.lifecycle._data import CustomerTable

from .conftest import Community


def _fit(community: Community, n_jobs: int | None) -> LifecycleModel:
    model = LifecycleModel(n_resamples=12, seed=5, n_jobs=n_jobs)
    return model.fit(
        community.log, Funnel.community(), observation_end=community.sim.observation_end
    )


def test_same_intervals_for_any_number_of_processes(community: Community) -> None:
    one, two = _fit(community, 1), _fit(community, 2)
    assert one.fit_.bootstrap_values == two.fit_.bootstrap_values
    assert len(one.fit_.bootstrap_values) == 12
    assert one.stage_values().summary().equals(two.stage_values().summary())
    seg_one = one.segment_values("channel").summary()
    seg_two = two.segment_values("channel").summary()
    assert seg_one.equals(seg_two)
    assert seg_one["lower"].notna().any()


def test_comparisons_of_the_fitted_samples_are_the_same_for_any_number_of_processes(
    community: Community,
) -> None:
    one, two = _fit(community, 1), _fit(community, 2)
    assert one.membership_uplift() == two.membership_uplift()
    join = one.membership_uplift_from_join()
    assert join == two.membership_uplift_from_join()
    assert join.difference.ci is not None and join.stratified is not None
    costs = community.sim.costs()
    assert one.channel_value(costs).equals(two.channel_value(costs))


def test_the_comparisons_report_to_the_models_progress(community: Community) -> None:
    calls: list[tuple[str, int, int]] = []
    model = _fit(community, 1).set_params(progress=lambda *a: calls.append(a))
    model.membership_uplift_from_join()
    model.channel_value(community.sim.costs())
    finished = [c for c in calls if c[1] == c[2]]
    assert finished == [
        ("membership uplift", 12, 12),
        ("membership uplift from the join", 12, 12),
        ("segments by channel", 12, 12),
    ]


def test_map_replicates_hands_each_seed_to_its_sample() -> None:
    seeds = np.array([7, 3, 11, 5], dtype=np.int64)
    here, _ = map_replicates(seeds, lambda seed: seed * 10, 5, n_jobs=1)
    there, _ = map_replicates(seeds, lambda seed: seed * 10, 5, n_jobs=2)
    assert here == there == [(7, 70), (3, 30), (11, 110), (5, 50)]


def test_failures_in_workers_are_counted_like_at_home() -> None:
    def fn(weights: np.ndarray) -> float:
        if weights[0] == 0:
            raise ValueError("first customer not drawn")
        return float(weights[:3].sum())

    seeds = np.arange(40, dtype=np.int64)
    here, failed_here = run_replicates(seeds, 5, fn, n_jobs=1)
    there, failed_there = run_replicates(seeds, 5, fn, n_jobs=2)
    assert here == there
    assert failed_here.reasons == failed_there.reasons
    assert failed_here.count == 40 - len(here) > 0
    assert failed_here.why() == "ValueError: first customer not drawn"


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads listed on Linux")
def test_workers_run_on_one_thread() -> None:
    # a forked worker has lost OpenBLAS's threads, and setting a thread count there starts
    # them again: they then spin beside the fits (a worker's first sample, 3x slower)
    from funnelkit._blas import single_threaded_blas

    def fn(weights: np.ndarray) -> int:
        with single_threaded_blas():  # as every fit does
            np.linalg.solve(np.eye(3) + weights[:3].sum(), np.ones(3))
        return len(os.listdir("/proc/self/task"))

    results, _ = run_replicates(np.arange(4, dtype=np.int64), 5, fn, n_jobs=2)
    assert [threads for _, threads in results] == [1] * 4


def test_progress_counts_every_sample_once() -> None:
    calls: list[tuple[str, int, int]] = []
    seeds = np.arange(9, dtype=np.int64)
    run_replicates(seeds, 4, lambda w: 1.0, lambda *a: calls.append(a), n_jobs=2)
    assert calls[-1] == ("bootstrap", 9, 9)
    done = [c[1] for c in calls]
    assert done == sorted(done) and len(done) == len(set(done))


def test_worker_count() -> None:
    assert worker_count(1, 100, 10**6) == 1
    assert worker_count(3, 2, 10) == 2  # never more processes than samples
    assert worker_count(None, 100, 1_000) == 1  # small: starting workers costs more
    big = worker_count(None, 100, AUTO_PARALLEL_WORK)
    assert 1 <= big <= 8
    assert worker_count(-1, 1_000, 10) >= 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_n_jobs_is_checked(community: Community, bad: object) -> None:
    with pytest.raises(FunnelkitError) as info:
        LifecycleModel(n_resamples=0, n_jobs=bad).fit(community.log)  # type: ignore[arg-type]
    assert str(info.value) == (
        "The 'n_jobs' parameter of LifecycleModel must be a whole number >= 1, -1 (every "
        f"core) or None (automatic). Got {bad!r} instead."
    )


def test_weighted_member_share_equals_repeated_rows() -> None:
    rng = np.random.default_rng(8)
    durations = rng.gamma(2.0, 5.0, 400)
    member = rng.random(400) < 1.0 / (1.0 + np.exp(-(np.log(durations) - 2.0)))
    counts = rng.integers(0, 4, 400)
    weighted = _member_share(durations, member, counts.astype(float))
    repeated = _member_share(
        np.repeat(durations, counts), np.repeat(member, counts), np.ones(int(counts.sum()))
    )
    assert weighted.intercept == pytest.approx(repeated.intercept, rel=1e-10)
    assert weighted.slope == pytest.approx(repeated.slope, rel=1e-10)
    assert weighted.slope > 0.3


def test_spend_order_is_sorted_once_per_table(fitted: LifecycleModel) -> None:
    table = fitted.customers()
    first = _spend_order(table, 0)
    assert _spend_order(table, 0) is first
    buyers = table.buyer_rows[0].customers[first]
    key = np.column_stack([table.at_end.frequency[buyers], table.at_end.monetary_value[buyers]])
    assert np.all(np.diff(key[:, 0]) >= 0)
    same_f = np.diff(key[:, 0]) == 0
    assert np.all(np.diff(key[:, 1])[same_f] >= 0)


def test_text_progress_bar_without_tqdm() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream=stream, use_tqdm=False, width=10)
    bar("bootstrap", 5, 10)
    bar("bootstrap", 10, 10)
    assert stream.getvalue() == ("\rbootstrap [#####.....] 5/10\rbootstrap [##########] 10/10\n")


def test_a_small_log_fits_with_default_n_jobs() -> None:
    sim = simulate_community(1_500, seed=4)
    log = EventLog.from_frame(sim.events, value_col="value")
    model = LifecycleModel(n_resamples=10, seed=1).fit(log, observation_end=sim.observation_end)
    assert model.n_jobs is None
    assert len(model.fit_.bootstrap_values) + model.n_resamples_failed_ == 10


def test_report_passes_n_jobs_through(community: Community) -> None:
    import json

    import funnelkit as fk

    end = community.sim.observation_end
    docs = []
    for jobs in (1, 2):
        rep = fk.report(community.log, observation_end=end, n_resamples=6, seed=2, n_jobs=jobs)
        doc = json.loads(rep.to_json())
        doc.pop("seconds")  # step times differ; every number must not
        docs.append(doc)
    assert docs[0] == docs[1]
    assert docs[0]["stage_values"]["n_resamples"] == 6


@pytest.fixture(scope="module")
def gridded() -> Community:
    """A community whose prospects are enough for grids: 8,192 of them, 2,048 converters."""
    sim = simulate_community(15_000, seed=8)
    return Community(sim, EventLog.from_frame(sim.events, value_col="value"))


def test_what_every_refit_reads_is_built_before_the_workers_start(
    gridded: Community, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Built in the fitting process, the grids are shared by the forked workers: none of
    them pays for its own copy in fresh memory. The fitted model then drops them."""
    end = gridded.sim.observation_end
    prepared: list[CustomerTable] = []
    at_fork: list[set[str]] = []
    real_prepare, real_run = CustomerTable.prepare_refits, model_module.run_replicates

    def prepare(table: CustomerTable) -> None:
        prepared.append(table)
        real_prepare(table)

    def run(*args: Any, **kwargs: Any) -> Any:
        (table,) = prepared
        grids = table.pre["prospect"].cure_rows.grids
        at_fork.append({kind for kind, split in grids.items() if split is not None})
        assert all("nodes" in pre.converters.grid for pre in table.pre.values())
        return real_run(*args, **kwargs)

    monkeypatch.setattr(CustomerTable, "prepare_refits", prepare)
    monkeypatch.setattr(model_module, "run_replicates", run)
    model = LifecycleModel(n_resamples=4, seed=1, n_jobs=2, progress=False)
    model.fit(gridded.log, observation_end=end)
    assert at_fork == [{"exact", "censored"}]
    assert "cure_rows" not in vars(model.customers_.pre["prospect"])
    # the same samples with everything built at the first sample's refits
    monkeypatch.setattr(CustomerTable, "prepare_refits", lambda table: None)
    monkeypatch.setattr(model_module, "run_replicates", real_run)
    again = LifecycleModel(n_resamples=4, seed=1, n_jobs=1, progress=False)
    again.fit(gridded.log, observation_end=end)
    assert again.fit_.bootstrap_values == model.fit_.bootstrap_values
