"""One configuration file for an analysis: columns, funnel stages, money and time settings.

A config is TOML (``*.toml``, read with the standard library's ``tomllib`` on Python 3.11+)
or JSON (``*.json``). It is validated by :class:`AnalysisConfig`, whose JSON schema
(:func:`config_schema`, published as ``docs/config.schema.json``) lets editors check and
complete it. ``funnelkit config --template`` writes a commented starting point,
``funnelkit inspect EVENTS --write-config PATH`` one filled in from an event file, and
``funnelkit report EVENTS --config PATH`` uses it (options on the command line win).

Examples
--------
>>> cfg = AnalysisConfig.model_validate({"columns": {"customer": "user_id"}, "horizon": 6})
>>> cfg.columns.customer, cfg.horizon, cfg.funnel().stage_names[-1]
('user_id', 6.0, 'repeat_buyer')
>>> AnalysisConfig.model_validate(parse_config(template(), suffix=".toml")) == AnalysisConfig()
True
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from funnelkit._results import Spec
from funnelkit.exceptions import DataError, MissingDependencyError, SpecError
from funnelkit.stages import Funnel, Stage

__all__ = [
    "AnalysisConfig",
    "ColumnsConfig",
    "config_schema",
    "load_config",
    "parse_config",
    "template",
    "to_toml",
]

_COMMUNITY = Funnel.community()


class ColumnsConfig(Spec):
    """Which column of the event file plays which role, and how to read it."""

    customer: str = Field(default="customer_id", min_length=1, description="customer id column")
    time: str = Field(default="timestamp", min_length=1, description="event time column")
    event: str | None = Field(
        default="event",
        description="event name column; when the file has no such column, every row is a "
        "purchase (a plain orders table)",
    )
    value: str | None = Field(
        default=None, description="money per purchase (none: no spend)", examples=["revenue"]
    )
    segment: str | None = Field(
        default=None,
        description="customer attribute of the segment table, e.g. the acquisition channel "
        "(none: 'channel' when the file has it)",
        examples=["utm_source"],
    )
    attributes: tuple[str, ...] = Field(
        default=(), description="further customer attributes to keep"
    )
    time_format: str | None = Field(
        default=None,
        description="strftime format of text timestamps, e.g. '%d/%m/%Y' (none: ISO 8601, "
        "then inferred)",
        examples=["%d/%m/%Y %H:%M"],
    )
    time_scale: Literal["seconds", "milliseconds", "microseconds"] | None = Field(
        default=None,
        description="numbers in the time column are Unix epoch times in this unit (GA4 "
        "exports microseconds); none: read them as they are",
        examples=["microseconds"],
    )
    delimiter: str | None = Field(
        default=None, description="CSV field separator (none: ',')", examples=[";"]
    )
    allow_negative_values: bool = Field(
        default=False, description="accept negative purchase values (refunds)"
    )

    @field_validator("event", "value", "segment", "time_format", "delimiter", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        # TOML has no null: an empty string says "no such column" (event = "": no event column)
        return None if value == "" else value


class AnalysisConfig(Spec):
    """The settings of ``funnelkit report``, as one validated file.

    Every field has the default the command line uses; a file needs only what differs.
    """

    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    stages: tuple[Stage, ...] = Field(
        default=_COMMUNITY.stages,
        min_length=1,
        description="funnel stages in order; each names the event types that enter it",
    )
    order: Literal["ordered", "strict", "any"] = Field(
        default="ordered",
        description="'ordered': a stage counts only after the previous one; 'strict': also "
        "with no later stage's event in between; 'any': in any order",
    )
    purchase_events: tuple[str, ...] | None = Field(
        default=None,
        description="event types that are purchases (none: 'purchase', or every row of a file "
        "without an event column)",
        examples=[["purchase"]],
    )
    currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the money column",
        examples=["EUR"],
    )
    margin: float | None = Field(
        default=None, gt=0, le=1, description="share of revenue kept as profit", examples=[0.3]
    )
    costs: str | None = Field(
        default=None,
        description="CSV file of acquisition costs per segment (path relative to the config)",
        examples=["costs.csv"],
    )
    horizon: float = Field(default=12.0, gt=0, description="lifetime-value horizon in time_unit")
    time_unit: str = Field(default="month", description="unit of the horizon and of discounting")
    discount_rate: float = Field(
        default=0.0, ge=0, description="discount rate per time_unit, e.g. 0.01 for 1% a month"
    )
    period: str = Field(default="day", description="calendar period of purchase summaries")
    purchase_model: Literal["bgnbd", "mbgnbd", "paretonbd"] = "bgnbd"
    penalizer: float = Field(
        default=0.0, ge=0, description="L2 penalty of the purchase model; 0.001 helps a hard fit"
    )
    n_resamples: int = Field(default=100, ge=0, description="bootstrap samples of the intervals")
    seed: int = Field(default=0, ge=0, description="seed of the bootstrap")

    def funnel(self) -> Funnel:
        """The :class:`~funnelkit.Funnel` of :attr:`stages` and :attr:`order`."""
        return Funnel(stages=self.stages, order=self.order)


def config_schema() -> dict[str, Any]:
    """The JSON schema of a config file (what ``funnelkit config --schema`` prints)."""
    schema = AnalysisConfig.model_json_schema()
    schema["title"] = "funnelkit analysis config"
    return schema


def parse_config(text: str, *, suffix: str) -> dict[str, Any]:
    """The raw mapping of a TOML (``suffix=".toml"``) or JSON document."""
    if suffix == ".json":
        data = json.loads(text)
    elif suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10 only
            try:
                import tomli as tomllib
            except ImportError as exc:
                raise MissingDependencyError(
                    "Reading a TOML config on Python 3.10 needs 'tomli' (pip install tomli); "
                    "or write the config as JSON (funnelkit config --template --format json)."
                ) from exc
        data = tomllib.loads(text)
    else:
        raise DataError(f"A config file is *.toml or *.json, not {suffix or 'a file without'!r}.")
    if not isinstance(data, dict):
        raise DataError(f"A config holds a table of settings, not a {type(data).__name__}.")
    return data


def load_config(path: str | os.PathLike[str]) -> AnalysisConfig:
    """Read and validate a config file; a bad one is a :class:`SpecError` naming each problem.

    A relative ``costs`` path is resolved against the config file's folder.
    """
    file = Path(path)
    if file.is_dir():
        raise DataError(f"the config {file} is a directory: name one *.toml or *.json file")
    if not file.is_file():
        raise FileNotFoundError(f"no such config file: {file}")
    try:
        data = parse_config(file.read_text(encoding="utf-8"), suffix=file.suffix.lower())
    except (ValueError, UnicodeError) as exc:
        if isinstance(exc, DataError | MissingDependencyError):
            raise
        detail = " ".join(str(exc).split())
        raise DataError(f"{file} is not valid {file.suffix[1:].upper()}: {detail}") from None
    try:
        config = AnalysisConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "config"
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown setting{_did_you_mean(error['loc'])}")
                continue
            problems.append(f"{where}: {message} (got {error.get('input')!r})")
        raise SpecError(
            f"{file} has {len(problems)} problem(s): " + "; ".join(problems) + ". Start from "
            "'funnelkit config --template'; docs/config.schema.json lists every setting."
        ) from None
    except SpecError as exc:  # a stage's own validator
        raise SpecError(f"{file}: {exc}") from None
    if config.costs is not None and not Path(config.costs).is_absolute():
        config = config.model_copy(update={"costs": str(file.parent / config.costs)})
    return config


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    """``"; did you mean 'customer'?"`` for a misspelt key at ``loc``, or ``""``."""
    import difflib

    model: Any = AnalysisConfig
    for part in loc[:-1]:
        inner = model.model_fields.get(part) if isinstance(part, str) else None
        if inner is None or not isinstance(inner.annotation, type):
            return ""
        model = inner.annotation
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


# ---------------------------------------------------------------------------- TOML writing
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _comment(model: type[Spec], name: str) -> str:
    info = model.model_fields[name]
    return f"  # {info.description}" if info.description else ""


def to_toml(config: AnalysisConfig, *, comments: bool = True) -> str:
    """``config`` as a TOML document; unset optional settings are commented-out lines.

    TOML has no null: a setting that is None by default is written as a comment showing an
    example, so the file lists every setting; one that is None in ``config`` only (``event``:
    no event column) is written as ``""``. Either way the file reads back to ``config``.
    """
    lines: list[str] = []

    def emit(model: type[Spec], values: dict[str, Any], names: list[str]) -> None:
        for name in names:
            field = model.model_fields[name]
            note = _comment(model, name) if comments else ""
            if values[name] is None and field.default is not None:
                lines.append(f'{name} = ""{note}')  # read back as None, see _empty_is_none
            elif values[name] is None:
                example = _toml_value(field.examples[0]) if field.examples else '""'
                lines.append(f"# {name} = {example}{note}")
            else:
                lines.append(f"{name} = {_toml_value(values[name])}{note}")

    data = config.model_dump()
    top = [n for n in AnalysisConfig.model_fields if n not in ("columns", "stages")]
    if comments:
        lines += [
            "# funnelkit analysis config: funnelkit report EVENTS --config THIS_FILE",
            "# Every setting is optional; options given on the command line win.",
            "# Schema: docs/config.schema.json (funnelkit config --schema).",
            "",
        ]
    emit(AnalysisConfig, data, top)
    lines += ["", "[columns]"]
    emit(ColumnsConfig, data["columns"], list(ColumnsConfig.model_fields))
    for stage in data["stages"]:
        lines += ["", "[[stages]]"]
        # TOML has no null: a stage setting left unset (e.g. no label) is left out
        lines += [f"{k} = {_toml_value(v)}" for k, v in stage.items() if v is not None]
    return "\n".join(lines) + "\n"


def template(*, format: Literal["toml", "json"] = "toml") -> str:
    """A config with every default written out, to edit (TOML with comments, or JSON)."""
    if format == "json":
        return AnalysisConfig().model_dump_json(indent=2) + "\n"
    return to_toml(AnalysisConfig())
