"""Finding numbers a user would see as NaN or infinity: in text, HTML and JSON output.

"Nothing raised" is not enough for output meant to be read: a NaN printed as ``nan`` in a
table, or an SVG coordinate of ``NaN``, is a failure the user sees.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: ``nan``, ``inf`` or ``infinity`` as a whole token, any case and sign. The look-arounds keep
#: words such as "finance" or "info" and identifiers such as "x_nan" from matching.
NON_FINITE_TOKEN = re.compile(r"(?<![\w.])[-+]?(?:nan|inf(?:inity)?)(?![\w])", re.IGNORECASE)


def non_finite_tokens(text: str, *, context: int = 60) -> list[str]:
    """Each NaN/inf token in ``text`` with ``context`` characters either side."""
    return [
        text[max(match.start() - context, 0) : match.end() + context]
        for match in NON_FINITE_TOKEN.finditer(text)
    ]


def non_finite_json(text: str) -> list[str]:
    """JSON paths of every number in ``text`` that is not finite.

    The project's results write NaN and infinity as the JSON constants ``NaN`` and
    ``Infinity`` (pydantic's ``ser_json_inf_nan="constants"``); they are parsed here as
    floats so that the walk can name where they are. ``null`` ("not estimable") is allowed.
    """
    data = json.loads(text, parse_constant=float)
    return [path for path, value in _numbers(data, "$") if not math.isfinite(value)]


def _numbers(node: Any, path: str) -> list[tuple[str, float]]:
    if isinstance(node, dict):
        return [item for key, value in node.items() for item in _numbers(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [item for i, value in enumerate(node) for item in _numbers(value, f"{path}[{i}]")]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return [(path, float(node))]
    return []
