"""With fewer bootstrap samples than an interval needs, every text the commands print says
the same: how many samples were drawn and fitted, and why no interval is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelkit.cli import main

NEED = "an interval needs at least 10 fitted"


def test_demo_with_three_samples_says_what_was_drawn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "d.html"
    argv = ["demo", "--prospects", "2000", "--seed", "1", "--bootstrap", "3", "--jobs", "1"]
    assert main([*argv, "--quiet", "--out", str(page)]) == 0
    text = capsys.readouterr().out
    assert "no bootstrap" not in text
    headers = [line for line in text.splitlines() if "intervals: " in line]
    assert [h.split("intervals: ", 1)[1] for h in headers] == [
        f"none (3 bootstrap samples drawn; {NEED}))",  # stage values
        f"none (3 bootstrap samples drawn per segment; {NEED}))",  # value by segment
        f"none (3 bootstrap samples drawn; {NEED}))",  # membership uplift
    ]
    assert headers[0].startswith("Stage values (")
    assert headers[1].startswith("Value by segment: channel (")
    assert headers[2].startswith("Membership uplift (")
    # the notes of the segments that lost samples count them the same way
    assert (
        "  note: referral: 1 of the 3 resamples of the customers used for the intervals could "
        "not be refitted (The member purchase model cannot be fitted: not enough data: 17 "
        "repeat buyers, need 20). The 2 left are fewer than the 10 an interval needs, so no "
        "interval is shown; the estimates themselves are not affected. More resamples "
        "(--bootstrap) would give intervals.\n" in text
    )
    assert "  note: facebook: 2 of the 3 resamples of the customers could not be refitted" in text
    assert "left out of the intervals" not in text
    # and the demo prints the adjusted comparison of the text report
    assert "\nChannel and membership, adjusted for each other (" in text


def test_bootstrap_help_says_how_many_give_an_interval(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("demo", "report"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        flat = " ".join(capsys.readouterr().out.split())
        assert (
            "bootstrap samples of the intervals (an interval needs at least 10 fitted; 0 = none)"
            in flat
        )
