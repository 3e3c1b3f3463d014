"""Every public object has a face in Jupyter and an informative repr.

Every class in ``funnelkit.__all__`` and the subpackages' ``__all__`` is either built here
(fitted and unfitted where it is an estimator; results are collected from real fits, nested
parts included) or listed in ``NO_FACE`` with the reason it needs none. A new public class
fails ``test_every_public_class_is_covered`` until it is one or the other.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

import funnelkit as fk
from funnelkit._estimator import Estimator
from funnelkit.datasets import (
    load_example_events,
    simulate_bgbb,
    simulate_contract_lifetimes,
    simulate_spend,
)

PACKAGES = ["aggregate", "clv", "conversion", "datasets", "dynamics", "ingest", "lifecycle"]
PACKAGES += ["report"]

#: public classes that are not objects a notebook shows, or have no instance of their own
NO_FACE = {
    "ConvergenceError": "an exception",
    "ConvergenceWarning": "a warning",
    "DataError": "an exception",
    "FunnelkitError": "an exception",
    "NotFittedError": "an exception",
    "SpecError": "an exception",
    "StatisticalWarning": "a warning",
    "UnreadableFileError": "an exception",
    "TimeUnit": "an enum: its repr <TimeUnit.DAY: 'day'> is the face",
    "MLEFitter": "an abstract base class; every concrete fitter is built here",
    # data containers of the simulators: their frames and arrays are what one looks at
    "SimulatedChain": "a container of simulated arrays",
    "SimulatedCovariateJourneys": "a container of simulated arrays",
    "SimulatedCommunity": "a container of a simulated events frame",
    "SimulatedCovariateRFM": "a container of simulated arrays",
    "SimulatedLifetimes": "a container of simulated arrays",
    "SimulatedRFM": "a container of simulated arrays",
    "SimulatedSpend": "a container of simulated arrays",
    "SimulatedTransitions": "a container of simulated arrays",
    # the ingestion machinery: internal plumbing that is public for the lazy engines
    "ColumnSpec": "ingestion plumbing",
    "Source": "ingestion plumbing",
    "TimeAxis": "ingestion plumbing",
    # parts of a Stage Markov result, shown as rows of their result's table
    "TransitionFit": "a row of StageMarkovResult's table",
    "StageIntensities": "the stored intensities of StageMarkovResult",
    "ForecastBand": "a band of StageForecast's table",
}

#: ``nan``/``None``/``inf`` where a number belongs: in a cell, or after ``=`` or ``:``
NOT_A_NUMBER = re.compile(r"(>|=|:\s?)\s*-?(nan|NaN|None|inf|Infinity)\b")


def _public_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module_name in ["funnelkit", *(f"funnelkit.{p}" for p in PACKAGES)]:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value):
                found[name] = value
    return found


def _walk(value: Any, seen: set[int]) -> Iterator[Any]:
    """``value`` and every pydantic model nested in its fields, lists and mappings."""
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, BaseModel):
        yield value
        for field in type(value).model_fields:
            yield from _walk(getattr(value, field), seen)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item, seen)


@pytest.fixture(scope="module")
def objects() -> dict[str, list[Any]]:
    """Class name -> instances of it (unfitted and fitted), from small seeded fits."""
    warnings.simplefilter("ignore")  # fragile-statistics warnings on small data are expected
    events = load_example_events()
    log = fk.EventLog.from_frame(events, value_col="value", attribute_cols=["channel"])
    funnel = fk.Funnel.community()
    journeys = funnel.journeys(log)
    rfm = log.rfm(time_unit="W")
    holdout = log.rfm(time_unit="W", calibration_end="2024-09-01")
    rng = np.random.default_rng(0)
    spend = simulate_spend(rng.poisson(2.0, 300).astype(float), p=6, q=4, v=15, seed=0)
    contract = simulate_contract_lifetimes(300, alpha=0.7, beta=1.2, observed_periods=8, seed=0)
    varying = fk.datasets.simulate_time_varying_pareto_nbd(200, seed=0)

    conversion = fk.ConversionFitter().fit(journeys, by="channel")
    markov = fk.StageMarkovFitter().fit(journeys)
    lifecycle = fk.LifecycleModel(n_resamples=3, n_grid=50).fit(log, funnel)
    bgf = fk.BetaGeoFitter().fit(rfm)
    world = fk.datasets.simulate_bgnbd_covariates(
        400, T=52.0, coefficients={"purchase": {"member[True]": 0.5}}, seed=0
    )
    with_covariates = fk.ParetoNBDFitter().fit(world.rfm, covariates=world.covariates)
    fitted: list[Any] = [
        with_covariates,
        log,
        funnel,
        journeys,
        rfm,
        conversion,
        markov,
        lifecycle,
        bgf,
        fk.ModifiedBetaGeoFitter().fit(rfm),
        fk.ParetoNBDFitter().fit(rfm),
        fk.BetaGeoBetaBinomFitter().fit(simulate_bgbb(300, n_periods=6, seed=0).rfm),
        fk.GammaGammaFitter().fit(
            {"frequency": spend.frequency, "monetary_value": spend.monetary_value}
        ),
        fk.ShiftedBetaGeoFitter().fit(
            {"duration": contract.durations, "churned": contract.churned}
        ),
        fk.clv.TimeVaryingParetoNBDFitter(dropout_covariates=()).fit(
            varying.events, covariates=varying.covariates, calibration_end=varying.calibration_end
        ),
    ]
    unfitted = [
        cls()
        for cls in _public_classes().values()
        if issubclass(cls, Estimator) and not inspect.isabstract(cls)
    ]
    results: list[Any] = [
        with_covariates.covariate_test_,
        conversion.result_,
        conversion.conversion_summary(),
        conversion.segment_comparison(),
        markov.result_,
        markov.forecast(journeys, horizon=30),
        markov.reach("member"),
        conversion.estimate("visitor", "member").rate_within(30),
        lifecycle.fit_,
        lifecycle.value_of_advancing("visitor", "member"),
        lifecycle.segment_values(by="channel"),
        lifecycle.membership_uplift(),
        lifecycle.covariate_comparison(),
        fk.clv.holdout_comparison(fk.BetaGeoFitter().fit(holdout), holdout),
        fk.clv.frequency_histogram(bgf, rfm),
        fk.clv.cumulative_transactions(bgf, log, calibration_end="2024-09-01"),
        fk.report(log, n_resamples=3),
        fk.datasets.CommunityParams(),
        fk.datasets.TransitionParams(),
        fk.datasets.GammaGammaParams(p=6.0, q=4.0, v=15.0),
        fk.datasets.ShiftedBetaGeoParams(alpha=0.7, beta=1.2),
        fk.datasets.MixtureDelaySpec(weight=0.6, scale=0.1, shape=0.5, scale_2=10, shape_2=0.8),
        fk.Exclusion(event="refund", after="member", before="repeat_buyer"),
        # covariate fits: their coefficient tables, encodings and adjusted comparisons
        fk.ConversionFitter().fit(journeys, covariates=["channel"]).result_,
        fk.ConversionFitter().fit(journeys, covariates=["channel"]).covariates_.effects()[0],
        fk.StageMarkovFitter(delays="exponential").fit(journeys, covariates=["channel"]).result_,
    ]
    seen: set[int] = set()
    for result in results:
        fitted.extend(_walk(result, seen))
    # an unfitted estimator is keyed "Name()", a fitted one (and everything else) "Name"
    out: dict[str, list[Any]] = {f"{type(e).__name__}()": [e] for e in unfitted}
    for obj in fitted:
        out.setdefault(type(obj).__name__, []).append(obj)
    return out


CLASSES = _public_classes()
SHOWN = sorted(n for n in CLASSES if n not in NO_FACE)
UNFITTED = sorted(
    f"{n}()" for n, c in CLASSES.items() if issubclass(c, Estimator) and not inspect.isabstract(c)
)
HTML_CASES = UNFITTED + SHOWN


def test_every_public_class_is_covered(objects: dict[str, list[Any]]) -> None:
    missing = [n for n in SHOWN + UNFITTED if n not in objects]
    assert missing == [], f"build an instance of {missing} here, or list it in NO_FACE"
    stale = [n for n in NO_FACE if n not in CLASSES]
    assert stale == [], f"NO_FACE lists names that are no longer public: {stale}"


@pytest.mark.parametrize("name", HTML_CASES)
def test_html_repr_is_a_table_without_missing_numbers(
    name: str, objects: dict[str, list[Any]]
) -> None:
    for obj in objects.get(name, []):
        html = obj._repr_html_()
        assert isinstance(html, str)
        assert html.startswith("<") and len(html) > 30, html[:200]
        assert NOT_A_NUMBER.findall(html) == [], (name, NOT_A_NUMBER.findall(html), html[:500])


@pytest.mark.parametrize("name", UNFITTED + SHOWN)
def test_repr_names_the_class_and_what_it_holds(name: str, objects: dict[str, list[Any]]) -> None:
    for obj in objects.get(name, []):
        text = repr(obj)
        if name.endswith("()"):  # unfitted: the settings, as code that rebuilds it
            assert text.startswith(name[:-1]) and not obj.is_fitted, text
            assert eval(text, vars(fk) | vars(fk.clv)).get_params() == obj.get_params()
        else:  # more than the bare class name: settings, fitted state, counts or fields
            assert name in text and len(text) > len(name) + 2, text[:200]


ESTIMATORS = ["ConversionFitter", "StageMarkovFitter", "LifecycleModel"]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_fitted_estimator_repr_shows_the_fit(name: str, objects: dict[str, list[Any]]) -> None:
    unfitted, fitted = objects[f"{name}()"][0], objects[name][0]
    assert not unfitted.is_fitted and fitted.is_fitted
    assert repr(unfitted) == f"{name}()"
    assert re.fullmatch(rf"<{name}\(.*\) fitted on [\d,]+ (journeys|customers).*>", repr(fitted))
    assert f"{name} (not fitted)" in unfitted._repr_html_()


def test_conversion_fitter_repr_states_the_eventual_rates(objects: dict[str, list[Any]]) -> None:
    fitted: Any = objects["ConversionFitter"][0]
    rates = {
        (e.source, e.target): e.eventual_rate for e in fitted.result_.estimates if e.segment is None
    }
    expected = ", ".join(f"{s}->{t} {r:.1%}" for (s, t), r in rates.items())
    assert repr(fitted) == (
        f"<ConversionFitter() fitted on 2,000 journeys by channel: eventual rates {expected}>"
    )


def test_lifecycle_model_repr_states_the_stage_values(objects: dict[str, list[Any]]) -> None:
    fitted: Any = objects["LifecycleModel"][0]
    values = fitted.stage_values()
    shown = ", ".join(f"{k} {v.value:,.2f}" for k, v in values.items())
    assert repr(fitted) == (
        "<LifecycleModel(n_resamples=3, n_grid=50) fitted on 2,000 customers: stage values "
        f"{shown}>"
    )
    assert fitted._repr_html_() == values.as_html()


def test_gamma_gamma_repr_says_it_has_no_time_unit(objects: dict[str, list[Any]]) -> None:
    fitted: Any = objects["GammaGammaFitter"][0]
    assert "time unit: none (spend model)" in fitted.result_.as_text()
    assert "not estimable" not in fitted.result_.as_text().split("time unit:")[1].split("\n")[0]


def test_event_log_html_counts_each_event_type(objects: dict[str, list[Any]]) -> None:
    log: Any = objects["EventLog"][0]
    html = log._repr_html_()
    for name in log.event_types:
        count = int(np.sum(log.event_codes == log.event_types.index(name)))
        assert f"<th>{name}</th><td>{count:,}</td>" in html
    assert f"<th>customers</th><td>{log.n_customers:,}</td>" in html


def test_funnel_html_lists_its_stages(objects: dict[str, list[Any]]) -> None:
    funnel: Any = objects["Funnel"][0]
    html = funnel._repr_html_()
    assert "<caption>Funnel (ordered): 4 stages</caption>" in html
    assert "<tr><td>repeat_buyer</td><td>purchase</td><td>2</td></tr>" in html


def test_numeric_event_log_html_shows_its_time_range() -> None:
    frame = {"customer_id": ["a", "b"], "timestamp": [1.5, 3.0], "event": ["visit", "join"]}
    log = fk.EventLog.from_frame(pytest.importorskip("pandas").DataFrame(frame))
    html = log._repr_html_()
    assert "<th>time range</th><td>1.5 to 3.0</td>" in html
    assert "<th>values</th><td>no value column</td>" in html
    assert repr(log) == "<EventLog: 2 events, 2 customers, 2 event types, numeric (days) times>"
