"""StageForecast: the frozen result of a stage-count forecast."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.exceptions import FunnelkitError
from funnelkit.units import TimeUnitField

__all__ = ["ForecastBand", "StageForecast"]

Curve = tuple[float, ...]
Quantity = Literal["occupancy", "reached", "dormant"]


class ForecastBand(BaseModel):
    """One forecast curve over ``StageForecast.times``: expected values and prediction bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
    expected: Curve
    lower: Curve
    upper: Curve

    def at_horizon(self, level: float | None = None) -> Interval:
        """The value at the horizon (the curve's last point) as an :class:`Interval`."""
        return Interval(
            estimate=self.expected[-1], lower=self.lower[-1], upper=self.upper[-1], level=level
        )


def _ends(bands: dict[str, ForecastBand | None], part: str) -> dict[str, float | None]:
    return {k: None if b is None else getattr(b, part)[-1] for k, b in bands.items()}


def _curves(bands: dict[str, ForecastBand | None], part: str) -> dict[str, Curve | None]:
    return {k: None if b is None else getattr(b, part) for k, b in bands.items()}


class StageForecast(Result):
    """Expected stage counts over a horizon, with prediction intervals.

    ``reached_bands[s]`` is the expected number of customers who will have reached stage ``s``
    over ``times`` (from now, 0, to the horizon, in ``time_unit``), with prediction bounds;
    ``occupancy_bands[s]`` the expected number *active* in exactly stage ``s`` (for the last
    stage: everyone in it); ``dormant_band`` the expected number who have silently left. None
    marks what depends on an intensity that is not estimable. :meth:`interval` gives a value
    at the horizon as an :class:`~funnelkit._results.Interval`; the flat views ``reached``,
    ``reached_lower``, ``reached_curve`` ... (same for ``occupancy`` and ``dormant``) read the
    same numbers. ``interval_method`` says how the intervals were computed.

    Examples
    --------
    >>> from funnelkit.dynamics import StageMarkovFitter, simulate_stage_chain
    >>> sim = simulate_stage_chain(500, advance_rates=[0.2], dropout_rates=[0.1], seed=3)
    >>> journeys = sim.funnel.journeys(sim.log(), observation_end=40.0)
    >>> fc = StageMarkovFitter().fit(journeys).forecast(journeys, horizon=10.0, n_resamples=50)
    >>> fc.reached_lower["s1"] <= fc.reached["s1"] <= fc.reached_upper["s1"]
    True
    >>> lower, upper = fc.interval("reached", "s1")
    >>> (lower, upper) == (fc.reached_lower["s1"], fc.reached_upper["s1"])
    True
    >>> StageForecast.from_json(fc.to_json()) == fc
    True
    """

    title: ClassVar[str] = "Stage forecast"
    stage_names: tuple[str, ...]
    time_unit: TimeUnitField
    horizon: float
    conf_level: float
    n_customers: int
    inflow: float | None = None
    inflow_stage: str | None = None
    n_resamples: int
    interval_method: str
    times: Curve
    reached_bands: dict[str, ForecastBand | None]
    occupancy_bands: dict[str, ForecastBand | None]
    dormant_band: ForecastBand | None

    @model_validator(mode="before")
    @classmethod
    def _former_layout(cls, data: Any) -> Any:
        # JSON written before the bands were grouped held 18 parallel fields.
        if not isinstance(data, dict) or "reached_curve" not in data:
            return data
        data = dict(data)
        data.setdefault("n_resamples", data.pop("n_draws", 0))
        for quantity in ("reached", "occupancy"):
            parts = [data.pop(f"{quantity}_curve{sfx}") for sfx in ("", "_lower", "_upper")]
            data[f"{quantity}_bands"] = {
                stage: _band(*(p[stage] for p in parts)) for stage in parts[0]
            }
            for sfx in ("", "_lower", "_upper"):
                data.pop(f"{quantity}{sfx}", None)
        parts = [data.pop(f"dormant_curve{sfx}") for sfx in ("", "_lower", "_upper")]
        data["dormant_band"] = _band(*parts)
        for sfx in ("", "_lower", "_upper"):
            data.pop(f"dormant{sfx}", None)
        return data

    @classmethod
    def from_arrays(
        cls,
        *,
        times: np.ndarray,
        point: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        masked: np.ndarray,
        stage_names: tuple[str, ...],
        **fields: Any,
    ) -> StageForecast:
        """Build from ``(T, 2K + 1)`` arrays: columns reached_k, active_k, dormant."""
        k = len(stage_names)
        bands = [
            None
            if masked[q]
            else ForecastBand(
                expected=tuple(point[:, q].tolist()),
                lower=tuple(lower[:, q].tolist()),
                upper=tuple(upper[:, q].tolist()),
            )
            for q in range(2 * k + 1)
        ]
        return cls(
            stage_names=stage_names,
            times=tuple(float(t) for t in times),
            reached_bands=dict(zip(stage_names, bands[:k], strict=True)),
            occupancy_bands=dict(zip(stage_names, bands[k : 2 * k], strict=True)),
            dormant_band=bands[2 * k],
            **fields,
        )

    def band(self, quantity: Quantity, stage: str | None = None) -> ForecastBand | None:
        """The curve of one quantity (of ``stage``, except for ``"dormant"``); None if unknown."""
        if quantity == "dormant":
            return self.dormant_band
        if quantity not in ("reached", "occupancy"):
            raise FunnelkitError(
                f"quantity must be 'reached', 'occupancy' or 'dormant'. Got {quantity!r} instead."
            )
        if stage not in self.stage_names:
            raise FunnelkitError(f"No stage named {stage!r}; stages are {list(self.stage_names)}.")
        bands = self.reached_bands if quantity == "reached" else self.occupancy_bands
        return bands[stage]

    def interval(self, quantity: Quantity, stage: str | None = None) -> Interval | None:
        """The value at the horizon with its prediction interval (None if not estimable)."""
        band = self.band(quantity, stage)
        return None if band is None else band.at_horizon(self.conf_level)

    def curve(self, quantity: Quantity, stage: str | None = None) -> tuple[Curve, ...] | None:
        """``(expected, lower, upper)`` curves of one quantity (None if not estimable)."""
        band = self.band(quantity, stage)
        return None if band is None else (band.expected, band.lower, band.upper)

    # The flat views of the bands, under the names the forecast has always used.
    @property
    def n_draws(self) -> int:
        """Former name of :attr:`n_resamples`, kept as an alias."""
        return self.n_resamples

    @property
    def reached(self) -> dict[str, float | None]:
        return _ends(self.reached_bands, "expected")

    @property
    def reached_lower(self) -> dict[str, float | None]:
        return _ends(self.reached_bands, "lower")

    @property
    def reached_upper(self) -> dict[str, float | None]:
        return _ends(self.reached_bands, "upper")

    @property
    def occupancy(self) -> dict[str, float | None]:
        return _ends(self.occupancy_bands, "expected")

    @property
    def occupancy_lower(self) -> dict[str, float | None]:
        return _ends(self.occupancy_bands, "lower")

    @property
    def occupancy_upper(self) -> dict[str, float | None]:
        return _ends(self.occupancy_bands, "upper")

    @property
    def dormant(self) -> float | None:
        return None if self.dormant_band is None else self.dormant_band.expected[-1]

    @property
    def dormant_lower(self) -> float | None:
        return None if self.dormant_band is None else self.dormant_band.lower[-1]

    @property
    def dormant_upper(self) -> float | None:
        return None if self.dormant_band is None else self.dormant_band.upper[-1]

    @property
    def reached_curve(self) -> dict[str, Curve | None]:
        return _curves(self.reached_bands, "expected")

    @property
    def reached_curve_lower(self) -> dict[str, Curve | None]:
        return _curves(self.reached_bands, "lower")

    @property
    def reached_curve_upper(self) -> dict[str, Curve | None]:
        return _curves(self.reached_bands, "upper")

    @property
    def occupancy_curve(self) -> dict[str, Curve | None]:
        return _curves(self.occupancy_bands, "expected")

    @property
    def occupancy_curve_lower(self) -> dict[str, Curve | None]:
        return _curves(self.occupancy_bands, "lower")

    @property
    def occupancy_curve_upper(self) -> dict[str, Curve | None]:
        return _curves(self.occupancy_bands, "upper")

    @property
    def dormant_curve(self) -> Curve | None:
        return None if self.dormant_band is None else self.dormant_band.expected

    @property
    def dormant_curve_lower(self) -> Curve | None:
        return None if self.dormant_band is None else self.dormant_band.lower

    @property
    def dormant_curve_upper(self) -> Curve | None:
        return None if self.dormant_band is None else self.dormant_band.upper

    def to_frame(self, backend: Backend = "pandas") -> Any:
        """Long table of the curves: time, quantity, stage, expected, lower, upper."""
        rows: list[tuple[str, str | None, tuple[Curve, ...] | None]] = []
        for stage in self.stage_names:
            rows.append(("reached", stage, self.curve("reached", stage)))
        for stage in self.stage_names:
            rows.append(("occupancy", stage, self.curve("occupancy", stage)))
        rows.append(("dormant", None, self.curve("dormant")))
        t = np.asarray(self.times)
        nan = np.full(t.size, np.nan)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in
            ("time", "quantity", "stage", "expected", "lower", "upper")}  # fmt: skip
        for quantity, where, parts in rows:
            cols["time"].append(t)
            cols["quantity"].append(np.full(t.size, quantity, dtype=object))
            cols["stage"].append(np.full(t.size, where, dtype=object))
            for name, i in (("expected", 0), ("lower", 1), ("upper", 2)):
                cols[name].append(nan if parts is None else np.asarray(parts[i]))
        return frame_from_columns({k: np.concatenate(v) for k, v in cols.items()}, backend)

    def table(self) -> list[dict[str, Any]]:
        """One record per stage at the horizon (plus dormant)."""
        records: list[dict[str, Any]] = [
            {
                "stage": s,
                "reached": self.reached[s],
                "reached_lower": self.reached_lower[s],
                "reached_upper": self.reached_upper[s],
                "occupancy": self.occupancy[s],
                "occupancy_lower": self.occupancy_lower[s],
                "occupancy_upper": self.occupancy_upper[s],
            }
            for s in self.stage_names
        ]
        records.append(
            {
                "stage": "(dormant)",
                "reached": None,
                "reached_lower": None,
                "reached_upper": None,
                "occupancy": self.dormant,
                "occupancy_lower": self.dormant_lower,
                "occupancy_upper": self.dormant_upper,
            }
        )
        return records

    def as_text(self) -> str:
        lines = [
            f"{self.title}: {self.n_customers} customers, horizon {self.horizon:g} "
            f"{self.time_unit.value}s ({self.conf_level:.0%} prediction intervals)"
        ]
        if self.inflow:
            lines.append(f"  inflow: {self.inflow:g} per {self.time_unit.value} into "
                         f"{self.inflow_stage}")  # fmt: skip
        for rec in self.table():
            lines.append(
                f"  {rec['stage']}: reached {_band_text(rec, 'reached')}; "
                f"active {_band_text(rec, 'occupancy')}"
            )
        return "\n".join(lines)

    def as_html(self) -> str:
        caption = f"{self.title} at {self.horizon:g} {self.time_unit.value}s"
        return html_table([dict(r) for r in self.table()], caption=caption)

    def plot(self, *, quantity: Quantity = "occupancy", ax: Any = None, **kwargs: Any) -> Any:
        """Plot the forecast curves with their intervals; returns the matplotlib Axes."""
        from funnelkit.dynamics.plotting import plot_stage_forecast

        return plot_stage_forecast(self, quantity=quantity, ax=ax, **kwargs)


def _band(expected: Curve | None, lower: Curve | None, upper: Curve | None) -> ForecastBand | None:
    if expected is None or lower is None or upper is None:
        return None
    return ForecastBand(expected=expected, lower=lower, upper=upper)


def _band_text(rec: dict[str, Any], key: str) -> str:
    value = rec[key]
    if value is None:
        return "n/a" if key == "reached" else "not estimable"
    lo, hi = rec[f"{key}_lower"], rec[f"{key}_upper"]
    return f"{value:.1f} [{lo:.1f}, {hi:.1f}]"
