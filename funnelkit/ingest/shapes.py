"""Common export shapes, recognised by their column names alone.

An export of an analytics or shop system has column names that say where it came from: a GA4
BigQuery export has ``user_pseudo_id`` and ``event_timestamp`` (Unix microseconds), a Shopify
orders export ``created_at`` and ``total_price``, a Segment or RudderStack ``tracks`` table
``anonymous_id`` and ``properties.revenue``. :func:`recognise` names the shape and the column
of each role (customer, time, event, value, segment), so ``funnelkit inspect`` and
``funnelkit report`` need no column options for such files. The roles map onto the one column
specification (:func:`funnelkit.ingest.columns.resolve_columns`): ``customer_col``,
``time_col``, ``event_col``, ``value_col`` and a segment attribute.

Names are compared without case and without separators, so ``traffic_source.source``,
``traffic_source_source`` and ``Traffic Source Source`` are the same column.

Examples
--------
>>> found = recognise(["user_pseudo_id", "event_timestamp", "event_name", "event_value_in_usd"])
>>> found.shape, found.customer, found.time, found.time_scale, found.value
('GA4 BigQuery export', 'user_pseudo_id', 'event_timestamp', 'microseconds', 'event_value_in_usd')
>>> recognise(["customer_id", "order_date", "amount"]).shape
'orders table'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["SHAPES", "ExportShape", "Recognised", "recognise"]

Role = Literal["customer", "time", "event", "value", "segment"]
TimeScale = Literal["seconds", "milliseconds", "microseconds"]


@dataclass(frozen=True)
class ExportShape:
    """An export format: candidate column names per role, most specific first.

    ``signature`` columns must all be present for the shape to be recognised (beside a
    customer and a time column); ``stages`` suggests a funnel in the export's own event names
    as ``(stage, events, min_count)``.
    """

    name: str
    signature: tuple[str, ...]
    customer: tuple[str, ...]
    time: tuple[str, ...]
    event: tuple[str, ...] = ()
    value: tuple[str, ...] = ()
    segment: tuple[str, ...] = ()
    time_scale: TimeScale | None = None
    purchase_events: tuple[str, ...] | None = None
    stages: tuple[tuple[str, tuple[str, ...], int], ...] | None = None


@dataclass(frozen=True)
class Recognised:
    """The shape found and the column of each role (None: no such column)."""

    shape: str
    customer: str | None
    time: str | None
    event: str | None
    value: str | None
    segment: str | None
    time_scale: TimeScale | None = None
    purchase_events: tuple[str, ...] | None = None
    stages: tuple[tuple[str, tuple[str, ...], int], ...] | None = None


_BUYERS = (("buyer", ("purchase",), 1), ("repeat_buyer", ("purchase",), 2))

#: Recognised shapes, tried in this order; the last one is funnelkit's own column names.
SHAPES: tuple[ExportShape, ...] = (
    ExportShape(
        name="GA4 BigQuery export",
        signature=("event_timestamp", "user_pseudo_id"),
        customer=("user_pseudo_id", "user_id"),
        time=("event_timestamp",),
        event=("event_name",),
        value=(
            "ecommerce.purchase_revenue",
            "event_value_in_usd",
            "ecommerce.purchase_revenue_in_usd",
        ),
        segment=("traffic_source.source", "collected_traffic_source.manual_source"),
        time_scale="microseconds",
        purchase_events=("purchase",),
        stages=(
            ("visitor", ("first_visit", "session_start"), 1),
            ("member", ("sign_up",), 1),
            ("repeat_buyer", ("purchase",), 2),
        ),
    ),
    ExportShape(
        name="Segment/RudderStack tracks",
        signature=("anonymous_id",),
        customer=("user_id", "anonymous_id"),
        time=("timestamp", "original_timestamp", "received_at", "sent_at"),
        event=("event", "event_text"),
        value=("properties.revenue", "properties.total", "revenue"),
        segment=("context.campaign.source", "properties.source", "context.campaign.name"),
        purchase_events=("Order Completed",),
        stages=(
            ("visitor", ("Page Viewed", "Product Viewed"), 1),
            ("member", ("Signed Up",), 1),
            ("repeat_buyer", ("Order Completed",), 2),
        ),
    ),
    ExportShape(
        name="Shopify orders",
        signature=("total_price",),
        customer=("customer.id", "customer_id", "email", "customer.email"),
        time=("created_at", "processed_at"),
        value=("total_price", "subtotal_price"),
        segment=("source_name", "referring_site", "landing_site"),
        stages=_BUYERS,
    ),
    ExportShape(
        name="orders table",
        signature=("order_date",),
        customer=("customer_id", "customer", "client_id", "user_id", "email"),
        time=("order_date", "ordered_at", "date"),
        value=("amount", "total", "revenue", "order_total", "value", "price"),
        segment=("channel", "source", "utm_source"),
        stages=_BUYERS,
    ),
    ExportShape(
        name="funnelkit events",
        signature=(),
        customer=("customer_id", "user_id", "customer", "user", "client_id", "email"),
        time=("timestamp", "event_time", "time", "event_date", "created_at", "date"),
        event=("event", "event_name", "event_type", "action"),
        value=("value", "revenue", "amount", "total", "price"),
        segment=("channel", "utm_source", "source", "traffic_source", "segment"),
    ),
)


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def recognise(columns: Sequence[str]) -> Recognised:
    """The export shape of a file with these ``columns`` and the column of each role.

    When no shape fits, the roles are the best guesses among funnelkit's own column names
    and their common synonyms (shape ``"funnelkit events"``); roles without a candidate are
    None.
    """
    by_key: dict[str, str] = {}
    for column in columns:
        by_key.setdefault(_key(str(column)), str(column))

    def pick(candidates: tuple[str, ...]) -> str | None:
        return next((by_key[_key(c)] for c in candidates if _key(c) in by_key), None)

    for shape in SHAPES:
        if not all(_key(c) in by_key for c in shape.signature):
            continue
        customer, time = pick(shape.customer), pick(shape.time)
        if shape.signature and (customer is None or time is None):
            continue
        event = pick(shape.event)
        return Recognised(
            shape=shape.name,
            customer=customer,
            time=time,
            event=event,
            value=pick(shape.value),
            segment=pick(shape.segment),
            time_scale=shape.time_scale,
            purchase_events=shape.purchase_events,
            stages=shape.stages,
        )
    raise AssertionError("the last shape has no signature and always fits")  # pragma: no cover
