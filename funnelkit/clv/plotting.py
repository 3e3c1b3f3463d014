"""Plots of CLV diagnostics and predictions (matplotlib is imported only when plotting).

Every function returns the matplotlib ``Axes`` it drew on. They take diagnostic results (which
may have been loaded back from JSON) or fitted models (also after ``from_json``: grids are
built from explicit arguments, never from training data the model may not carry).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funnelkit._optional import import_optional
from funnelkit.clv.diagnostics import (
    CumulativeTransactions,
    FrequencyHistogram,
    HoldoutComparison,
)
from funnelkit.exceptions import FunnelkitError

__all__ = [
    "plot_calibration_holdout",
    "plot_cumulative_transactions",
    "plot_expected_purchases_matrix",
    "plot_frequency_histogram",
    "plot_probability_alive_matrix",
]


def _axes(ax: Any) -> Any:
    if ax is not None:
        return ax
    plt = import_optional("matplotlib.pyplot", purpose="plotting")
    return plt.subplots()[1]


def _unit(result: Any) -> str:
    unit = getattr(result, "time_unit", None)
    return "periods" if unit is None else f"{unit.value}s"


def plot_calibration_holdout(result: HoldoutComparison, *, ax: Any = None) -> Any:
    """Mean holdout purchases, actual vs expected, by calibration repeat frequency.

    Examples
    --------
    >>> from funnelkit.clv.diagnostics import HoldoutComparison
    >>> check = HoldoutComparison(model="demo", time_unit="W", n_customers=3,
    ...     mean_holdout_duration=10.0, total_expected=3.0, total_actual=2.0, mae=0.5, rmse=0.6,
    ...     bucket=[0, 1], bucket_customers=[2, 1], mean_expected=[0.5, 2.0],
    ...     mean_actual=[0.5, 1.0])
    >>> ax = plot_calibration_holdout(check)
    >>> ax.get_xlabel()
    'Repeat purchases in calibration'
    """
    if not isinstance(result, HoldoutComparison):
        raise FunnelkitError("plot_calibration_holdout needs a HoldoutComparison result.")
    ax = _axes(ax)
    labels = [str(b) for b in result.bucket]
    labels[-1] += "+"
    x = np.arange(len(labels))
    ax.plot(x, result.mean_actual, marker="o", label="actual")
    ax.plot(x, result.mean_expected, marker="s", linestyle="--", label=f"{result.model}")
    ax.set_xticks(x, labels)
    ax.set_xlabel("Repeat purchases in calibration")
    ax.set_ylabel(f"Mean purchases in holdout ({result.mean_holdout_duration:g} {_unit(result)})")
    ax.set_title("Calibration vs holdout purchases")
    ax.legend()
    return ax


def plot_frequency_histogram(result: FrequencyHistogram, *, ax: Any = None) -> Any:
    """Customers by repeat-purchase count in calibration, observed vs expected (bars)."""
    if not isinstance(result, FrequencyHistogram):
        raise FunnelkitError("plot_frequency_histogram needs a FrequencyHistogram result.")
    ax = _axes(ax)
    labels = [str(f) for f in result.frequency]
    labels[-1] += "+"
    x = np.arange(len(labels))
    ax.bar(x - 0.2, result.observed, width=0.4, label="observed")
    ax.bar(x + 0.2, result.expected, width=0.4, label=result.model)
    ax.set_xticks(x, labels)
    ax.set_xlabel("Repeat purchases in calibration")
    ax.set_ylabel("Customers")
    ax.set_title("Repeat-purchase frequency")
    ax.legend()
    return ax


def plot_cumulative_transactions(
    result: CumulativeTransactions, *, incremental: bool = False, ax: Any = None
) -> Any:
    """Actual vs expected repeat transactions over time (cumulative or per period)."""
    if not isinstance(result, CumulativeTransactions):
        raise FunnelkitError("plot_cumulative_transactions needs a CumulativeTransactions result.")
    ax = _axes(ax)
    actual = np.asarray(result.actual)
    expected = np.asarray(result.expected)
    if incremental:
        actual = np.diff(actual, prepend=0.0)
        expected = np.diff(expected, prepend=0.0)
    ax.plot(result.period, actual, label="actual")
    ax.plot(result.period, expected, linestyle="--", label=result.model)
    if result.calibration_period is not None:
        ax.axvline(
            result.calibration_period, color="grey", linestyle=":", label="end of calibration"
        )
    ax.set_xlabel(f"{_unit(result).capitalize()} since {result.start}")
    ax.set_ylabel("Repeat transactions" + (" per period" if incremental else " (cumulative)"))
    ax.set_title("Tracking repeat transactions")
    ax.legend()
    return ax


def _matrix(
    model: Any, max_frequency: int | None, T: float | None, values: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    training = getattr(model, "training_data_", None)
    if T is None:
        if training is None:
            raise FunnelkitError(
                "This model carries no training data (loaded from JSON?): pass T=... (the "
                "customer age to show) and max_frequency=..."
            )
        T = float(np.max(training["T"]))
    if max_frequency is None:
        max_frequency = (
            int(np.max(training["frequency"])) if training is not None else int(np.ceil(T))
        )
    age = float(T)
    if age <= 0 or max_frequency < 1:
        raise FunnelkitError("T must be > 0 and max_frequency >= 1.")
    freq = np.arange(max_frequency + 1, dtype=float)
    recency = np.linspace(0.0, age, min(int(np.ceil(age)) + 1, 201))
    f, r = np.meshgrid(freq, recency, indexing="ij")
    valid = ~((f == 0) & (r > 0))  # no repeat purchase means recency 0
    grid = {"frequency": f[valid], "recency": r[valid], "T": np.full(int(valid.sum()), age)}
    z = np.full(f.shape, np.nan)
    z[valid] = values(grid)
    return freq, recency, z, age


def _heatmap(
    ax: Any, freq: np.ndarray, recency: np.ndarray, z: np.ndarray, label: str, title: str
) -> Any:
    image = ax.imshow(
        z,
        origin="lower",
        aspect="auto",
        extent=(recency[0], recency[-1], freq[0] - 0.5, freq[-1] + 0.5),
        cmap="viridis",
    )
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xlabel("Recency (time of last repeat purchase)")
    ax.set_ylabel("Frequency (repeat purchases)")
    ax.set_title(title)
    return ax


def plot_probability_alive_matrix(
    model: Any, *, T: float | None = None, max_frequency: int | None = None, ax: Any = None
) -> Any:
    """Heat map of P(alive) over frequency x recency for customers of age ``T``.

    ``T`` and ``max_frequency`` default to the largest in the training data; pass them for a
    model loaded from JSON.
    """
    freq, recency, z, age = _matrix(model, max_frequency, T, model.probability_alive)
    ax = _axes(ax)
    return _heatmap(ax, freq, recency, z, "P(alive)", f"Probability alive, T = {age:g}")


def plot_expected_purchases_matrix(
    model: Any,
    *,
    t: float = 1.0,
    T: float | None = None,
    max_frequency: int | None = None,
    ax: Any = None,
) -> Any:
    """Heat map of expected purchases in the next ``t`` time units over frequency x recency."""
    freq, recency, z, age = _matrix(
        model, max_frequency, T, lambda grid: model.expected_purchases(t, grid)
    )
    ax = _axes(ax)
    return _heatmap(
        ax,
        freq,
        recency,
        z,
        f"Expected purchases in next {t:g}",
        f"Expected purchases, T = {age:g}",
    )
