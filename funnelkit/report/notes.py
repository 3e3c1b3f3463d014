"""Notes in plain words: what a model's note means for the numbers a reader sees.

The models write terse notes for someone fitting them by hand ("3 of 200 bootstrap samples
could not be fitted (...)"). The report keeps those notes as data (its JSON is unchanged) and
says, when rendering, what each one means for the page: which numbers it touches and how far
to trust them. A note no rule knows is shown as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from funnelkit.lifecycle._bootstrap import MIN_REPLICATES
from funnelkit.report.formatting import lower_first

__all__ = ["plain_note"]

_Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def _left_out(m: re.Match[str]) -> str:
    failed, total = int(m["failed"]), int(m["total"])
    kept = total - failed
    if kept < MIN_REPLICATES:
        return (
            f"{m['head']}{failed} of the {total} resamples of the customers used for the "
            f"intervals could not be refitted ({m['why']}). The {kept} left are fewer than the "
            f"{MIN_REPLICATES} an interval needs, so no interval is shown; the estimates "
            "themselves are not affected. More resamples (n_resamples) would give intervals."
        )
    return (
        f"{m['head']}{failed} of the {total} resamples of the customers used for the intervals "
        f"could not be refitted ({m['why']}). The intervals come from the other {kept}. The "
        "resamples that fail are those that drew the fewest repeat buyers, so these intervals "
        "may be slightly too narrow; the estimates themselves are not affected."
    )


def _not_estimable(m: re.Match[str]) -> str:
    failed, total = int(m["failed"]), int(m["total"])
    return (
        f"{m['head']}{failed} of the {total} resamples of the customers could not be refitted "
        f"({m['why']}). With more than half failing, the rest are not a fair sample, so no "
        "interval is shown: the estimates stand without a measure of their uncertainty. More "
        "customers (or a longer observation period) would give intervals."
    )


def _kaplan_meier(m: re.Match[str]) -> str:
    return (
        f"{m['head']}the smooth {m['method']} curve could not be fitted ({m['why']}), so the "
        "observed share (Kaplan-Meier) is used instead: it is as accurate within the period "
        "observed but cannot tell who would still convert later."
    )


def _not_converged(m: re.Match[str]) -> str:
    return (
        f"{m['head']}the smooth {m['method']} curve did not settle on a best fit, so the "
        "observed share (Kaplan-Meier) is used instead: it is as accurate within the period "
        "observed but cannot tell who would still convert later."
    )


def _stand_in(m: re.Match[str]) -> str:
    return (
        f"{m['head']}{m['group']}: too few repeat buyers for a model of their own "
        f"({m['n']}; {m['need']} are needed), so the model fitted on all customers is used: "
        "their values lean towards those of the average buyer."
    )


_HEAD = r"(?P<head>(?:[^:]+: )?)"
_RULES: tuple[_Rule, ...] = (
    (
        re.compile(
            _HEAD + r"(?P<failed>\d+) of (?P<total>\d+) bootstrap samples could not be fitted "
            r"\((?P<why>.*)\) and were left out of the intervals\.?$"
        ),
        _left_out,
    ),
    (
        re.compile(
            _HEAD + r"(?P<failed>\d+) of (?P<total>\d+) bootstrap samples could not be fitted "
            r"\((?P<why>.*)\): the intervals are not estimable\.?$"
        ),
        _not_estimable,
    ),
    (
        re.compile(
            _HEAD + r"the (?P<method>\w+) cure model could not be fitted \((?P<why>.*)\); "
            r"Kaplan-Meier used\.?$"
        ),
        _kaplan_meier,
    ),
    (
        re.compile(_HEAD + r"the (?P<method>\w+) cure model did not converge; Kaplan-Meier used"),
        _not_converged,
    ),
    (
        re.compile(
            _HEAD + r"(?P<group>[^:]+): not enough data: (?P<n>\d+) repeat buyers, need "
            r"(?P<need>\d+); the model fitted on all customers stands in\.?$"
        ),
        _stand_in,
    ),
)

# Attribute names written for programmers, in parentheses at the end of a note.
_CODE_REFERENCE = re.compile(r"\s*\((?:[A-Z]\w*\.)+\w+\)(?=\.?$)")


def plain_note(note: str, names: dict[str, str] | None = None) -> str:
    """``note`` said for a reader: what it means for the numbers on the page.

    ``names`` maps stage names to the names shown (``{"repeat_buyer": "Repeat buyer"}``);
    identifiers (names with an underscore) are replaced by them. Plain words such as
    ``member`` are left alone: they read well and also occur inside ``non-member``.

    Examples
    --------
    >>> plain_note("3 of 200 bootstrap samples could not be fitted (not enough data) and "
    ...            "were left out of the intervals")[:60]
    '3 of the 200 resamples of the customers used for the interva'
    """
    text = _CODE_REFERENCE.sub("", note)
    for pattern, say in _RULES:
        match = pattern.match(text)
        if match is not None:
            text = say(match)
            break
    for name, shown in (names or {}).items():
        if "_" in name:
            # mid-sentence, so "Repeat buyer" reads "repeat buyer" (a label such as "VIP" stays)
            text = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", lower_first(shown), text)
    return text.strip()
