"""A ConversionFitter saved to JSON and loaded back answers exactly like the original."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from funnelkit import FunnelkitError
from funnelkit._results import Interval
from funnelkit.conversion import (
    ConversionFitter,
    ConversionResult,
    ConversionSummary,
    TransitionEstimate,
)
from funnelkit.datasets.conversion import simulate_transitions


@pytest.fixture(scope="module")
def fitted():
    sim = simulate_transitions(1200, seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ConversionFitter(conf_level=0.9, pairs=[("visitor", "buyer")]).fit(
            sim.journeys, by="segment"
        )


def test_loaded_fitter_answers_like_the_fitted_one(fitted) -> None:
    text = fitted.to_json()
    loaded = ConversionFitter.from_json(text)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.result_ == fitted.result_ and loaded.to_json() == text
    assert (
        loaded.transitions_
        == fitted.transitions_
        == (
            ("visitor", "member"),
            ("member", "buyer"),
            ("visitor", "buyer"),
        )
    )
    assert loaded.segments_ == fitted.segments_ and loaded.by_ == "segment"
    assert loaded.n_customers_ == 1200 and loaded.time_unit_ == fitted.time_unit_
    for key, est in fitted.estimates_.items():
        again = loaded.estimate(*key)
        assert again == est
        assert again.rate_within(4.0) == est.rate_within(4.0)
        assert again.time_to_convert(0.3) == est.time_to_convert(0.3)
    assert loaded.segment_comparison() == fitted.segment_comparison()
    pd.testing.assert_frame_equal(loaded.summary(), fitted.summary())
    assert loaded.conversion_summary(segments=False) == fitted.conversion_summary(segments=False)


def test_summary_is_the_estimates_table(fitted) -> None:
    frame = fitted.summary()
    assert list(frame.columns[:7]) == [
        "source",
        "target",
        "segment",
        "estimate",
        "std_error",
        "lower",
        "upper",
    ]
    n_segments = len(fitted.segments_[("visitor", "member")])
    assert len(frame) == 3 * (1 + n_segments)
    assert len(fitted.summary(segments=False)) == 3
    est = fitted.estimate("visitor", "member")
    first = frame.iloc[0]
    assert (first["estimate"], first["std_error"], first["lower"], first["upper"]) == (
        est.eventual_rate,
        est.eventual_rate_std_error,
        *est.eventual_rate_ci,
    )
    assert (first["naive_rate_lower"], first["naive_rate_upper"]) == tuple(est.naive_rate_ci)
    assert fitted.result_.summary().equals(frame)
    assert fitted.conversion_summary().summary().equals(frame)


def test_intervals_carry_their_estimate_and_level(fitted) -> None:
    est = fitted.estimate("member", "buyer")
    for value, ci in (
        (est.naive_rate, est.naive_rate_ci),
        (est.eventual_rate, est.eventual_rate_ci),
        (est.median_time, est.median_time_ci),
    ):
        assert isinstance(ci, Interval)
        assert ci.estimate == value and ci.level == 0.9
        assert ci.contains(value)
    within = est.rate_within(3.0)
    assert within.rate_ci is not None and within.rate_ci.estimate == within.rate


def test_json_written_with_interval_pairs_still_loads(fitted) -> None:
    est = fitted.estimate("visitor", "member")
    doc = json.loads(est.to_json())
    for name in ("naive_rate_ci", "eventual_rate_ci", "median_time_ci", "km_plateau_rate_ci"):
        if doc[name] is not None:
            doc[name] = [doc[name]["lower"], doc[name]["upper"]]
    del doc["eventual_rate_std_error"]
    old = TransitionEstimate.model_validate_json(json.dumps(doc))
    assert old.eventual_rate_ci == est.eventual_rate_ci
    lo, hi = old.eventual_rate_ci
    assert (lo, hi) == tuple(est.eventual_rate_ci)
    assert old.eventual_rate_std_error is None
    summary = json.loads(fitted.conversion_summary().to_json())
    for row in summary["rows"]:
        row["eventual_rate_ci"] = [
            row["eventual_rate_ci"]["lower"],
            row["eventual_rate_ci"]["upper"],
        ]
    again = ConversionSummary.model_validate_json(json.dumps(summary))
    # a row does not store its level, so an old pair gets the bounds and the estimate
    for old_row, row in zip(again.rows, fitted.conversion_summary().rows, strict=True):
        assert old_row.eventual_rate_ci == tuple(row.eventual_rate_ci)
        assert old_row.eventual_rate_ci.estimate == row.eventual_rate


def test_result_estimate_errors_name_the_fix(fitted) -> None:
    result = ConversionResult.from_json(fitted.result_.to_json())
    with pytest.raises(FunnelkitError, match=r"ConversionFitter\(pairs=\[\(source, target\)\]\)"):
        result.estimate("member", "visitor")
    with pytest.raises(FunnelkitError, match="No segment 'nope'"):
        result.estimate("visitor", "member", "nope")
    with pytest.raises(FunnelkitError, match="not a saved ConversionFitter"):
        ConversionFitter.from_json(fitted.result_.to_json())


def test_a_transition_estimate_has_its_own_estimates_table(fitted) -> None:
    est = fitted.estimate("visitor", "member")
    frame = est.summary()
    assert frame["quantity"].tolist() == [
        "naive_rate",
        "eventual_rate",
        "km_plateau_rate",
        "time_q25",
        "time_q50",
        "time_q75",
        "time_q90",
    ]
    row = frame.set_index("quantity").loc["eventual_rate"]
    assert row.tolist() == [est.eventual_rate, est.eventual_rate_std_error, *est.eventual_rate_ci]
    median = frame.set_index("quantity").loc["time_q50"]
    assert median["estimate"] == est.median_time and median["std_error"] != median["std_error"]


def test_a_loaded_fitter_draws_the_same_plots(fitted) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    plt = pytest.importorskip("matplotlib.pyplot")
    loaded = ConversionFitter.from_json(fitted.to_json())
    try:
        for draw in (
            lambda m: m.plot_funnel(),
            lambda m: m.plot_conversion_curve("member", "buyer"),
        ):
            before, after = draw(fitted), draw(loaded)
            lines = [(a.get_xydata(), b.get_xydata()) for a, b in zip(
                before.get_lines(), after.get_lines(), strict=True)]  # fmt: skip
            assert lines
            for a, b in lines:
                np.testing.assert_array_equal(a, b)
    finally:
        plt.close("all")
