"""The funnel conversion table: naive versus eventual rates, with intervals."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import model_validator

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.conversion._interval import fill_intervals
from funnelkit.conversion.results import INTERVAL_ESTIMATES, ModelName, TransitionEstimate
from funnelkit.units import TimeUnitField

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["ConversionRow", "ConversionSummary", "format_conversion_table"]


class ConversionRow(Result):
    """One line of the conversion table (one transition, optionally one segment)."""

    title = "Conversion"

    source: str
    target: str
    segment: str | None
    n_entered: int
    n_converted: int
    n_censored: int
    naive_rate: float | None
    naive_rate_ci: Interval | None
    eventual_rate: float | None
    eventual_rate_ci: Interval | None
    eventual_rate_std_error: float | None = None
    median_time: float | None
    median_time_ci: Interval | None
    model: ModelName

    @model_validator(mode="before")
    @classmethod
    def _intervals(cls, data: Any) -> Any:
        return fill_intervals(data, INTERVAL_ESTIMATES, level=None)

    @classmethod
    def from_estimate(cls, est: TransitionEstimate) -> ConversionRow:
        return cls(**{name: getattr(est, name) for name in cls.model_fields})

    def record(self) -> dict[str, Any]:
        """Flat record: intervals split into ``*_lower`` / ``*_upper`` columns."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "schema_version":
                continue
            if name.endswith("_ci"):
                base = name[:-3]
                out[f"{base}_lower"] = None if value is None else value[0]
                out[f"{base}_upper"] = None if value is None else value[1]
            else:
                out[name] = value
        return out


class ConversionSummary(Result):
    """Conversion of every fitted transition: naive versus eventual rate, time to convert.

    Examples
    --------
    >>> from funnelkit.datasets.conversion import simulate_transitions
    >>> from funnelkit import ConversionFitter
    >>> fitter = ConversionFitter().fit(simulate_transitions(1000, seed=2).journeys)
    >>> summary = fitter.conversion_summary()
    >>> [r.target for r in summary.rows]
    ['member', 'buyer']
    >>> list(summary.summary().columns[:6])
    ['source', 'target', 'estimate', 'std_error', 'lower', 'upper']
    """

    title = "Stage conversion"

    rows: tuple[ConversionRow, ...]
    conf_level: float
    time_unit: TimeUnitField
    by: str | None = None

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per row (``None`` where not estimable)."""
        return [row.record() for row in self.rows]

    def summary(self, backend: Backend = "pandas") -> Any:
        """The estimates table: one row per transition (and segment).

        Columns ``source, target`` (and ``segment`` when fitted ``by=``), then the eventual
        conversion rate as ``estimate, std_error, lower, upper``, then the naive rate and the
        median time to convert with their bounds, the counts and the model; missing values
        where a number is not estimable.
        """
        ident = ["source", "target", *(["segment"] if self.by is not None else [])]
        columns: dict[str, np.ndarray] = {
            name: np.array([getattr(r, name) for r in self.rows], dtype=object) for name in ident
        }
        numbers: dict[str, list[float | None]] = {
            "estimate": [r.eventual_rate for r in self.rows],
            "std_error": [r.eventual_rate_std_error for r in self.rows],
            "lower": [_end(r.eventual_rate_ci, 0) for r in self.rows],
            "upper": [_end(r.eventual_rate_ci, 1) for r in self.rows],
        }
        for name in ("naive_rate", "median_time"):
            numbers[name] = [getattr(r, name) for r in self.rows]
            numbers[f"{name}_lower"] = [_end(getattr(r, f"{name}_ci"), 0) for r in self.rows]
            numbers[f"{name}_upper"] = [_end(getattr(r, f"{name}_ci"), 1) for r in self.rows]
        for name, values in numbers.items():
            columns[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
        for name in ("n_entered", "n_converted", "n_censored"):
            columns[name] = np.array([getattr(r, name) for r in self.rows], dtype=np.int64)
        columns["model"] = np.array([r.model for r in self.rows], dtype=object)
        return frame_from_columns(columns, backend)

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """The table as a pandas, polars or pyarrow frame (missing values for None)."""
        records = self.to_records()
        names = list(records[0]) if records else list(ConversionRow.model_fields)
        columns = {}
        for name in names:
            values = [r.get(name) for r in records]
            if any(isinstance(v, float) for v in values) and all(
                v is None or isinstance(v, int | float) for v in values
            ):
                columns[name] = np.array([np.nan if v is None else v for v in values], float)
            else:
                columns[name] = np.array(values, dtype=object)
        return frame_from_columns(columns, backend)

    def as_text(self) -> str:
        return format_conversion_table(self)

    def as_html(self) -> str:
        header, lines = _table_cells(self)
        records: list[Mapping[str, Any]] = [dict(zip(header, line, strict=True)) for line in lines]
        return html_table(
            records,
            caption=f"{self.title} ({self.conf_level:.0%} intervals; times in "
            f"{self.time_unit.value}s)",
        )

    def plot(self, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """Funnel chart of naive and eventual rates with their intervals."""
        from funnelkit.conversion.plotting import plot_funnel

        return plot_funnel(self, ax=ax, **kwargs)


def _end(ci: Interval | None, side: int) -> float | None:
    return None if ci is None else ci[side]


def _pct(value: float | None, ci: Interval | None) -> str:
    if value is None:
        return "not estimable"
    band = "n/a" if ci is None else f"{ci[0]:.1%}-{ci[1]:.1%}"
    return f"{value:6.1%} ({band})"


def _time(value: float | None, ci: Interval | None) -> str:
    if value is None:
        return "not estimable"
    band = "n/a" if ci is None else f"{ci[0]:.3g}-{ci[1]:.3g}"
    return f"{value:.3g} ({band})"


def _table_cells(summary: ConversionSummary) -> tuple[list[str], list[list[str]]]:
    header = [
        "transition",
        "entered",
        "converted",
        "naive rate",
        "eventual rate",
        f"median {summary.time_unit.value}s",
        "model",
    ]
    lines = []
    for row in summary.rows:
        name = f"{row.source} -> {row.target}"
        if row.segment is not None:
            name += f" [{row.segment}]"
        lines.append(
            [
                name,
                f"{row.n_entered:,}",
                f"{row.n_converted:,}",
                _pct(row.naive_rate, row.naive_rate_ci),
                _pct(row.eventual_rate, row.eventual_rate_ci),
                _time(row.median_time, row.median_time_ci),
                row.model,
            ]
        )
    return header, lines


def format_conversion_table(summary: ConversionSummary | Any) -> str:
    """Plain-text conversion table: naive versus eventual rate with intervals, median time.

    Takes a :class:`ConversionSummary` or a fitted :class:`ConversionFitter`. Uses ASCII only,
    for terminals and logs (``funnelkit demo`` prints it).

    Examples
    --------
    >>> from funnelkit.datasets.conversion import simulate_transitions
    >>> from funnelkit import ConversionFitter
    >>> fitter = ConversionFitter().fit(simulate_transitions(1000, seed=2).journeys)
    >>> print(format_conversion_table(fitter).splitlines()[0])
    Stage conversion (95% intervals; times in days since entering the source stage)
    """
    if not isinstance(summary, ConversionSummary):
        summary = summary.conversion_summary()
    header, lines = _table_cells(summary)
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    right = {1, 2}

    def fmt(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(parts).rstrip()

    title = (
        f"{summary.title} ({summary.conf_level:.0%} intervals; times in "
        f"{summary.time_unit.value}s since entering "
        "the source stage)"
    )
    note = (
        "  naive = converted / entered (Wilson interval); eventual = censoring-aware share "
        "who ever convert"
    )
    return "\n".join([title, fmt(header), *(fmt(r) for r in lines), note])
