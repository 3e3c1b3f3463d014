"""How numbers read on the report page: money with its currency, counts as integers, dates.

One place decides each format so the cards, tables, chart axes and tooltips agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from funnelkit._results import Interval
from funnelkit.exceptions import FunnelkitError
from funnelkit.stages import readable_name
from funnelkit.units import TimeUnit

if TYPE_CHECKING:
    from funnelkit.report.report import LifecycleReport

__all__ = [
    "PageFormat",
    "band",
    "check_currency",
    "count",
    "currency_label",
    "date",
    "discount_text",
    "lower_first",
    "money_formatter",
    "number",
    "percent",
    "signed",
]

#: ISO 4217 codes written with their symbol in front; other codes are written "CHF 12.50".
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹", "CNY": "¥", "KRW": "₩"}

Format = Callable[[float | None], str]


def check_currency(currency: object) -> str | None:
    """``currency`` stripped, or a :class:`FunnelkitError` saying what a currency looks like."""
    if currency is None:
        return None
    if not isinstance(currency, str) or not currency.strip() or len(currency.strip()) > 8:
        raise FunnelkitError(
            f"The 'currency' parameter of report must be a currency code or symbol of at most "
            f"8 characters, or None. Got {currency!r} instead; e.g. currency='EUR' or '€'."
        )
    return currency.strip()


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def money_formatter(currency: str | None, *, money: bool = True) -> Format:
    """A formatter of amounts: ``€1,234.50``, ``CHF 1,234.50``, or ``1,234.50`` without one.

    With ``money=False`` (a log without values: the amounts are numbers of purchases) no
    currency is written.

    Examples
    --------
    >>> money_formatter("EUR")(-1234.5), money_formatter("CHF")(3), money_formatter(None)(3)
    ('-€1,234.50', 'CHF 3.00', '3.00')
    """
    if not money or currency is None:
        prefix = ""
    else:
        code = currency.upper()
        prefix = SYMBOLS.get(code, currency + " " if currency.isalpha() else currency)

    def fmt(value: float | None) -> str:
        if not _finite(value):
            return "n/a"
        assert value is not None
        text = f"{abs(value):,.2f}"
        sign = "-" if value < 0 and text.strip("0.,") else ""
        return f"{sign}{prefix}{text}"

    return fmt


def currency_label(currency: str | None, *, money: bool = True) -> str:
    """What an amount is in, for axis labels: ``"spend (EUR)"``, ``"spend"``, ``"purchases"``."""
    if not money:
        return "purchases"
    return "spend" if currency is None else f"spend ({currency})"


def count(value: float | None) -> str:
    """A count as an integer with thousands separators: ``7,659`` (never ``7,659.00``)."""
    return "n/a" if not _finite(value) else f"{round(value or 0):,}"


def percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if not _finite(value) else f"{value:.{digits}%}"


def number(value: float | None, digits: int = 3) -> str:
    return "n/a" if not _finite(value) else f"{value:.{digits}g}"


def signed(value: float | None, digits: int = 2) -> str:
    """A fixed-point number; a value that rounds to zero reads ``0.00``, never ``-0.00``."""
    if not _finite(value):
        return "n/a"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def band(ci: Interval | tuple[float, float] | None, fmt: Format) -> str:
    """``"lower to upper"``, or an empty string when there is no interval."""
    lower, upper = (None, None) if ci is None else ci
    return "" if lower is None or upper is None else f"{fmt(lower)} to {fmt(upper)}"


def date(stamp: str) -> str:
    """An ISO timestamp shown as a date (``2024-01-01T00:41:36`` → ``2024-01-01``).

    Numeric times (a log without dates) are returned unchanged.
    """
    return stamp.split("T", 1)[0] if "T" in stamp and stamp[:4].isdigit() else stamp


def discount_text(rate: float, unit: TimeUnit) -> str:
    """The discount as a percentage per unit and per year (``"no discounting"`` at 0).

    Examples
    --------
    >>> discount_text(0.01, TimeUnit.parse("month"))
    'discounted at 1.0% a month (12.7% a year)'
    """
    if rate == 0:
        return "no discounting"
    per_unit = f"{rate:.1%} a {unit.value}"
    if unit.days >= 365:
        return f"discounted at {per_unit}"
    annual = (1.0 + rate) ** (365.25 / unit.days) - 1.0
    if not math.isfinite(annual) or annual >= 100:  # a daily rate compounding past 10,000%
        return f"discounted at {per_unit}"
    return f"discounted at {per_unit} ({annual:.1%} a year)"


def lower_first(text: str) -> str:
    """``text`` for the middle of a sentence: "Repeat buyer" → "repeat buyer", "VIP" stays."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


@dataclass(frozen=True)
class PageFormat:
    """The formats of one report page: its currency, its stage names, what values are in."""

    money: Format
    #: stage name → name shown (a name the funnel does not know is made readable)
    names: dict[str, str]
    #: what an amount is, for axis labels: "spend (EUR)", "spend" or "purchases"
    amount: str

    def name(self, stage: str) -> str:
        """The display name of ``stage``, as at the start of a sentence."""
        return self.names.get(stage) or readable_name(stage)

    def inline(self, stage: str) -> str:
        """The display name of ``stage`` for the middle of a sentence."""
        return lower_first(self.name(stage))

    def step(self, source: str, target: str) -> str:
        return f"{self.name(source)} → {self.inline(target)}"

    @classmethod
    def of(cls, report: LifecycleReport) -> PageFormat:
        has_values = report.data.has_values
        currency = report.settings.currency
        return cls(
            money=money_formatter(currency, money=has_values),
            names=report.funnel.display_names,
            amount=currency_label(currency, money=has_values),
        )
