"""The report always finishes: missing stage events, failed fits and sections are stated."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from _finite import non_finite_json, non_finite_tokens

from funnelkit import EventLog
from funnelkit.datasets import simulate_community
from funnelkit.exceptions import DataError
from funnelkit.lifecycle import LifecycleModel, model as model_module, segments, uplift
from funnelkit.report import LifecycleReport, report

XHTML = "{http://www.w3.org/1999/xhtml}"


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate_community(2_000, seed=5)


@pytest.fixture(scope="module")
def log(sim: Any) -> EventLog:
    return EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])


def _section_text(page: str, section: str) -> str:
    root = ET.fromstring(page.split("\n", 1)[1])
    for el in root.iter(f"{XHTML}section"):
        if el.get("id") == section:
            return " ".join(" ".join(el.itertext()).split())
    raise AssertionError(f"no section {section!r}")


def test_a_log_of_purchases_only_gives_the_purchase_part_of_the_report(sim: Any) -> None:
    purchases = sim.events[sim.events["event"] == "purchase"]
    log = EventLog.from_frame(purchases, value_col="value", attribute_cols=["channel"])
    rep = report(log, observation_end=sim.observation_end, n_bootstrap=12)
    assert rep.stage_counts == {"prospect": 0, "visitor": 0, "member": 0, "repeat_buyer": 0}
    assert rep.data.event_counts == {"purchase": len(purchases)}
    assert rep.data_quality[0] == (
        "the log has no events of the funnel stage(s) prospect ('touch'), visitor ('visit'), "
        "member ('join'); its event types are ['purchase']. Those stages stay empty: only what "
        "the purchases tell (purchase and spend models, value of a new buyer) is measured. "
        "Rename the events, or pass a funnel whose stages use the log's event names "
        "(--funnel FILE on the command line)"
    )
    assert rep.curves == () and rep.first_purchase is None and rep.unavailable == {}
    assert [c.group for c in rep.clv] == ["all buyers"]
    assert rep.clv[0].n_buyers == rep.data.n_buyers == purchases["customer_id"].nunique()
    buyer = rep.stage_values.buyer_values["all buyers"]
    assert buyer.value is not None and buyer.value > 0 and buyer.ci is not None
    assert all(v.value is None for v in rep.stage_values.values())
    assert LifecycleReport.from_json(rep.to_json()) == rep
    page = rep.to_html()
    assert "value of a new buyer (all buyers)" in _section_text(page, "summary")
    assert "No stage of the funnel was entered" in _section_text(page, "conversion")
    assert "Nobody entered a stage" in _section_text(page, "first-purchase")


def test_a_hand_made_purchase_log_without_stage_events() -> None:
    days = pd.to_datetime(["2024-01-03", "2024-02-10", "2024-03-01", "2024-01-20"])
    rows = []
    for c in range(60):
        for k in range(1 + c % 4):
            rows.append((f"c{c}", days[k] + pd.Timedelta(days=c), "purchase", 10.0 + c % 7))
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event", "value"])
    rep = report(EventLog.from_frame(frame, value_col="value"), n_bootstrap=0)
    assert rep.data.n_buyers == 60 and rep.channels is None
    assert rep.data_quality[0].startswith("the log has no events of the funnel stage(s)")
    assert rep.stage_values.buyer_values["all buyers"].value is not None


def _failing_on(calls: set[int], exc: BaseException, real: Callable[..., Any]) -> Any:
    count = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        count["n"] += 1
        if count["n"] in calls:
            raise exc
        return real(*args, **kwargs)

    return wrapper


def test_a_bootstrap_sample_that_overflows_is_counted_in_the_notes(
    sim: Any, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = model_module.fit_components
    # call 1 is the full-data fit, call 2 the first bootstrap sample
    monkeypatch.setattr(
        model_module, "fit_components", _failing_on({2}, OverflowError("math range error"), real)
    )
    rep = report(log, observation_end=sim.observation_end, n_bootstrap=12, by=None)
    note = (
        "1 of 12 bootstrap samples could not be fitted (OverflowError: math range error) and "
        "were left out of the intervals"
    )
    assert note in rep.stage_values.notes and note in rep.data_quality
    assert rep.stage_values.n_bootstrap == 11
    assert rep.stage_values["prospect"].ci is not None
    # the page says the same in plain words: what the failure means for the intervals
    assert (
        "1 of the 12 resamples of the customers used for the intervals could not be refitted "
        "(OverflowError: math range error). The intervals come from the other 11. The "
        "resamples that fail are those that drew the fewest repeat buyers, so these intervals "
        "may be slightly too narrow; the estimates themselves are not affected."
    ) in _section_text(rep.to_html(), "data-quality")


def test_a_section_that_fails_becomes_a_note_in_that_section(
    sim: Any, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("math range error")

    # the report computes the channel table with this function (other sections meanwhile)
    monkeypatch.setattr(segments, "segment_values", overflow)
    rep = report(log, observation_end=sim.observation_end, n_bootstrap=0)
    assert rep.channels is None
    assert rep.unavailable == {"channels": "OverflowError: math range error"}
    assert "Value by channel: could not be computed: OverflowError: math range error" in (
        rep.data_quality
    )
    assert rep.uplift is not None  # the other sections are still there
    assert _section_text(rep.to_html(), "channels") == (
        "Value by channel Could not be computed: OverflowError: math range error."
    )
    assert LifecycleReport.from_json(rep.to_json()) == rep


def test_a_programming_error_in_a_section_is_not_hidden(
    sim: Any, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(segments, "segment_values", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        report(log, observation_end=sim.observation_end, n_bootstrap=0)


@pytest.mark.slow  # 2 x (100 bootstrap samples, refitted per channel too)
def test_default_arguments_give_the_same_report() -> None:
    small = simulate_community(800, seed=6)
    log = EventLog.from_frame(small.events, value_col="value", attribute_cols=["channel"])

    def run() -> dict[str, Any]:
        doc = json.loads(report(log, observation_end=small.observation_end).to_json())
        doc.pop("seconds")  # how long each step took: the only thing that may differ
        return doc

    first, second = run(), run()
    assert first == second
    assert first["settings"]["seed"] == 0
    assert first["settings"]["n_resamples"] == 100
    assert first["stage_values"]["stages"]["prospect"]["ci"] is not None


def test_the_seed_is_recorded_and_can_be_changed(sim: Any, log: EventLog) -> None:
    rep = report(log, observation_end=sim.observation_end, n_bootstrap=10, random_state=4)
    assert rep.settings.random_state == 4
    assert "seed 4" in _section_text(rep.to_html(), "method")
    drawn = report(log, observation_end=sim.observation_end, n_bootstrap=10, random_state=None)
    assert isinstance(drawn.settings.random_state, int)
    again = report(
        log,
        observation_end=sim.observation_end,
        n_bootstrap=10,
        random_state=drawn.settings.random_state,
    )
    assert again.stage_values == drawn.stage_values


SMALL_SEED = 1  # 200 prospects, 15 repeat buyers: fewer than the 20 a purchase model needs
TOO_FEW = (
    "The all buyers purchase model cannot be fitted: not enough data: 15 repeat buyers, need 20"
)


@pytest.fixture(scope="module")
def small() -> tuple[Any, EventLog]:
    sim = simulate_community(200, seed=SMALL_SEED)
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    rfm = log.rfm(time_unit="D", observation_end=sim.observation_end)
    assert int((rfm.frequency > 0).sum()) == 15
    return sim, log


def test_too_few_repeat_buyers_still_raise_in_the_model(small: tuple[Any, EventLog]) -> None:
    sim, log = small
    with pytest.raises(DataError, match=re.escape(TOO_FEW)) as caught:
        LifecycleModel(n_bootstrap=0).fit(log, observation_end=sim.observation_end)
    # what would help, which the report's note and the bootstrap's notes leave out
    assert ". Things to try: 1. more customers, or a longer observation window" in str(caught.value)


def test_too_few_repeat_buyers_give_the_measured_part_of_the_report(
    small: tuple[Any, EventLog],
) -> None:
    sim, log = small
    rep = report(log, observation_end=sim.observation_end, n_bootstrap=5)
    assert rep.unavailable == dict.fromkeys(("stage-values", "clv", "channels", "uplift"), TOO_FEW)
    assert rep.stage_values is None and rep.advancing == () and rep.clv == ()
    assert rep.channels is None and rep.uplift is None and rep.value_distribution == ()
    assert rep.data_quality[-1] == (
        "Lifetime-value models, What each stage is worth, Value by channel, Members vs "
        f"non-members: could not be computed: {TOO_FEW}"
    )
    assert rep.stage_counts == {"prospect": 200, "visitor": 57, "member": 24, "repeat_buyer": 14}
    assert rep.data.n_buyers == 24 and rep.settings.random_state == 0
    assert rep.transitions is not None and rep.first_purchase is not None
    rows = [*rep.transitions.rows, *rep.first_purchase.rows]
    assert [(r.source, r.target) for r in rep.transitions.rows] == [
        ("prospect", "visitor"),
        ("visitor", "member"),
        ("member", "repeat_buyer"),
    ]
    assert [(r.n_entered, r.n_converted) for r in rep.transitions.rows] == [
        (200, 57),
        (57, 24),
        (24, 14),
    ]
    for r in rows:
        assert r.naive_rate is not None and math.isfinite(r.naive_rate)
        assert r.eventual_rate is not None and math.isfinite(r.eventual_rate)
    assert len(rep.curves) == 3 and len(rep.first_purchase_curves) == len(rep.first_purchase.rows)
    text = rep.to_json()
    assert non_finite_json(text) == []
    assert LifecycleReport.from_json(text) == rep
    page = rep.to_html()
    assert LifecycleReport.from_json(text).to_html() == page
    assert "Traceback" not in page
    visible = re.sub(r"<style.*?</style>|<[^>]+>", " ", page, flags=re.S)
    assert non_finite_tokens(visible) == []
    headings = {"stage-values": "What each stage is worth", "clv": "Lifetime-value models",
                "channels": "Value by channel", "uplift": "Members vs non-members"}  # fmt: skip
    for key, heading in headings.items():
        assert _section_text(page, key) == f"{heading} Could not be computed: {TOO_FEW}."
    assert "28.5% of prospect" in _section_text(page, "funnel")
    assert "Prospect → visitor" in _section_text(page, "conversion")  # display names
    assert "Stage → first purchase" in _section_text(page, "first-purchase")
    assert f"Stage values: could not be computed: {TOO_FEW}" in rep.as_text()


def test_a_report_json_without_the_value_fields_still_loads(small: tuple[Any, EventLog]) -> None:
    sim, log = small
    rep = report(log, observation_end=sim.observation_end, n_bootstrap=0)
    data = json.loads(rep.to_json())
    optional = ("clv", "value_distribution", "stage_values", "advancing", "channels", "uplift")
    for key in (*optional, "unavailable"):
        del data[key]
    loaded = LifecycleReport.from_json(json.dumps(data))
    assert loaded == rep.model_copy(update={"unavailable": {}})
    assert "Traceback" not in loaded.to_html()


def _without_seconds(rep: LifecycleReport) -> dict[str, Any]:
    doc = json.loads(rep.to_json())
    doc.pop("seconds")  # how long each step took: the only thing that may differ
    return doc


def test_sections_fitted_beside_the_channel_samples_give_the_same_report(
    sim: Any, log: EventLog
) -> None:
    # with two processes the uplifts and the adjusted comparison are computed while the
    # workers fit the channel samples
    settings = {"observation_end": sim.observation_end, "n_resamples": 4, "seed": 2}
    pooled = report(log, n_jobs=2, **settings)
    here = report(log, n_jobs=1, **settings)
    assert pooled.uplift is not None and pooled.join_uplift is not None
    assert pooled.covariates is not None
    assert _without_seconds(pooled) == _without_seconds(here)
    assert {
        "membership uplift",
        "membership uplift from the join",
        "channel and membership, adjusted",
    } <= set(pooled.seconds)


def test_sections_that_fail_beside_the_channel_samples_keep_their_order(
    sim: Any, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("math range error")

    def zero_division(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(uplift, "membership_uplift", overflow)
    monkeypatch.setattr(segments, "segment_values", zero_division)
    rep = report(log, observation_end=sim.observation_end, n_resamples=0)
    assert rep.uplift is None and rep.join_uplift is None and rep.channels is None
    # in the order of the sections on the page, as when they ran one after the other
    assert rep.unavailable == {
        "channels": "ZeroDivisionError: float division by zero",
        "uplift": "OverflowError: math range error",
    }
    assert list(rep.unavailable) == ["channels", "uplift"]


def test_a_stage_conversion_that_fails_beside_the_channel_samples_stays_first(
    sim: Any, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from funnelkit.conversion import ConversionFitter
    from funnelkit.report import _build

    class Overflowing(ConversionFitter):
        def fit(self, journeys: Any, **kwargs: Any) -> Any:
            raise OverflowError("math range error")

    def zero_division(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("float division by zero")

    # the report's stage conversion only: the model and the channel table fit their own
    monkeypatch.setattr(_build, "ConversionFitter", Overflowing)
    monkeypatch.setattr(segments, "segment_values", zero_division)
    rep = report(log, observation_end=sim.observation_end, n_resamples=0)
    assert rep.transitions is None and rep.curves == ()
    assert rep.uplift is not None
    assert list(rep.unavailable.items()) == [
        ("conversion", "OverflowError: math range error"),
        ("channels", "ZeroDivisionError: float division by zero"),
    ]


def test_sections_forked_beside_the_channel_samples_fail_as_they_would_here(
    sim: Any, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def overflow(*args: Any, **kwargs: Any) -> Any:
        raise OverflowError("math range error")

    # n_jobs=2: the uplifts and the adjusted comparison run in forked processes of their own
    monkeypatch.setattr(uplift, "membership_uplift", overflow)
    settings = {"observation_end": sim.observation_end, "n_resamples": 4, "seed": 2}
    forked = report(log, n_jobs=2, **settings)
    here = report(log, n_jobs=1, **settings)
    assert forked.uplift is None and forked.join_uplift is None
    assert forked.covariates is not None and forked.channels is not None
    assert forked.unavailable == {"uplift": "OverflowError: math range error"}
    assert _without_seconds(forked) == _without_seconds(here)


def test_a_programming_error_in_a_forked_section_is_not_hidden(
    sim: Any, log: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr(LifecycleModel, "covariate_comparison", broken)
    with pytest.raises(TypeError, match="unsupported operand"):
        report(log, observation_end=sim.observation_end, n_resamples=4, n_jobs=2)
