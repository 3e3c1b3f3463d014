"""The two pieces of markup every report section uses: a paragraph and a table."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

__all__ = ["paragraph", "table"]


def paragraph(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{escape(text)}</p>'


def _cell(value: Any) -> str:
    """A table cell; a ``(value, interval)`` pair puts the interval on a small second line."""
    if isinstance(value, tuple):
        shown, interval = value
        extra = f'<span class="ci">{escape(interval)}</span>' if interval else ""
        return f"<td>{escape(str(shown))}{extra}</td>"
    return f"<td>{escape(str(value))}</td>"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], caption: str = "") -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    # a wide table scrolls inside its own box on a narrow screen instead of widening the page
    return f'<div class="table-wrap"><table>{cap}<tr>{head}</tr>{body}</table></div>'
