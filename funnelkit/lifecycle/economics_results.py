"""Channel economics as a result: cost, value and return per acquisition channel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Result, html_table
from funnelkit.lifecycle.results import ValueEstimate, _Header

__all__ = ["NOT_WITHIN_HORIZON", "ChannelEconomics", "ChannelEconomicsRow"]

NOT_WITHIN_HORIZON = "not within the horizon"


def _num(value: float | None, fmt: str = ",.2f") -> str:
    return "n/a" if value is None else format(value, fmt)


class ChannelEconomicsRow(Result):
    """One channel: what it cost, what its prospects are worth, and the return.

    ``value_per_prospect`` is margin x the expected discounted value of a prospect over the
    horizon; ``roi`` is ``value_per_prospect / cost_per_prospect - 1`` (0: break-even);
    ``payback`` is the time, in the result's ``time_unit``, until the expected cumulative
    margin of a prospect covers its cost (None: not within the horizon).
    """

    channel: str
    prospects: int
    cost: float
    cost_per_prospect: float | None
    expected_buyers: float | None
    cost_per_buyer: float | None
    value_per_prospect: ValueEstimate
    roi: ValueEstimate
    payback: float | None

    @property
    def returned_per_unit(self) -> ValueEstimate:
        """What every 1.00 spent returns: ``1 + roi`` with its interval."""
        r = self.roi
        if r.value is None:
            return r
        ci = None if r.ci is None else (r.ci[0] + 1.0, r.ci[1] + 1.0)  # type: ignore[operator]
        return ValueEstimate(value=r.value + 1.0, ci=ci, std_error=r.std_error)


class ChannelEconomics(_Header):
    """Per channel: prospects, cost, value per prospect, ROI with its interval, payback.

    Built by :meth:`funnelkit.LifecycleModel.channel_value` (which returns its
    :meth:`summary`) and shown in the report. Intervals of the value and the ROI come from the
    same customer bootstrap as the stage values; the cost is taken as known.
    """

    title: ClassVar[str] = "Channel economics"
    by: str
    first_stage: str
    margin: float
    rows: tuple[ChannelEconomicsRow, ...]
    notes: tuple[str, ...] = ()

    def payback_text(self, payback: float | None) -> str:
        """``"4.2 months"``, or ``"not within the horizon"``."""
        if payback is None:
            return NOT_WITHIN_HORIZON
        return f"{payback:.1f} {self.time_unit.value}s"

    def summary(self, backend: Backend = "pandas") -> Any:
        """The economics table.

        Columns ``channel, prospects, cost, cost_per_prospect, cost_per_buyer,
        value_per_prospect, value_per_prospect_lower, value_per_prospect_upper, roi,
        roi_lower, roi_upper, payback`` (NaN where not estimable; ``payback`` as text with its
        unit, or ``"not within the horizon"``).
        """

        def col(values: list[float | None]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        def bound(est: ValueEstimate, side: int) -> float | None:
            return None if est.ci is None else est.ci[side]

        rows = self.rows
        return frame_from_columns(
            {
                "channel": np.array([r.channel for r in rows], dtype=object),
                "prospects": np.array([r.prospects for r in rows], dtype=np.int64),
                "cost": col([r.cost for r in rows]),
                "cost_per_prospect": col([r.cost_per_prospect for r in rows]),
                "cost_per_buyer": col([r.cost_per_buyer for r in rows]),
                "value_per_prospect": col([r.value_per_prospect.value for r in rows]),
                "value_per_prospect_lower": col([bound(r.value_per_prospect, 0) for r in rows]),
                "value_per_prospect_upper": col([bound(r.value_per_prospect, 1) for r in rows]),
                "roi": col([r.roi.value for r in rows]),
                "roi_lower": col([bound(r.roi, 0) for r in rows]),
                "roi_upper": col([bound(r.roi, 1) for r in rows]),
                "payback": np.array([self.payback_text(r.payback) for r in rows], dtype=object),
            },
            backend,
        )

    def sentences(self) -> list[str]:
        """One plain sentence per channel: what every 1.00 spent returns within the horizon."""
        within = f"within {self.horizon:g} {self.time_unit.value}s"
        out = []
        for row in self.rows:
            back = row.returned_per_unit
            if back.value is None:
                out.append(
                    f"{row.channel}: the return could not be estimated ({row.cost:,.2f} spent)."
                )
                continue
            band = "" if back.ci is None else f" ({back.ci[0]:.2f}-{back.ci[1]:.2f})"
            pay = (
                f"; the cost is paid back after {self.payback_text(row.payback)}"
                if row.payback is not None
                else "; the cost is not paid back within the horizon"
            )
            out.append(
                f"every 1.00 spent on {row.channel} returns {back.value:.2f}{band} {within}{pay}."
            )
        return out

    def as_text(self) -> str:
        lines = [f"{self.title}: margin {self.margin:g} ({self._horizon_text()})"]
        for row in self.rows:
            lines.append(
                f"  {row.channel:<14}{row.prospects:>10,} {self.first_stage}s  cost "
                f"{row.cost:,.2f}  per {self.first_stage}: {_num(row.cost_per_prospect)}  "
                f"value: {row.value_per_prospect}  ROI: {_num(row.roi.value, '.1%')}  "
                f"payback: {self.payback_text(row.payback)}"
            )
        lines += [f"  {s}" for s in self.sentences()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        rows: list[Mapping[str, Any]] = [
            {
                self.by: r.channel,
                "prospects": r.prospects,
                "cost": r.cost,
                "cost per prospect": r.cost_per_prospect,
                "cost per buyer": r.cost_per_buyer,
                "value per prospect": str(r.value_per_prospect),
                "ROI": _num(r.roi.value, ".1%"),
                "payback": self.payback_text(r.payback),
            }
            for r in self.rows
        ]
        return html_table(rows, caption=f"{self.title} ({self._horizon_text()})")

    def plot(self, ax: Any = None) -> Any:
        """ROI per channel with its interval (matplotlib); returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        labels = [r.channel for r in self.rows]
        roi = np.array([np.nan if r.roi.value is None else r.roi.value for r in self.rows])
        lo = np.array([np.nan if r.roi.ci is None else r.roi.ci[0] for r in self.rows])
        hi = np.array([np.nan if r.roi.ci is None else r.roi.ci[1] for r in self.rows])
        ypos = np.arange(len(labels))
        ax.barh(ypos, np.nan_to_num(roi), color="#2a6f97")
        err = np.vstack([np.nan_to_num(roi - lo), np.nan_to_num(hi - roi)])
        ax.errorbar(np.nan_to_num(roi), ypos, xerr=err, fmt="none", ecolor="#222")
        ax.axvline(0.0, color="#888", linewidth=1)
        ax.set_yticks(ypos, labels)
        ax.set_xlabel(f"ROI within {self.horizon:g} {self.time_unit.value}s (0 = break-even)")
        return ax
