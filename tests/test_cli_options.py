"""Every option shows its default; every remedy a message suggests has an option."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from funnelkit.cli import main
from funnelkit.cli._common import OPTION_OF, in_cli_words

PACKAGE = Path(__file__).resolve().parents[1] / "funnelkit"
#: Settings that messages suggest for Python-only APIs the command line never calls
#: (conversion fitters, segment tests, data sets, direct fitter use).
PYTHON_ONLY = {
    "data",
    "initial_params",
    "distribution",
    "channels",
    "durations",
    "segment",
    "covariates",
}


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def _entries(text: str) -> dict[str, str]:
    """``--option`` -> its whole help entry, from an argparse help page."""
    options = text.split("\noptions:\n", 1)[1]
    entries: dict[str, str] = {}
    for chunk in re.split(r"\n(?=  -)", options):
        name = chunk.split()[0].rstrip(",")
        entries[name] = " ".join(chunk.split())
    return entries


@pytest.mark.parametrize("command", ["report", "inspect", "config", "demo"])
def test_every_option_shows_its_default(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    entries = _entries(_help(command, capsys))
    entries.pop("-h")
    assert entries, "no options found in the help page"
    for option, entry in entries.items():
        assert "default" in entry, f"funnelkit {command} {option} does not show its default"


def test_report_help_shows_the_defaults_it_uses(capsys: pytest.CaptureFixture[str]) -> None:
    entries = _entries(_help("report", capsys))
    assert "(default: customer_id)" in entries["--customer-col"]
    assert "(default: 12.0)" in entries["--horizon"]
    assert "(default: 100)" in entries["--bootstrap"]
    assert "(default: off)" in entries["--allow-negative-values"]
    assert "(default: funnelkit-demo.html)" in _entries(_help("demo", capsys))["--out"]


def _suggested_settings() -> set[str]:
    """Settings named as a remedy (``pass x=``, ``e.g. x=``, ...) in funnelkit's messages."""
    pattern = re.compile(r"\b(?:pass|Pass|e\.g\.|set|Set|use|Use|with) ([a-z_]+)=")
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        found.update(pattern.findall(path.read_text(encoding="utf-8")))
    return found


def test_every_suggested_setting_has_a_report_option(capsys: pytest.CaptureFixture[str]) -> None:
    suggested = _suggested_settings()
    assert {"allow_negative_values", "penalizer", "time_format", "purchase_events"} <= suggested
    entries = _entries(_help("report", capsys))
    missing = sorted(s for s in suggested - PYTHON_ONLY if OPTION_OF.get(s) not in entries)
    assert missing == [], f"remedies without a command-line option: {missing}"


@pytest.mark.parametrize(
    ("python", "command_line"),
    [
        (
            "If these are refunds, pass allow_negative_values=True; otherwise fix the values.",
            "If these are refunds, pass --allow-negative-values; otherwise fix the values.",
        ),
        (
            "Try a small penalty, e.g. penalizer=0.001.",
            "Try a small penalty, e.g. --penalizer 0.001.",
        ),
        ("column 'x' (given as observation_end)", "column 'x' (given as --observation-end)"),
        (
            "The 'discount_rate' parameter of LifecycleModel must be >= 0.",
            "The --discount-rate option must be >= 0.",
        ),
    ],
)
def test_remedies_are_named_as_options(python: str, command_line: str) -> None:
    assert in_cli_words(python) == command_line
