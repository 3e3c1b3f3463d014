"""The text report's value headers say what is true of the bootstrap behind their intervals."""

from __future__ import annotations

import pytest

import funnelkit as fk
from funnelkit.datasets import simulate_community
from funnelkit.report.text import interval_words

NEED = "an interval needs at least 10 fitted"


@pytest.mark.parametrize(
    ("drawn", "fitted", "said"),
    [
        (0, 0, "none (no bootstrap)"),  # the model's words: true
        (3, 3, f"none (3 bootstrap samples drawn; {NEED})"),
        (3, 2, f"none (3 bootstrap samples drawn, 2 fitted; {NEED})"),
        (12, 9, f"none (12 bootstrap samples drawn, 9 fitted; {NEED})"),
        (3, None, f"none (3 bootstrap samples drawn per segment; {NEED})"),
    ],
)
def test_too_few_fitted_samples_are_counted(drawn: int, fitted: int | None, said: str) -> None:
    assert interval_words(drawn, fitted, "none (no bootstrap)") == said


@pytest.mark.parametrize(("drawn", "fitted"), [(30, 30), (30, 12), (30, 10), (12, None)])
def test_shown_intervals_keep_the_models_words(drawn: int, fitted: int | None) -> None:
    method = "percentile bootstrap over customers (30 samples)"
    assert interval_words(drawn, fitted, method) == method


def test_more_than_half_failed_keeps_not_estimable() -> None:
    method = "not estimable: 4 of 6 bootstrap samples could not be fitted (more than half)"
    assert interval_words(6, 2, method) == method


def test_text_report_with_three_samples_does_not_say_no_bootstrap() -> None:
    sim = simulate_community(1_500, seed=12)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=3, seed=0, n_jobs=1)
    assert rep.stage_values is not None and rep.stage_values.interval_method == (
        f"none (3 bootstrap samples drawn; {NEED})"
    )  # the stored result says what happened too, so the HTML page agrees
    text = rep.as_text()
    assert "no bootstrap" not in text
    assert (
        f"Stage values (horizon 12 months, discount 0 per month, values in money; 95% "
        f"intervals: none (3 bootstrap samples drawn; {NEED}))" in text
    )
    assert f"95% intervals: none (3 bootstrap samples drawn per segment; {NEED}))" in text
    assert text.count(f"intervals: none (3 bootstrap samples drawn; {NEED}))") == 2
