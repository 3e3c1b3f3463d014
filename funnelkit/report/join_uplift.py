"""The report section on membership uplift counted from the join."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from funnelkit.report.report import LifecycleReport

__all__ = ["join_uplift_section"]


def join_uplift_section(report: LifecycleReport) -> str:
    """The section's body: the landmark comparison, its sensitivity and what it shows."""
    u = report.join_uplift
    if u is None:
        return ""
    statement = f'<p class="caveat">{escape(u.statement)}</p>'
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in u.notes)
    return u.as_html() + statement + notes
