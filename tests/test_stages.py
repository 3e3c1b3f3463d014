"""Typed specs: stages, funnels and time units validate and round-trip."""

from __future__ import annotations

import pytest

from funnelkit import Funnel, FunnelkitError, Stage, TimeUnit
from funnelkit.exceptions import SpecError
from funnelkit.units import convert_duration


def test_contract_construction() -> None:
    funnel = Funnel(
        stages=[
            Stage(name="prospect", events=["touch"]),
            Stage(name="visitor", events=["visit"]),
            Stage(name="member", events=["join"]),
            Stage(name="repeat_buyer", events=["purchase"], min_count=2),
        ],
        order="ordered",
    )
    assert funnel == Funnel.community()
    assert Funnel.model_validate_json(funnel.model_dump_json()) == funnel
    assert funnel.index("member") == 2
    assert funnel.event_types == ("touch", "visit", "join", "purchase")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stages": []}, "at least 1"),
        ({"stages": [Stage(name="a", events=["x"]), Stage(name="a", events=["y"])]}, "unique"),
        ({"stages": [Stage(name="a", events=["x"])], "order": "sometimes"}, "ordered"),
        ({"stages": [Stage(name="a", events=["x"])], "extra": 1}, "Extra inputs"),
    ],
)
def test_funnel_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Funnel(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "a", "events": ["x"], "min_count": 0}, "greater than or equal to 1"),
        ({"name": "", "events": ["x"]}, "at least 1 character"),
        ({"name": "a", "events": []}, "at least 1 item"),
        ({"name": "a", "events": ["x", "x"]}, "repeated"),
    ],
)
def test_stage_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        Stage(**kwargs)


def test_spec_errors_list_every_problem_and_the_fix() -> None:
    with pytest.raises(SpecError) as info:
        Funnel(stages=[Stage(name="a", events=["x"]), Stage(name="a", events=["y"])])
    assert str(info.value) == (
        "Invalid Funnel: 1 problem(s): funnel: stage names must be unique; repeated: ['a']. "
        "A funnel needs at least one stage, stage names unique within it, and order "
        "'ordered', 'strict' or 'any', e.g. "
        "Funnel(stages=[Stage(name='visitor', events=['visit'])])."
    )
    assert isinstance(info.value, ValueError)
    with pytest.raises(SpecError, match=r"^Invalid Stage: 2 problem\(s\): name: String should "):
        Stage(name="", events=[], min_count=1)


def test_stage_lookup_error() -> None:
    with pytest.raises(FunnelkitError, match="No stage named 'buyer'"):
        Funnel.community().stage("buyer")


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("D", TimeUnit.DAY),
        ("days", TimeUnit.DAY),
        ("W", TimeUnit.WEEK),
        ("month", TimeUnit.MONTH),
        ("M", TimeUnit.MONTH),
        ("Y", TimeUnit.YEAR),
        ("h", TimeUnit.HOUR),
    ],
)
def test_time_unit_names_and_codes(text: str, unit: TimeUnit) -> None:
    assert TimeUnit.parse(text) is unit


def test_time_unit_lengths() -> None:
    assert TimeUnit.MONTH.days == pytest.approx(365.25 / 12)
    assert convert_duration(1.0, "Y", "M") == pytest.approx(12.0)
    with pytest.raises(FunnelkitError, match="Unknown time unit 'm'"):
        TimeUnit.parse("m")
