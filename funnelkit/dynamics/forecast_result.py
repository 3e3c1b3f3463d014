"""StageForecast: the frozen result of a stage-count forecast."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, html_table
from funnelkit.units import TimeUnitField

__all__ = ["StageForecast"]

Curve = tuple[float, ...]
Quantity = Literal["occupancy", "reached", "dormant"]


class StageForecast(Result):
    """Expected stage counts over a horizon, with prediction intervals.

    ``reached[s]`` is the expected number of customers who will have reached stage ``s`` by the
    horizon; ``occupancy[s]`` the expected number *active* in exactly stage ``s`` then (for the
    last stage: everyone in it); ``dormant`` the expected number who have silently left. Each
    has ``*_lower``/``*_upper`` prediction bounds and a curve over ``times`` (from now, 0, to the
    horizon, in ``time_unit``). None marks what depends on an intensity that is not estimable.
    ``interval_method`` says how the intervals were computed.

    Examples
    --------
    >>> from funnelkit.dynamics import StageMarkovFitter, simulate_stage_chain
    >>> sim = simulate_stage_chain(500, advance_rates=[0.2], dropout_rates=[0.1], seed=3)
    >>> journeys = sim.funnel.journeys(sim.log(), observation_end=40.0)
    >>> fc = StageMarkovFitter().fit(journeys).forecast(journeys, horizon=10.0, n_draws=50)
    >>> fc.reached_lower["s1"] <= fc.reached["s1"] <= fc.reached_upper["s1"]
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
    n_draws: int
    interval_method: str
    reached: dict[str, float | None]
    reached_lower: dict[str, float | None]
    reached_upper: dict[str, float | None]
    occupancy: dict[str, float | None]
    occupancy_lower: dict[str, float | None]
    occupancy_upper: dict[str, float | None]
    dormant: float | None
    dormant_lower: float | None
    dormant_upper: float | None
    times: Curve
    reached_curve: dict[str, Curve | None]
    reached_curve_lower: dict[str, Curve | None]
    reached_curve_upper: dict[str, Curve | None]
    occupancy_curve: dict[str, Curve | None]
    occupancy_curve_lower: dict[str, Curve | None]
    occupancy_curve_upper: dict[str, Curve | None]
    dormant_curve: Curve | None
    dormant_curve_lower: Curve | None
    dormant_curve_upper: Curve | None

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
        values: dict[str, Any] = {}
        for label, arr in (("", point), ("_lower", lower), ("_upper", upper)):
            curves = [None if masked[q] else tuple(float(v) for v in arr[:, q]) for q in
                      range(2 * k + 1)]  # fmt: skip
            ends = [None if c is None else c[-1] for c in curves]
            values[f"reached{label}"] = dict(zip(stage_names, ends[:k], strict=True))
            values[f"occupancy{label}"] = dict(zip(stage_names, ends[k : 2 * k], strict=True))
            values[f"dormant{label}"] = ends[2 * k]
            values[f"reached_curve{label}"] = dict(zip(stage_names, curves[:k], strict=True))
            values[f"occupancy_curve{label}"] = dict(
                zip(stage_names, curves[k : 2 * k], strict=True)
            )
            values[f"dormant_curve{label}"] = curves[2 * k]
        return cls(
            stage_names=stage_names,
            times=tuple(float(t) for t in times),
            **values,
            **fields,
        )

    def curve(self, quantity: Quantity, stage: str | None = None) -> tuple[Curve, ...] | None:
        """``(expected, lower, upper)`` curves of one quantity (None if not estimable)."""
        if quantity == "dormant":
            parts = (self.dormant_curve, self.dormant_curve_lower, self.dormant_curve_upper)
        else:
            if stage not in self.stage_names:
                from funnelkit.exceptions import FunnelkitError

                raise FunnelkitError(
                    f"No stage named {stage!r}; stages are {list(self.stage_names)}."
                )
            prefix = f"{quantity}_curve"
            parts = tuple(
                getattr(self, prefix + suffix)[stage] for suffix in ("", "_lower", "_upper")
            )
        if any(p is None for p in parts):
            return None
        return parts  # type: ignore[return-value]

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
                f"  {rec['stage']}: reached {_band(rec, 'reached')}; "
                f"active {_band(rec, 'occupancy')}"
            )
        return "\n".join(lines)

    def as_html(self) -> str:
        caption = f"{self.title} at {self.horizon:g} {self.time_unit.value}s"
        return html_table([dict(r) for r in self.table()], caption=caption)

    def plot(self, *, quantity: Quantity = "occupancy", ax: Any = None, **kwargs: Any) -> Any:
        """Plot the forecast curves with their intervals; returns the matplotlib Axes."""
        from funnelkit.dynamics.plotting import plot_stage_forecast

        return plot_stage_forecast(self, quantity=quantity, ax=ax, **kwargs)


def _band(rec: dict[str, Any], key: str) -> str:
    value = rec[key]
    if value is None:
        return "n/a" if key == "reached" else "not estimable"
    lo, hi = rec[f"{key}_lower"], rec[f"{key}_upper"]
    return f"{value:.1f} [{lo:.1f}, {hi:.1f}]"
