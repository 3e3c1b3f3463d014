"""The JSON document of a fitted LifecycleModel: its settings and its fitted state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from funnelkit._results import Result
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle._components import make_purchase_fitter
from funnelkit.lifecycle.state import LifecycleFit
from funnelkit.units import TimeUnit

__all__ = ["LifecycleDocument", "dump", "load"]

SCHEMA = "funnelkit.lifecycle.model"


class LifecycleDocument(Result):
    """Settings (JSON values only) and the fitted state; no customers, no pickle."""

    schema_name: str = SCHEMA
    settings: dict[str, Any]
    fit: LifecycleFit


def dump(settings: Mapping[str, Any], fit: LifecycleFit, *, indent: int | None = None) -> str:
    """Serialise the settings and ``fit``.

    A purchase fitter given as template is stored through ``fit`` (it is rebuilt from the
    fitted models on loading) and ``progress`` (a callable) is not stored.
    """
    stored: dict[str, Any] = {}
    for name, value in settings.items():
        if name == "progress":
            continue
        if name in ("time_unit", "period") and not isinstance(value, str):
            value = TimeUnit.parse(value).value
        elif name == "purchase_model" and not isinstance(value, str):
            value = None
        elif name == "purchase_events":
            value = list(value)
        stored[name] = value
    return LifecycleDocument(settings=stored, fit=fit).to_json(indent=indent)


def load(text: str | bytes) -> tuple[dict[str, Any], LifecycleFit]:
    """Settings for ``LifecycleModel(**settings)`` and the fitted state, from :func:`dump`."""
    try:
        doc = LifecycleDocument.from_json(text)
    except ValidationError as exc:
        raise FunnelkitError(
            f"This is not the JSON of a fitted LifecycleModel ({exc.error_count()} problem(s), "
            f"first: {exc.errors()[0]['msg']} at {list(exc.errors()[0]['loc'])}). Write it "
            "with LifecycleModel.to_json()."
        ) from None
    if doc.schema_name != SCHEMA:
        raise FunnelkitError(
            f"The JSON holds a {doc.schema_name!r} document, not a LifecycleModel ({SCHEMA!r})."
        )
    settings = dict(doc.settings)
    if "purchase_events" in settings:
        settings["purchase_events"] = tuple(settings["purchase_events"])
    if settings.get("purchase_model", "") is None:
        settings["purchase_model"] = make_purchase_fitter(doc.fit.purchase_spec())
    return settings, doc.fit
