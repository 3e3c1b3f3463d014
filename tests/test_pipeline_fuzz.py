"""Fuzz the public pipeline: whatever small event frame goes in, every step either returns
results whose numbers are finite wherever they are shown, or raises a FunnelkitError that
says what is wrong -- never another exception, never a NaN or an infinity shown as a number.

EventLog.from_frame -> Funnel.journeys -> ConversionFitter -> StageMarkovFitter.forecast
-> LifecycleModel -> stage_values / value_of_advancing / score -> report.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _examples import DERANDOMIZE
from hypothesis import HealthCheck, given, settings, strategies as st

import funnelkit as fk
from funnelkit.exceptions import FunnelkitError

EVENTS = ("touch", "visit", "join", "purchase", "pageview")
BASE = np.datetime64("2023-01-01T00:00:00", "ns")
DAY_NS = 86_400 * 10**9


@st.composite
def event_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, bool]:
    """A small event log (at most 200 rows): few or many customers, purchases only or none,
    events in funnel order or shuffled, same-day repeats, zero, negative, huge or missing
    values, times as datetimes or as numbers, a missing id, time, event or attribute."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # enough repeat buyers for every model, most of the time
        n_customers, n_rows = draw(st.integers(40, 60)), 200
        span_days = draw(st.sampled_from([30, 400, 3000]))
    else:
        n_customers, n_rows = draw(st.integers(1, 60)), draw(st.integers(1, 200))
        span_days = draw(st.sampled_from([0, 1, 30, 400, 3000]))
    if draw(st.booleans()):  # funnel order: touch, maybe visit, join, then purchases
        customers, events, offsets = _journeys(rng, n_customers, n_rows, span_days)
    else:  # any event, any order
        weights = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=5, max_size=5)))
        weights = weights + 1e-9 if weights.sum() == 0 else weights
        events = rng.choice(EVENTS, n_rows, p=weights / weights.sum())
        customers = rng.integers(0, n_customers, n_rows)
        offsets = rng.integers(0, span_days * DAY_NS + 1, n_rows)
    n = events.size
    values = np.round(rng.gamma(2.0, 20.0, n), 2)
    value_kind = draw(st.sampled_from(["plain", "zeros", "huge", "missing", "negative", "none"]))
    if value_kind == "zeros":
        values[rng.random(n) < 0.5] = 0.0
    elif value_kind == "huge":
        values[rng.random(n) < 0.2] = 1e12
    elif value_kind == "missing":
        values[rng.random(n) < 0.3] = np.nan
    elif value_kind == "negative":
        values[rng.integers(0, n)] = -5.0
    frame = pd.DataFrame(
        {
            "customer_id": customers.astype(str),
            "timestamp": BASE + offsets.astype("timedelta64[ns]"),
            "event": events,
            "channel": rng.choice(["social", "search", "email"], n),
        }
    )
    if draw(st.booleans()):  # numeric times: days since some origin, maybe far from 0
        frame["timestamp"] = offsets / DAY_NS + draw(st.sampled_from([0.0, -1e4, 1e9]))
    if value_kind != "none":
        frame["value"] = values
    damage = draw(st.sampled_from(["none", "none", "ids", "times", "events", "channel"]))
    row = int(rng.integers(0, n))
    if damage == "ids":
        frame["customer_id"] = frame["customer_id"].astype(object)
        frame.loc[row, "customer_id"] = None
    elif damage == "times":
        frame.loc[row, "timestamp"] = None
    elif damage == "events":
        frame.loc[row, "event"] = None
    elif damage == "channel":
        frame.loc[rng.random(n) < 0.5, "channel"] = None
    return frame, value_kind != "none"


def _journeys(
    rng: np.random.Generator, n_customers: int, n_rows: int, span_days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    customers, events, offsets = [], [], []
    for c in range(n_customers):
        t = int(rng.integers(0, span_days * DAY_NS + 1))
        path = ["touch", *(["visit"] if rng.random() < 0.6 else [])]
        path += ["join"] if rng.random() < 0.4 else []
        path += ["purchase"] * int(rng.poisson(2.5))
        for event in path:
            customers.append(c)
            events.append(event)
            offsets.append(t)
            t += int(rng.exponential(max(span_days, 1) / 8) * DAY_NS)
    keep = slice(0, n_rows)
    return np.array(customers)[keep], np.array(events, dtype=str)[keep], np.array(offsets)[keep]


def non_finite(doc: Any, path: str = "$") -> Iterator[str]:
    """Paths of the NaN and infinite numbers in a parsed JSON document."""
    if isinstance(doc, float) and not math.isfinite(doc):
        yield path
    elif isinstance(doc, dict):
        for key, value in doc.items():
            yield from non_finite(value, f"{path}.{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from non_finite(value, f"{path}[{i}]")


def assert_finite(result: Any) -> None:
    doc = json.loads(result.to_json())
    bad = list(non_finite(doc))
    assert not bad, f"{type(result).__name__}: non-finite numbers at {bad[:5]}"
    assert type(result).from_json(result.to_json()) == result


def assert_scored(scores: dict[str, np.ndarray]) -> None:
    """Buyers, and non-buyers in a stage, have finite numbers and probabilities in [0, 1];
    a non-buyer who reached no stage has none (NaN, as documented)."""
    buyer = np.array([g is not None for g in scores["group"]], dtype=bool)
    waiting = ~buyer & (scores["stage"] != "(none)")
    outside = ~buyer & ~waiting
    for name in ("expected_purchases", "expected_value"):
        assert np.isfinite(scores[name][buyer | waiting]).all(), name
        assert np.isnan(scores[name][outside]).all(), name
    for name, rows in (("probability_alive", buyer), ("probability_first_purchase", waiting)):
        scored = scores[name][rows]
        assert np.isfinite(scored).all() and ((scored >= 0) & (scored <= 1)).all(), name


def step(fn: Callable[[], Any]) -> Any:
    """``fn()``, or None when it raises a FunnelkitError that says what is wrong."""
    error: FunnelkitError | None = None
    try:
        with warnings.catch_warnings():
            # funnelkit's own warnings say what is not estimable; numpy's would be leaks
            warnings.simplefilter("ignore", fk.StatisticalWarning)
            warnings.simplefilter("ignore", fk.ConvergenceWarning)
            warnings.simplefilter("error", RuntimeWarning)
            return fn()
    except FunnelkitError as exc:
        error = exc
    message = " ".join(str(error).split())
    assert len(message) >= 20, f"{type(error).__name__} without a clear message: {message!r}"
    return None


def run_pipeline(frame: pd.DataFrame, has_values: bool) -> None:
    value_col = "value" if has_values else None
    log = step(
        lambda: fk.EventLog.from_frame(frame, value_col=value_col, attribute_cols=["channel"])
    )
    if log is None:
        return
    funnel = fk.Funnel.community()
    journeys = funnel.journeys(log)
    conversion = step(lambda: fk.ConversionFitter().fit(journeys))
    if conversion is not None:
        assert_finite(conversion.conversion_summary())
    markov = step(lambda: fk.StageMarkovFitter().fit(journeys))
    if markov is not None:
        forecast = step(lambda: markov.forecast(journeys, horizon=30, n_points=5, n_draws=5))
        if forecast is not None:
            assert_finite(forecast)
    model = step(lambda: fk.LifecycleModel(n_bootstrap=2, n_grid=20).fit(log, funnel))
    if model is not None:
        assert_finite(model.stage_values())
        advance = step(lambda: model.value_of_advancing("visitor", "member"))
        if advance is not None:
            assert_finite(advance)
        scores = step(model.score)
        if scores is not None:
            assert_scored(scores)
    rep = step(lambda: fk.report(log, n_bootstrap=2, n_grid=20))
    if rep is not None:
        assert_finite(rep)


FAST = settings(
    max_examples=100,
    database=None,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@given(event_frames())
@FAST
def test_pipeline_gives_finite_results_or_a_clear_error(data: tuple[pd.DataFrame, bool]) -> None:
    run_pipeline(*data)


@pytest.mark.slow
@given(event_frames())
@settings(FAST, max_examples=600, derandomize=False)
def test_pipeline_gives_finite_results_or_a_clear_error_many(
    data: tuple[pd.DataFrame, bool],
) -> None:
    run_pipeline(*data)


BAD_SEEDS = st.one_of(
    st.integers(max_value=-1),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.integers(0, 5), max_size=2),
)


@functools.cache
def small_community() -> tuple[fk.EventLog, fk.Journeys, fk.StageMarkovFitter]:
    from funnelkit.datasets import simulate_community

    sim = simulate_community(300, seed=1)
    log = fk.EventLog.from_frame(sim.events, value_col="value")
    journeys = fk.Funnel.community().journeys(log)
    return log, journeys, fk.StageMarkovFitter().fit(journeys)


@given(BAD_SEEDS)
@settings(max_examples=20, database=None, deadline=None, derandomize=DERANDOMIZE)
def test_a_bad_seed_is_named_wherever_it_is_accepted(seed: Any) -> None:
    log, journeys, markov = small_community()
    with pytest.raises(FunnelkitError) as forecast_error:
        markov.forecast(journeys, horizon=10, seed=seed)
    assert str(forecast_error.value) == (
        "The 'seed' parameter of StageMarkovFitter.forecast must be an int >= 0 or None "
        f"(or a numpy Generator). Got {seed!r} instead."
    )
    with pytest.raises(FunnelkitError) as model_error:
        fk.LifecycleModel(random_state=seed).fit(log)
    assert str(model_error.value) == (
        f"The 'seed' parameter of LifecycleModel must be an int >= 0 or None. Got {seed!r} instead."
    )
    with pytest.raises(FunnelkitError) as report_error:
        fk.report(log, random_state=seed)
    assert str(report_error.value) == (
        f"The 'random_state' parameter of report must be an int >= 0 or None. Got {seed!r} instead."
    )


def test_good_seeds_are_accepted_and_reproducible() -> None:
    _, journeys, markov = small_community()
    by_int = markov.forecast(journeys, horizon=10, n_draws=5, seed=np.int64(3))
    by_generator = markov.forecast(journeys, horizon=10, n_draws=5, seed=np.random.default_rng(3))
    assert by_int == by_generator
    assert markov.forecast(journeys, horizon=10, n_draws=5, seed=None).reached == by_int.reached


def test_report_names_an_unknown_setting_and_a_wrong_funnel() -> None:
    log, _, _ = small_community()
    unknown = (
        r"^report got unknown setting\(s\) \['horizn'\]\. Did you mean 'horizon'\? Its "
        r"settings are those of LifecycleModel: \['horizon', 'time_unit', "
    )
    with pytest.raises(FunnelkitError, match=unknown):
        fk.report(log, horizn=3)
    funnel = (
        r"^The 'funnel' parameter of report must be a Funnel or None\. Got 'community' "
        r"instead; e\.g\. Funnel\.community\(\)"
    )
    with pytest.raises(FunnelkitError, match=funnel):
        fk.report(log, "community")  # type: ignore[arg-type]
    by = r"^The 'by' parameter of report must be an attribute name or None\. Got 3 instead\.$"
    with pytest.raises(FunnelkitError, match=by):
        fk.report(log, by=3)  # type: ignore[arg-type]
