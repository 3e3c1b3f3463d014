"""Customer bootstrap: replicate weights, contained replicate failures, percentile intervals."""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelkit._blas import single_threaded_blas
from funnelkit._quasi_newton import bootstrap_precision
from funnelkit._results import Interval
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle.results import ValueEstimate

__all__ = [
    "FIT_FAILURES",
    "MIN_REPLICATES",
    "VALUE_PROGRESS_WORK",
    "ProgressBar",
    "ReplicateFailures",
    "check_n_jobs",
    "estimate",
    "failure_reason",
    "map_replicates",
    "replicate_weights",
    "resolve_progress",
    "run_replicates",
    "shared_replicate_weights",
    "sharing_replicate_weights",
    "worker_count",
]

#: Fewer successful replicates than this and intervals are reported as not estimable.
MIN_REPLICATES = 10

#: What a fit or a prediction raises when the data of one resample or one segment cannot
#: support a model: funnelkit's own errors (ConvergenceError, DataError), numpy's LinAlgError
#: and scipy's "array must not contain infs or NaNs" (all ValueError), and overflow or
#: division by zero in Python floats (``math.exp``, ``math.lgamma``: ArithmeticError).
#: Programming errors (TypeError, AttributeError, IndexError, KeyError) are not among them
#: and still surface.
FIT_FAILURES: tuple[type[Exception], ...] = (ValueError, ArithmeticError, np.linalg.LinAlgError)


def failure_reason(exc: BaseException, limit: int = 200) -> str:
    """One line saying why a fit failed: funnelkit's own message, else the exception type too.

    The numbered remedies of a ConvergenceError are left out: a note counts failures, the
    remedies are for someone fitting that model by hand.
    """
    text = " ".join(str(exc).split("Things to try", 1)[0].split()).rstrip(" .:") or "no message"
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text if isinstance(exc, FunnelkitError) else f"{type(exc).__name__}: {text}"


@dataclass
class ReplicateFailures:
    """How many of ``total`` replicates failed, and why (reason → count)."""

    total: int
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.reasons.values())

    @property
    def too_many(self) -> bool:
        """More than half failed: the survivors are a selected, not a random, set of samples."""
        return 2 * self.count > self.total

    def add(self, exc: BaseException) -> None:
        self.reasons[failure_reason(exc)] += 1

    def why(self) -> str:
        (first, _), *others = self.reasons.most_common()
        more = f"; and {len(others)} other reason(s)" if others else ""
        return f"{first}{more}"

    def note(self) -> str | None:
        """The sentence for the notes, or None when nothing failed."""
        if not self.count:
            return None
        head = f"{self.count} of {self.total} bootstrap samples could not be fitted ({self.why()})"
        if self.too_many:
            return f"{head}: the intervals are not estimable"
        return f"{head} and were left out of the intervals"

    def interval_method(self) -> str:
        return (
            f"not estimable: {self.count} of {self.total} bootstrap samples could not be "
            "fitted (more than half)"
        )


def replicate_weights(seed: int, n: int) -> np.ndarray:
    """How many times each of ``n`` customers is drawn in one bootstrap sample (sums to n)."""
    rng = np.random.default_rng(seed)
    return np.bincount(rng.integers(0, n, n), minlength=n)


#: bytes of counts :func:`shared_replicate_weights` keeps at most (a byte per customer and
#: sample: 100 samples of a million customers)
SHARED_WEIGHTS_BYTES = 128 * 2**20

_SHARED: dict[tuple[int, int], np.ndarray] = {}
_SHARING: list[None] = []  # one entry per open sharing_replicate_weights()


@contextmanager
def sharing_replicate_weights() -> Iterator[None]:
    """Within: :func:`shared_replicate_weights` keeps its counts for a second pass; on
    leaving the outermost, whatever is still kept is forgotten."""
    _SHARING.append(None)
    try:
        yield
    finally:
        _SHARING.pop()
        if not _SHARING:
            _SHARED.clear()


def shared_replicate_weights(seed: int, n: int) -> np.ndarray:
    """:func:`replicate_weights` for two passes over the same samples: drawn once.

    Inside :func:`sharing_replicate_weights`, the first call for ``(seed, n)`` draws the
    counts and keeps a copy of a byte per customer (while the copies kept stay within
    :data:`SHARED_WEIGHTS_BYTES`); the next takes the copy back and forgets it. The
    membership uplift and the uplift from the join go over a fit's samples one after the
    other: the second then draws nothing. Outside, nothing is kept. The counts are those of
    :func:`replicate_weights` either way.

    >>> with sharing_replicate_weights():
    ...     first = shared_replicate_weights(7, 1000)
    ...     again = shared_replicate_weights(7, 1000)
    >>> bool((first == replicate_weights(7, 1000)).all() and (again == first).all())
    True
    """
    kept = _SHARED.pop((seed, n), None)
    if kept is not None:
        return kept.astype(np.int64)
    counts = replicate_weights(seed, n)
    room = SHARED_WEIGHTS_BYTES - sum(v.nbytes for v in _SHARED.values())
    small = n == 0 or counts.max() <= np.iinfo(np.uint8).max
    if _SHARING and n <= room and small:
        _SHARED[(seed, n)] = counts.astype(np.uint8)
    return counts


def worker_count(n_jobs: int | None, n_resamples: int, n_customers: int) -> int:
    """Processes for ``n_resamples`` replicates: ``n_jobs``, -1 = every core, None = automatic.

    Automatic: one process for small bootstraps (starting workers costs more than it
    saves), else every core available to this process that other work is not using (by
    the load average of the last minute, or the tasks running now where fewer), at most 8:
    on a busy machine more processes than idle cores only take turns, and copying the data
    to each costs more than they add.
    Results do not depend on the count: each replicate draws from its own seed.
    """
    available = _available_cores()
    if n_jobs is None:
        big = n_resamples >= 4 and n_customers * n_resamples >= AUTO_PARALLEL_WORK
        n_jobs = min(_idle_cores(available), 8) if big else 1
    elif n_jobs == -1:
        n_jobs = available
    if "fork" not in multiprocessing.get_all_start_methods():
        # workers inherit the fitted data by forking; without fork (Windows) all run here
        return 1
    return max(1, min(int(n_jobs), n_resamples))


#: customers x resamples from which ``n_jobs=None`` spreads a bootstrap over the cores
AUTO_PARALLEL_WORK = 2_000_000


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _idle_cores(available: int) -> int:
    """Cores (of ``available``) not busy with other work: this process counts as idle.

    Busy: the 1-minute load average, or the tasks runnable right now where that is fewer
    (Linux): the average still counts for a minute the work that just ended, such as the
    workers of this or another program's previous bootstrap, and would leave their cores
    idle.
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not on Unix
        return available
    now = _runnable_now()
    if now is not None:
        load = min(load, now)
    # the load includes this process itself (one running thread)
    return max(1, min(available, math.floor(available - load + 1.5)))


def _runnable_now() -> int | None:
    """Tasks running or waiting for a core at this moment, this one included (Linux)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def check_n_jobs(n_jobs: Any, owner: str) -> None:
    """Refuse an ``n_jobs`` that is not None, -1 or a whole number >= 1."""
    whole = isinstance(n_jobs, int | np.integer) and not isinstance(n_jobs, bool)
    if n_jobs is not None and not (whole and (n_jobs >= 1 or n_jobs == -1)):
        raise FunnelkitError(
            f"The 'n_jobs' parameter of {owner} must be a whole number >= 1, -1 (every core) "
            f"or None (automatic). Got {n_jobs!r} instead."
        )


#: the per-seed function of the running pool, inherited by the forked workers (a closure
#: over the fitted data cannot be pickled, and need not be: fork copies it)
_TASK: list[Callable[[int], Any]] = []


def _one(fn: Callable[[int], Any], seed: int) -> tuple[bool, Any]:
    """``(True, fn(seed))``, or ``(False, why)`` when the replicate cannot be fitted."""
    try:
        # refits stop 0.01 standard errors from their maximum: see BOOTSTRAP_DECREMENT
        with warnings.catch_warnings(), np.errstate(all="ignore"), bootstrap_precision():
            warnings.simplefilter("ignore")
            return True, fn(seed)
    except FIT_FAILURES as exc:
        return False, failure_reason(exc)


def _run_chunk(chunk: list[tuple[int, int]]) -> list[tuple[int, bool, Any]]:
    return _run_chunk_here(_TASK[0], chunk)


def run_replicates(
    seeds: np.ndarray,
    n: int,
    fn: Callable[[np.ndarray], Any],
    progress: Callable[[str, int, int], None] | None = None,
    label: str = "bootstrap",
    n_jobs: int | None = 1,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[list[Any], ReplicateFailures]:
    """Call ``fn(weights)`` per replicate; fit failures (:data:`FIT_FAILURES`) are counted.

    ``weights`` are the counts of :func:`replicate_weights` of the replicate's seed over
    ``n`` customers; the rest is :func:`map_replicates`, which returns one ``(seed,
    fn(weights))`` pair per success.
    """
    return map_replicates(
        seeds,
        lambda seed: fn(replicate_weights(seed, n)),
        n,
        progress,
        label=label,
        n_jobs=n_jobs,
        meanwhile=meanwhile,
    )


def map_replicates(
    seeds: np.ndarray,
    fn: Callable[[int], Any],
    n_customers: int,
    progress: Callable[[str, int, int], None] | None = None,
    label: str = "bootstrap",
    n_jobs: int | None = 1,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[list[Any], ReplicateFailures]:
    """Call ``fn(seed)`` per replicate seed; fit failures (:data:`FIT_FAILURES`) are counted.

    Returns ``(results, failures)`` with one ``(seed, fn(seed))`` pair per success, in
    the order of ``seeds`` whatever ``n_jobs`` (see :func:`worker_count`, which weighs the
    work by ``n_customers``): each replicate depends on its own seed only, so the results
    are the same for any number of processes. With several, ``fn`` runs in forked workers
    and its result travels back pickled: it must not rely on changing state of the caller.
    When more than half of the replicates fail (``failures.too_many``) the caller must not
    form intervals from the rest: the resamples that could be fitted are not a random
    sample of the resamples.

    ``meanwhile`` is other work of the caller that does not depend on the replicates (a fit
    on the full data): it runs once, in this process, while the workers fit the replicates,
    so it takes no wall time of its own when cores are free (after the replicates when they
    all run here). What it raises propagates, and the replicates not yet started are
    cancelled.
    """
    tasks = [(b, int(seed)) for b, seed in enumerate(seeds)]
    jobs = worker_count(n_jobs, len(tasks), n_customers)
    done: dict[int, tuple[bool, Any]] = {}

    def finished(rows: list[tuple[int, bool, Any]]) -> None:
        for b, ok, value in rows:
            done[b] = (ok, value)
        if progress is not None:
            progress(label, len(done), len(tasks))

    # A replicate's linear algebra is on a handful of parameters: BLAS threads only spin,
    # and beside the other workers they would outnumber the cores. The workers inherit
    # the single thread from here: set in a forked worker, OpenBLAS would start its
    # threads again (see funnelkit._blas).
    with single_threaded_blas():
        if jobs <= 1 or _TASK:  # already inside a pool: no pools within pools
            for task in tasks:
                finished(_run_chunk_here(fn, [task]))
            if meanwhile is not None:
                meanwhile()
        else:
            _TASK.append(fn)
            try:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(jobs, mp_context=context) as pool:
                    # the workers are forked at the first submission: what ``meanwhile``
                    # changes here afterwards is not seen by them
                    futures = [pool.submit(_run_chunk, c) for c in _chunks(tasks, jobs)]
                    if meanwhile is not None:
                        try:
                            meanwhile()
                        except BaseException:
                            pool.shutdown(wait=True, cancel_futures=True)
                            raise
                    for future in as_completed(futures):
                        finished(future.result())
            finally:
                _TASK.clear()
    out: list[Any] = []
    failures = ReplicateFailures(total=len(tasks))
    for b, seed in tasks:
        ok, value = done[b]
        if ok:
            out.append((seed, value))
        else:
            failures.reasons[value] += 1
    return out, failures


def _chunks(tasks: list[tuple[int, int]], jobs: int) -> list[list[tuple[int, int]]]:
    """``tasks`` in chunks for ``jobs`` workers, each a quarter of what is left per worker
    (guided scheduling): large chunks first, few hand-offs, then smaller ones down to single
    samples, so that the workers finish together however unequal their samples (a worker's
    first sample builds its caches: at a million customers it takes several times longer)
    and the progress moves.

    Examples
    --------
    >>> [len(c) for c in _chunks([(b, b) for b in range(40)], 2)]
    [5, 5, 4, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    chunks = []
    at = 0
    while at < len(tasks):
        size = math.ceil((len(tasks) - at) / (4 * jobs))
        chunks.append(tasks[at : at + size])
        at += size
    return chunks


def _run_chunk_here(
    fn: Callable[[int], Any], chunk: list[tuple[int, int]]
) -> list[tuple[int, bool, Any]]:
    return [(b, *_one(fn, seed)) for b, seed in chunk]


class ProgressBar:
    """A ``progress(step, done, total)`` callable drawing a bar: tqdm when installed, else text.

    tqdm (``pip install funnelkit[progress]``) draws in a terminal and, through
    ``tqdm.auto``, as a widget in Jupyter; without it one line on ``stream`` (default
    standard error) is rewritten in place. ``LifecycleModel(progress=True)`` draws one;
    pass an instance (``progress=ProgressBar(stream=...)``, also to :func:`funnelkit.report`)
    to choose where it goes; ``progress=False`` shows nothing.

    Examples
    --------
    >>> import io
    >>> bar = ProgressBar(stream=io.StringIO(), use_tqdm=False)
    >>> bar("bootstrap", 1, 4); bar("bootstrap", 4, 4)
    >>> bar.stream.getvalue().splitlines()[-1].strip()
    'bootstrap [##############################] 4/4'
    """

    def __init__(self, *, stream: Any = None, use_tqdm: bool = True, width: int = 30) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.use_tqdm = use_tqdm
        self.width = width
        self._bars: dict[str, Any] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.use_tqdm:
            bar = self._tqdm(step, total)
            if bar is not None:
                bar.update(done - bar.n)
                if done >= total:
                    bar.close()
                    self._bars.pop(step, None)
                return
        filled = 0 if total <= 0 else round(self.width * min(done, total) / total)
        line = f"{step} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        end = "\n" if done >= total else ""
        self.stream.write("\r" + line + end)
        self.stream.flush()

    def _tqdm(self, step: str, total: int) -> Any:
        if step not in self._bars:
            try:
                from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                self.use_tqdm = False
                return None
            self._bars[step] = tqdm(total=total, desc=step, file=self.stream, leave=True)
        return self._bars[step]


#: customers x resamples from which ``progress=None`` shows a bar (several seconds of work)
AUTO_PROGRESS_WORK = 1_000_000

#: the same for work that values the fitted samples again without refitting them (the
#: membership uplifts): 100 samples of 100,000 customers take about as long (0.6 s) as
#: 100 refits of 10,000
VALUE_PROGRESS_WORK = 10 * AUTO_PROGRESS_WORK

Progress = Callable[[str, int, int], None]


def resolve_progress(
    progress: bool | Progress | None,
    *,
    n_customers: int,
    n_resamples: int,
    work: int = AUTO_PROGRESS_WORK,
) -> Progress | None:
    """The callable a bootstrap reports to: ``progress`` itself, a :class:`ProgressBar`, or None.

    ``True`` draws a bar, ``False`` shows nothing, ``None`` (automatic) draws one when the
    bootstrap is long (``work`` customers x resamples) and someone can see it: standard
    error is a terminal, or the call runs in a Jupyter kernel.
    """
    if progress is None:
        long = n_resamples > 0 and n_customers * n_resamples >= work
        progress = long and _watched()
    if progress is True:
        return ProgressBar()
    if progress is False:
        return None
    return progress


def _watched() -> bool:
    """Whether standard error reaches a person: a terminal, or a Jupyter notebook."""
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # a closed stream
        return False


def estimate(point: float, samples: np.ndarray, conf_level: float) -> ValueEstimate:
    """Point estimate with the bootstrap percentile interval and standard error."""
    value = None if not math.isfinite(point) else float(point)
    finite = samples[np.isfinite(samples)]
    if value is None or finite.size < MIN_REPLICATES:
        return ValueEstimate(value=value)
    tail = (1.0 - conf_level) / 2.0
    lower, upper = np.quantile(finite, [tail, 1.0 - tail])
    ci = Interval(estimate=value, lower=float(lower), upper=float(upper), level=conf_level)
    return ValueEstimate(value=value, ci=ci, std_error=float(np.std(finite, ddof=1)))
