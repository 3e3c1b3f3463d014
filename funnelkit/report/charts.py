"""Charts as inline SVG, drawn from the numbers stored in a report (no plotting library).

Every function takes plain numbers and returns one ``<svg>`` element as a string: well-formed
XML, no scripts, no external resources, so a report renders the same offline, in any browser,
and after being loaded back from JSON. Bars, points and bins carry a ``<title>``: the browser
shows it as a tooltip with the exact number. Legends sit below the plotting area, never on
the curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

__all__ = ["bar_chart", "histogram_chart", "line_chart", "nice_ticks"]

PALETTE = ("#2a6f97", "#e07a5f", "#3d9970", "#9c6ade", "#f2a541", "#5c677d", "#c9184a")
FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"
#: height of one legend row below the plotting area
LEGEND_ROW = 16
#: points per curve that carry a tooltip (a marker every few grid steps)
TIP_POINTS = 12

PointTip = Callable[[str, float, float, float | None, float | None], str]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def _fmt(value: float, scale: float | None = None) -> str:
    """A tick label; ``scale`` (the largest tick) keeps the labels of one axis alike."""
    magnitude = abs(value) if scale is None else abs(scale)
    if value == 0:
        return "0"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.3g}"


class _Plot:
    """A plotting area with linear axes; collects SVG elements."""

    def __init__(
        self,
        width: int,
        height: int,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        *,
        left: int = 60,
        right: int = 16,
        top: int = 30,
        bottom: int = 44,
        legend_rows: int = 0,
    ) -> None:
        # the legend gets its own rows under the x-axis label
        bottom += LEGEND_ROW * legend_rows + (6 if legend_rows else 0)
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = left, right, top, bottom
        self.xlim, self.ylim = xlim, ylim
        self.parts: list[str] = []

    def x(self, value: float) -> float:
        lo, hi = self.xlim
        span = (hi - lo) or 1.0
        return self.left + (value - lo) / span * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        lo, hi = self.ylim
        span = (hi - lo) or 1.0
        return (
            self.height - self.bottom - (value - lo) / span * (self.height - self.top - self.bottom)
        )

    def text(
        self,
        x: float,
        y: float,
        label: str,
        *,
        anchor: str = "middle",
        size: int = 11,
        color: str = "#333",
        weight: str = "normal",
    ) -> None:
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{color}" font-weight="{weight}">{escape(label)}</text>'
        )

    def axes(
        self,
        title: str,
        xlabel: str,
        ylabel: str,
        *,
        xticks: bool = True,
        yticks: bool = True,
        ytick_format: Callable[[float], str] | None = None,
    ) -> None:
        x0, x1 = self.left, self.width - self.right
        y0, y1 = self.height - self.bottom, self.top
        if yticks:
            ticks = nice_ticks(*self.ylim)
            for t in ticks:
                if self.ylim[0] - 1e-12 <= t <= self.ylim[1] + 1e-12:
                    yy = self.y(t)
                    self.parts.append(
                        f'<line x1="{x0}" y1="{yy:.1f}" x2="{x1}" y2="{yy:.1f}" stroke="#e5e5e5"/>'
                    )
                    label = (
                        _fmt(t, max(ticks, key=abs)) if ytick_format is None else ytick_format(t)
                    )
                    self.text(x0 - 6, yy + 4, label, anchor="end", size=10)
        if xticks:
            ticks = nice_ticks(*self.xlim)
            for t in ticks:
                if self.xlim[0] - 1e-12 <= t <= self.xlim[1] + 1e-12:
                    xx = self.x(t)
                    self.parts.append(
                        f'<line x1="{xx:.1f}" y1="{y0}" x2="{xx:.1f}" y2="{y0 + 4}" stroke="#777"/>'
                    )
                    self.text(xx, y0 + 16, _fmt(t, max(ticks, key=abs)), size=10)
        self.parts.append(
            f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#777"/>'
            f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#777"/>'
        )
        self.text(self.width / 2, 18, title, size=13, weight="bold")
        if xlabel:
            self.text((x0 + x1) / 2, y0 + 34, xlabel)
        if ylabel:
            cy = (y0 + y1) / 2
            self.parts.append(
                f'<text x="14" y="{cy:.1f}" text-anchor="middle" font-size="11" fill="#333" '
                f'transform="rotate(-90 14 {cy:.1f})">{escape(ylabel)}</text>'
            )

    def polyline(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        color: str,
        *,
        dash: str | None = None,
        width: float = 2.0,
    ) -> None:
        points = " ".join(
            f"{self.x(a):.1f},{self.y(b):.1f}"
            for a, b in zip(xs, ys, strict=True)
            if math.isfinite(a) and math.isfinite(b)
        )
        if points:
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            self.parts.append(
                f'<polyline points="{points}" fill="none" stroke="{color}" '
                f'stroke-width="{width}"{extra}/>'
            )

    def band(
        self, xs: Sequence[float], lower: Sequence[float], upper: Sequence[float], color: str
    ) -> None:
        keep = [
            (a, lo, hi)
            for a, lo, hi in zip(xs, lower, upper, strict=True)
            if math.isfinite(a) and math.isfinite(lo) and math.isfinite(hi)
        ]
        if len(keep) < 2:
            return
        top = [f"{self.x(a):.1f},{self.y(hi):.1f}" for a, _, hi in keep]
        bottom = [f"{self.x(a):.1f},{self.y(lo):.1f}" for a, lo, _ in reversed(keep)]
        self.parts.append(
            f'<polygon points="{" ".join(top + bottom)}" fill="{color}" fill-opacity="0.18" '
            'stroke="none"/>'
        )

    def legend(self, labels: Sequence[tuple[str, str, str | None]]) -> None:
        """One row per series below the x-axis label (the rows ``legend_rows`` reserved)."""
        x = self.left + 10
        y = self.height - self.bottom + 50
        for label, color, dash in labels:
            extra = f' stroke-dasharray="{dash}"' if dash else ""
            self.parts.append(
                f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{color}" '
                f'stroke-width="2.5"{extra}/>'
            )
            self.text(x + 24, y + 4, label, anchor="start", size=10)
            y += LEGEND_ROW

    def point(self, x: float, y: float, color: str, tip: str) -> None:
        """A small marker whose tooltip gives the exact numbers at that point."""
        self.parts.append(
            f'<circle cx="{self.x(x):.1f}" cy="{self.y(y):.1f}" r="3" fill="{color}" '
            f'stroke="#fff" stroke-width="0.8"><title>{escape(tip)}</title></circle>'
        )

    def svg(self, label: str) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{escape(label)}" style="{FONT}">'
            f"<title>{escape(label)}</title>" + "".join(self.parts) + "</svg>"
        )


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    value_label: str,
    lower: Sequence[float | None] | None = None,
    upper: Sequence[float | None] | None = None,
    annotations: Sequence[str] | None = None,
    tooltips: Sequence[str] | None = None,
    width: int = 640,
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars with optional interval whiskers and a text note per bar.

    ``tooltips`` (one text per bar) become each bar's ``<title>``; by default the label and
    the value.
    """
    n = max(len(labels), 1)
    height = 60 + 34 * n
    finite = [v for v in values if v is not None and math.isfinite(v)]
    tops = finite + [u for u in (upper or []) if u is not None and math.isfinite(u)]
    high = max(tops) if tops else 1.0
    low = min(0.0, *finite) if finite else 0.0
    left = min(220, 14 + 7 * max((len(s) for s in labels), default=4))
    plot = _Plot(
        width,
        height,
        (low, high * 1.08 if high > 0 else 1.0),
        (0.0, float(n)),
        left=left,
        right=130 if annotations else 24,
    )
    plot.axes(title, value_label, "", yticks=False)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        centre = plot.y(n - i - 0.5)
        plot.text(left - 8, centre + 4, label, anchor="end")
        if value is None or not math.isfinite(value):
            plot.text(plot.x(low) + 6, centre + 4, "not estimable", anchor="start", color="#999")
            continue
        x0, x1 = sorted((plot.x(0.0 if low <= 0 else low), plot.x(value)))
        tip = f"{label}: {_fmt(value)}" if tooltips is None else tooltips[i]
        plot.parts.append(
            f'<rect x="{x0:.1f}" y="{centre - 11:.1f}" width="{max(x1 - x0, 0.5):.1f}" '
            f'height="22" fill="{color}" rx="2"><title>{escape(tip)}</title></rect>'
        )
        lo = None if lower is None else lower[i]
        hi = None if upper is None else upper[i]
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            a, b = plot.x(lo), plot.x(hi)
            plot.parts.append(
                f'<line x1="{a:.1f}" y1="{centre:.1f}" x2="{b:.1f}" y2="{centre:.1f}" '
                'stroke="#222" stroke-width="1.5"/>'
                f'<line x1="{a:.1f}" y1="{centre - 6:.1f}" x2="{a:.1f}" y2="{centre + 6:.1f}" '
                'stroke="#222" stroke-width="1.5"/>'
                f'<line x1="{b:.1f}" y1="{centre - 6:.1f}" x2="{b:.1f}" y2="{centre + 6:.1f}" '
                'stroke="#222" stroke-width="1.5"/>'
            )
        if annotations is not None:
            plot.text(width - 124, centre + 4, annotations[i], anchor="start", size=10)
    return plot.svg(title)


def line_chart(
    series: Sequence[dict[str, Any]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
    width: int = 420,
    height: int = 280,
    point_tip: PointTip | None = None,
    ytick_format: Callable[[float], str] | None = None,
) -> str:
    """Lines (``x``, ``y``, optional ``lower``/``upper`` band, ``label``, ``dash``, ``color``).

    A few points of each line carry a marker whose tooltip is
    ``point_tip(label, x, y, lower, upper)`` (default: the label and the two numbers).
    """
    xs = [float(v) for s in series for v in s["x"]]
    ys = [
        float(v)
        for s in series
        for key in ("y", "lower", "upper")
        for v in (s.get(key) or [])
        if v is not None and math.isfinite(float(v))
    ]
    finite_x = [v for v in xs if math.isfinite(v)]
    xlim = (0.0, max(finite_x) if finite_x else 1.0)
    rows = sum(1 for s in series if s.get("label"))
    plot = _Plot(
        width,
        height + LEGEND_ROW * rows,
        xlim,
        ylim or (0.0, max(ys) * 1.05 if ys else 1.0),
        legend_rows=rows,
    )
    plot.axes(title, xlabel, ylabel, ytick_format=ytick_format)
    tip = point_tip or (lambda label, x, y, lo, hi: f"{label}: {_fmt(x)}, {_fmt(y)}")
    markers: list[tuple[float, float, str, str]] = []
    legend = []
    for i, s in enumerate(series):
        color = str(s.get("color") or PALETTE[i % len(PALETTE)])
        x = [float(v) for v in s["x"]]
        if s.get("lower") is not None and s.get("upper") is not None:
            lo = [math.nan if v is None else float(v) for v in s["lower"]]
            hi = [math.nan if v is None else float(v) for v in s["upper"]]
            plot.band(x, lo, hi, color)
        y = [math.nan if v is None else float(v) for v in s["y"]]
        dash = s.get("dash")
        plot.polyline(x, y, color, dash=None if dash is None else str(dash))
        if s.get("label"):
            legend.append((str(s["label"]), color, None if dash is None else str(dash)))
        lower, upper = s.get("lower"), s.get("upper")
        every = max(1, len(x) // TIP_POINTS)
        for j in range(every, len(x), every):
            if math.isfinite(x[j]) and math.isfinite(y[j]):
                tip_lo = None if lower is None or lower[j] is None else float(lower[j])
                tip_hi = None if upper is None or upper[j] is None else float(upper[j])
                text = tip(str(s.get("label") or ""), x[j], y[j], tip_lo, tip_hi)
                markers.append((x[j], y[j], color, text))
    # markers last, so every one is on top of the lines and bands and can be hovered
    for mx, my, color, text in markers:
        plot.point(mx, my, color, text)
    if legend:
        plot.legend(legend)
    return plot.svg(title)


def histogram_chart(
    edges: Sequence[float],
    counts: Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    title: str,
    xlabel: str,
    width: int = 640,
    height: int = 300,
    edge_format: Callable[[float], str] | None = None,
) -> str:
    """Overlaid step histograms (shares of each group per bin) on common bin ``edges``.

    Each bin has a tooltip with its range (written by ``edge_format``) and every group's share.
    """
    shares = []
    for c in counts:
        total = float(sum(c)) or 1.0
        shares.append([v / total for v in c])
    top = max((max(s) for s in shares if s), default=1.0)
    plot = _Plot(
        width,
        height + LEGEND_ROW * len(labels),
        (float(edges[0]), float(edges[-1])),
        (0.0, top * 1.1 or 1.0),
        legend_rows=len(labels),
    )
    plot.axes(title, xlabel, "share of customers")
    fmt = edge_format or _fmt
    for j in range(len(edges) - 1):
        a, b = plot.x(float(edges[j])), plot.x(float(edges[j + 1]))
        parts = ", ".join(
            f"{share[j]:.1%} of {label}" for share, label in zip(shares, labels, strict=True)
        )
        tip = f"{fmt(float(edges[j]))} to {fmt(float(edges[j + 1]))}: {parts}"
        # an invisible column over the whole bin: hovering anywhere in it shows the shares
        plot.parts.append(
            f'<rect x="{a:.1f}" y="{plot.top}" width="{max(b - a, 0.5):.1f}" '
            f'height="{plot.y(0.0) - plot.top:.1f}" fill="#000" fill-opacity="0">'
            f"<title>{escape(tip)}</title></rect>"
        )
    legend = []
    for i, (share, label) in enumerate(zip(shares, labels, strict=True)):
        color = PALETTE[i % len(PALETTE)]
        xs, ys = [float(edges[0])], [0.0]
        for j, v in enumerate(share):
            xs += [float(edges[j]), float(edges[j + 1])]
            ys += [v, v]
        xs.append(float(edges[-1]))
        ys.append(0.0)
        plot.polyline(xs, ys, color)
        legend.append((label, color, None))
    plot.legend(legend)
    return plot.svg(title)
