"""The results of the covariate comparison of channel and membership, and their words.

:class:`CovariateComparison` is what :meth:`funnelkit.LifecycleModel.covariate_comparison`
returns; :func:`effect_sentence` says one effect in plain words (for the report too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Interval, Result, html_table
from funnelkit.clv.covariates import CovariateTest
from funnelkit.exceptions import FunnelkitError
from funnelkit.units import TimeUnitField

__all__ = [
    "MEMBER",
    "AdjustedValue",
    "CovariateComparison",
    "CovariateEffect",
    "effect_sentence",
    "factor_text",
    "is_clear",
]

#: the name of the membership covariate (0/1) in the coefficient tables
MEMBER = "member"
_NO_EFFECT = "no clear difference"


class CovariateEffect(Result):
    """One coefficient and its multiplicative effect ``exp(estimate)`` with interval.

    ``estimate``, ``std_error``, ``lower`` and ``upper`` are on the log scale (as in the
    fitters' ``coefficients_``); ``effect`` is ``exp`` of them: what the level multiplies
    (``multiplies`` says what, for this process and model) relative to the reference.
    """

    title: ClassVar[str] = "Covariate effect"
    process: str
    covariate: str
    estimate: float | None
    std_error: float | None
    lower: float | None
    upper: float | None
    effect: Interval
    multiplies: str


class AdjustedValue(Result):
    """Expected horizon value of a new buyer at one level, adjusted and raw.

    ``value`` is standardised (every buyer set to ``level``, their other covariate kept);
    ``raw_value`` refits the plain models on this level's buyers only (None when they are
    too few, with a note). ``repeat_purchases`` and ``spend_per_purchase`` are the adjusted
    parts of ``value`` (undiscounted count; spend per repeat purchase).
    """

    title: ClassVar[str] = "Adjusted value"
    covariate: str
    level: str
    n_buyers: int
    repeat_purchases: float
    spend_per_purchase: float
    value: float
    raw_repeat_purchases: float | None = None
    raw_value: float | None = None


class CovariateComparison(Result):
    """Channel and membership effects on buying, dropout and spend, adjusted for each other.

    Built by :meth:`funnelkit.LifecycleModel.covariate_comparison`; see
    :mod:`funnelkit.lifecycle.covariate_effects` for the method.
    """

    title: ClassVar[str] = "Channel and membership, adjusted for each other"
    by: str | None
    reference: str | None
    purchase_model: str
    effects: tuple[CovariateEffect, ...]
    purchase_test: CovariateTest
    spend_test: CovariateTest | None
    values: tuple[AdjustedValue, ...]
    n_buyers: int
    n_repeat_buyers: int
    horizon: float
    time_unit: TimeUnitField
    discount_rate: float
    conf_level: float
    value_unit: str
    notes: tuple[str, ...] = ()

    def effect(self, process: str, covariate: str) -> CovariateEffect:
        """The effect of ``covariate`` (``"member"``, ``"channel[tiktok]"``) on ``process``."""
        for row in self.effects:
            if row.process == process and row.covariate == covariate:
                return row
        known = sorted({(r.process, r.covariate) for r in self.effects})
        raise FunnelkitError(f"No effect of {covariate!r} on {process!r}; there are {known}.")

    def summary(self, backend: Backend = "pandas") -> Any:
        """One row per coefficient: ``process, covariate, estimate, std_error, lower, upper``
        (log scale) and ``effect, effect_lower, effect_upper`` (the factor ``exp(...)``)."""
        rows = self.effects

        def floats(values: list[float | None]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        return frame_from_columns(
            {
                "process": np.array([r.process for r in rows], dtype=object),
                "covariate": np.array([r.covariate for r in rows], dtype=object),
                "estimate": floats([r.estimate for r in rows]),
                "std_error": floats([r.std_error for r in rows]),
                "lower": floats([r.lower for r in rows]),
                "upper": floats([r.upper for r in rows]),
                "effect": floats([r.effect.estimate for r in rows]),
                "effect_lower": floats([r.effect.lower for r in rows]),
                "effect_upper": floats([r.effect.upper for r in rows]),
            },
            backend,
        )

    def values_summary(self, backend: Backend = "pandas") -> Any:
        """One row per level: ``covariate, level, n_buyers, value, raw_value,
        repeat_purchases, raw_repeat_purchases, spend_per_purchase`` (NaN: no raw figure)."""
        rows = self.values

        def floats(values: list[float | None]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        return frame_from_columns(
            {
                "covariate": np.array([r.covariate for r in rows], dtype=object),
                "level": np.array([r.level for r in rows], dtype=object),
                "n_buyers": np.array([r.n_buyers for r in rows], dtype=np.int64),
                "value": floats([r.value for r in rows]),
                "raw_value": floats([r.raw_value for r in rows]),
                "repeat_purchases": floats([r.repeat_purchases for r in rows]),
                "raw_repeat_purchases": floats([r.raw_repeat_purchases for r in rows]),
                "spend_per_purchase": floats([r.spend_per_purchase for r in rows]),
            },
            backend,
        )

    def sentences(self) -> list[str]:
        """The purchase, dropout and spend effects in plain words, one sentence each."""
        out = []
        for row in self.effects:
            text = effect_sentence(row, self.by, self.reference, self.conf_level)
            if text is not None:
                out.append(text)
        return out

    def _settings_text(self) -> str:
        unit = self.time_unit.value
        return (
            f"{self.purchase_model} and Gamma-Gamma with covariates; value of a new buyer's "
            f"repeat purchases over {self.horizon:g} {unit}s, discount {self.discount_rate:g} "
            f"per {unit}, in {self.value_unit}"
        )

    def as_text(self) -> str:
        lines = [f"{self.title} ({self._settings_text()})"]
        lines += [f"  {s}" for s in self.sentences()]
        for v in self.values:
            raw = "" if v.raw_value is None else f" (raw {v.raw_value:,.2f})"
            lines.append(f"  {v.covariate} = {v.level}: adjusted value {v.value:,.2f}{raw}")
        t = self.purchase_test
        lines.append(
            f"  likelihood-ratio test (purchase model): {t.statistic:.1f} on {t.df} df, "
            f"p = {t.p_value:.3g}"
        )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def effects_table(self) -> list[Mapping[str, Any]]:
        """The effects as records for display (factor with interval, log-scale estimate)."""
        return [
            {
                "process": r.process,
                "covariate": r.covariate,
                "effect": _factor(r.effect),
                "multiplies": r.multiplies,
            }
            for r in self.effects
        ]

    def values_table(self, money: Callable[[float], str] | None = None) -> list[Mapping[str, Any]]:
        """The adjusted and raw values as records for display (amounts by ``money``)."""
        money = money or (lambda v: f"{v:,.2f}")
        return [
            {
                "compared": "membership" if v.covariate == MEMBER else v.covariate,
                "level": v.level,
                "buyers": f"{v.n_buyers:,}",
                "adjusted value": money(v.value),
                "per-segment value": "—" if v.raw_value is None else money(v.raw_value),
            }
            for v in self.values
        ]

    def as_html(self, money: Callable[[float], str] | None = None) -> str:
        """The effects, the values (amounts by ``money``) and the tests as HTML tables."""
        tests = [("purchase model", self.purchase_test)]
        if self.spend_test is not None:
            tests.append(("spend model", self.spend_test))
        test_rows = {
            name: f"{t.statistic:.1f} on {t.df} df, p = {t.p_value:.3g}" for name, t in tests
        }
        return (
            html_table(self.effects_table(), caption=f"{self.title} ({self.purchase_model})")
            + html_table(
                self.values_table(money),
                caption=f"Value of a new buyer's repeat purchases over {self.horizon:g} "
                f"{self.time_unit.value}s",
            )
            + html_table(test_rows, caption="Likelihood-ratio tests of the covariates")
        )


def factor_text(value: float) -> str:
    """A multiplicative effect for reading: two decimals without trailing zeros (``2.76``,
    ``1.5``, ``1``), or three significant digits far from 1 (``1.79e+10``)."""
    if not 0.01 <= value < 100:
        # a coefficient the data hardly pin down keeps its magnitude
        return f"{value:.3g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _factor(ci: Interval) -> str:
    if ci.estimate is None:
        return "not estimable"
    if ci.lower is None or ci.upper is None:
        return f"{factor_text(ci.estimate)}x (no interval)"
    return f"{factor_text(ci.estimate)}x ({factor_text(ci.lower)}–{factor_text(ci.upper)})"


def is_clear(effect: CovariateEffect) -> bool:
    """Whether the effect's interval excludes 1 (no difference)."""
    ci = effect.effect
    return ci.lower is not None and ci.upper is not None and not ci.lower <= 1.0 <= ci.upper


def effect_sentence(
    row: CovariateEffect, by: str | None, reference: str | None, level: float
) -> str | None:
    """One effect in plain words (None when it could not be estimated)."""
    ci = row.effect
    if ci.estimate is None:
        return None
    if row.covariate == MEMBER:
        who, than, held = "Members", "non-members", f"from the same {by}" if by else ""
    else:
        name = row.covariate[len(f"{by}[") : -1] if by else row.covariate
        who, than = f"Customers from {name}", f"those from {reference}"
        held = "with the same membership"
    factor = factor_text(ci.estimate)
    verb = {
        "purchase": f"buy {factor}x as often as",
        "spend": f"spend {factor}x as much per purchase as",
        "dropout": f"have {factor}x the {row.multiplies} of",
    }[row.process]
    if ci.lower is None or ci.upper is None:
        band = " (no interval: the data do not pin this effect down)"
    else:
        unclear = f"; {_NO_EFFECT}" if not is_clear(row) else ""
        band = f" ({level:.0%} interval {factor_text(ci.lower)}–{factor_text(ci.upper)}{unclear})"
    return " ".join(p for p in (who, verb, than, held) if p) + band + "."
