"""Former home of the column rule, now :mod:`funnelkit.ingest.columns` (kept for importers)."""

from __future__ import annotations

from funnelkit.ingest.columns import (
    DEFAULT_EVENT_COL,
    ColumnSpec,
    check_unique_names,
    column_names,
    eager_frame,
    resolve_columns,
)

#: The role record used to be called ``ColumnRoles``; it is :class:`ColumnSpec` now.
ColumnRoles = ColumnSpec
resolve_roles = resolve_columns

__all__ = [
    "DEFAULT_EVENT_COL",
    "ColumnRoles",
    "ColumnSpec",
    "check_unique_names",
    "column_names",
    "eager_frame",
    "resolve_roles",
]
