"""Base classes for typed specs and results.

Results are data: frozen pydantic models that hold numbers (never the estimator or the data),
round-trip through JSON exactly (NaN and infinities are written as JSON constants, not
``null``), carry a schema version, and render as text and HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["Interval", "Result", "Spec", "html_table", "to_builtin"]

R = TypeVar("R", bound="Result")


class Spec(BaseModel):
    """A frozen, strict settings model (stages, funnels, column mappings)."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    def _repr_html_(self) -> str:
        # A spec's None is an unset setting, not a number that could not be estimated.
        rows = {
            k: "not set" if v is None else ", ".join(map(str, v)) if isinstance(v, tuple) else v
            for k, v in self.__dict__.items()
        }
        return html_table(rows, caption=type(self).__name__)


class Result(BaseModel):
    """A frozen result: JSON round-trip, text and HTML representations.

    Subclasses set ``schema_name``; ``schema_version`` is stored in every JSON document so a
    future reader can migrate old files.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_inf_nan="constants", protected_namespaces=()
    )
    schema_version: int = 1

    title: ClassVar[str] = "Result"

    def to_json(self, *, indent: int | None = None) -> str:
        """Serialise to JSON (NaN/Infinity kept as JSON constants)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls: type[R], text: str | bytes) -> R:
        """Load a result written by :meth:`to_json`."""
        return cls.model_validate_json(text)

    def as_text(self) -> str:
        rows = [f"{self.title}"]
        for key, value in self._display_items():
            rows.append(f"  {key}: {_fmt(value)}")
        return "\n".join(rows)

    def as_html(self) -> str:
        return html_table(dict(self._display_items()), caption=self.title)

    def _display_items(self) -> list[tuple[str, Any]]:
        return [(k, v) for k, v in self.__dict__.items() if k != "schema_version"]

    def _repr_html_(self) -> str:
        return self.as_html()

    def __str__(self) -> str:
        return self.as_text()


class Interval(BaseModel):
    """An estimate with its confidence interval: the one interval type of every result.

    ``lower``/``upper`` are ``None`` where the interval is not estimable. An interval unpacks
    and indexes as its bounds, like the ``(lower, upper)`` pairs it replaces, and reads a
    stored ``[lower, upper]`` pair.

    >>> ci = Interval(estimate=0.4, lower=0.3, upper=0.5, level=0.95)
    >>> lower, upper = ci
    >>> (lower, upper, ci.contains(0.45), str(ci))
    (0.3, 0.5, True, '0.4 (95% CI 0.3 to 0.5)')
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")

    estimate: float | None = None
    lower: float | None
    upper: float | None
    level: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_pair(cls, data: Any) -> Any:
        if isinstance(data, list | tuple) and len(data) == 2:
            return {"lower": data[0], "upper": data[1]}
        return data

    def __iter__(self) -> Any:
        return iter((self.lower, self.upper))

    def __getitem__(self, index: int) -> float | None:
        return (self.lower, self.upper)[index]

    def __len__(self) -> int:
        return 2

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return (self.lower, self.upper) == other
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash((self.estimate, self.lower, self.upper, self.level))

    def _repr_html_(self) -> str:
        return f'<span class="funnelkit">{html.escape(str(self))}</span>'

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds (False where they are not estimable)."""
        if self.lower is None or self.upper is None:
            return False
        return self.lower <= value <= self.upper

    def __str__(self) -> str:
        level = "" if self.level is None else f"{self.level:.0%} "
        bounds = f"{level}CI {_fmt(self.lower)} to {_fmt(self.upper)}"
        return bounds if self.estimate is None else f"{_fmt(self.estimate)} ({bounds})"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "not estimable"
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if value is None:
        return "not estimable"
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return str(value.value)
    return str(value)


def _cell(value: Any) -> str:
    """A table cell: a nested model is named (a title, or its class), not dumped field by field.

    An interval reads as one; a sequence of models is counted. Everything else is ``_fmt``.
    """
    if isinstance(value, Interval):
        return str(value)
    if isinstance(value, BaseModel):
        return str(getattr(value, "title", None) or type(value).__name__)
    if isinstance(value, list | tuple) and value and isinstance(value[0], BaseModel):
        return f"{len(value)} × {type(value[0]).__name__}"
    return _fmt(value)


def html_table(
    data: Mapping[str, Any] | list[Mapping[str, Any]], *, caption: str | None = None
) -> str:
    """Render a mapping (key/value rows) or a list of records (columns) as an HTML table."""
    esc = html.escape
    parts = ['<table class="funnelkit">']
    if caption:
        parts.append(f"<caption>{esc(caption)}</caption>")
    if isinstance(data, Mapping):
        for key, value in data.items():
            cell = html_table(value) if isinstance(value, Mapping) and value else esc(_cell(value))
            parts.append(f"<tr><th>{esc(str(key))}</th><td>{cell}</td></tr>")
    elif data:
        columns = list(data[0].keys())
        parts.append("<tr>" + "".join(f"<th>{esc(str(c))}</th>" for c in columns) + "</tr>")
        for record in data:
            cells = "".join(f"<td>{esc(_cell(record.get(c)))}</td>" for c in columns)
            parts.append(f"<tr>{cells}</tr>")
    parts.append("</table>")
    return "".join(parts)


def to_builtin(value: Any) -> Any:
    """Convert numpy scalars (and containers of them) to Python builtins for pydantic."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return value.item()
    if isinstance(value, dict):
        return {k: to_builtin(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_builtin(v) for v in value)
    return value
