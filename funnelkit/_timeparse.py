"""Timestamp normalisation: any datetime-like column to int64 nanoseconds of wall-clock time.

Every timestamp funnelkit keeps is an int64 count of nanoseconds since the Unix epoch, so the
representable range is that of ``datetime64[ns]``: 1677-09-21 to 2262-04-11. numpy casts a
coarser ``datetime64`` outside that range by wrapping around (the year 9999 becomes 1815)
without a warning, so every conversion to nanoseconds goes through :func:`datetime64_to_ns`,
which checks the range first.
"""

from __future__ import annotations

import re
import sys
import warnings
from typing import Any, Protocol

import numpy as np

from funnelkit._optional import import_optional
from funnelkit.exceptions import DataError, format_examples

__all__ = ["NS_MAX", "NS_MIN", "RANGE_TEXT", "datetime64_to_ns", "parse_timestamps", "to_ns_scalar"]

#: Smallest and largest int64 nanosecond timestamps (int64 min is NaT, the missing value).
NS_MIN = int(np.iinfo(np.int64).min) + 1
NS_MAX = int(np.iinfo(np.int64).max)
RANGE_TEXT = "1677-09-22 to 2262-04-11 (the range of nanosecond timestamps)"
_RANGE_FIX = (
    f"Timestamps must lie between {RANGE_TEXT}: fix or drop them (placeholders such as "
    "'9999-12-31' for 'never' are not event times)."
)
_TZ_HINT = (
    "Convert them to one time zone first (e.g. pandas: pd.to_datetime(col, utc=True)), "
    "or strip the offsets if they are all local times."
)
_TEXT_KINDS = {"string", "datetime", "datetime64", "date", "empty", "mixed"}


class RowLookup(Protocol):
    """Customer ids by row (an ndarray, or a lookup that builds them only for the rows asked)."""

    def __getitem__(self, rows: Any, /) -> Any: ...


def ns_bounds(tick_ns: int) -> tuple[int, int]:
    """The smallest and largest tick count of ``tick_ns`` nanoseconds inside the ns range."""
    return -((-NS_MIN) // tick_ns), NS_MAX // tick_ns


def datetime64_to_ns(values: np.ndarray, ids: RowLookup | None, *, column: str) -> np.ndarray:
    """``datetime64`` values of any resolution to int64 ns, refusing values outside the range.

    NaT stays NaT (int64 min); callers check for missing times before.
    """
    unit, _ = np.datetime_data(values.dtype)
    if unit == "ns":
        return values.view(np.int64)
    if unit in ("Y", "M", "W"):  # calendar units: exact in days, whose range is ample
        values = values.astype("datetime64[D]")
        unit = "D"
    if unit in ("ps", "fs", "as"):  # finer than ns: always inside the ns range
        return values.astype("datetime64[ns]").view(np.int64)
    tick_ns = int(
        np.array(1, dtype=f"timedelta64[{unit}]").astype("timedelta64[ns]").view(np.int64)
    )
    ticks = values.view(np.int64)
    low, high = ns_bounds(tick_ns)
    bad = ((ticks < low) | (ticks > high)) & ~np.isnat(values)
    if bad.any():
        raise out_of_range(np.asarray(values)[bad], None if ids is None else ids[bad], column)
    return values.astype("datetime64[ns]").view(np.int64)


def out_of_range(examples: Any, ids: Any, column: str, count: int | None = None) -> DataError:
    """The error for timestamps outside the nanosecond range (count, examples, fix)."""
    n = len(examples) if count is None else count
    shown = format_examples([str(v) for v in list(examples)[:3]], 3)
    who = "" if ids is None or len(ids) == 0 else f" for customer ids {format_examples(ids)}"
    return DataError(
        f"{n} row(s) of column {column!r} are outside the supported time range (e.g. "
        f"{shown}{who}). {_RANGE_FIX}"
    )


def parse_timestamps(
    values: np.ndarray, ids: RowLookup, *, column: str, fmt: str | None = None
) -> np.ndarray:
    """Parse strings / datetime objects into int64 ns (wall-clock time, tz dropped).

    Raises a DataError counting unparsable or out-of-range values, numbers mixed into a text
    column, or mixed time zones, with example ids.
    """
    if np.issubdtype(values.dtype, np.datetime64):
        return datetime64_to_ns(values, ids, column=column)
    if sys.modules.get("pandas") is not None or _has_pandas():
        return _parse_with_pandas(values, ids, column=column, fmt=fmt)
    try:
        parsed = values.astype("datetime64[s]" if fmt is None else "datetime64[ns]")
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(
            f"Could not parse the timestamps in column {column!r} ({exc}). Pass a datetime "
            "column, or install pandas (pip install 'funnelkit[pandas]') for flexible parsing."
        ) from exc
    return datetime64_to_ns(parsed, ids, column=column)


def _has_pandas() -> bool:
    try:
        import_optional("pandas")
    except ImportError:
        return False
    return True


def _parse_with_pandas(
    values: np.ndarray, ids: RowLookup, *, column: str, fmt: str | None
) -> np.ndarray:
    pd = import_optional("pandas")
    series = pd.Series(values, copy=False)
    _refuse_numbers(pd, series, ids, column)

    def attempt(data: Any, form: str | None) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(data, format=form, errors="coerce")
            except (ValueError, TypeError, OverflowError) as exc:
                if any(w in str(exc).lower() for w in ("tz", "timezone", "offset")):
                    raise _mixed_tz(column) from exc
                raise DataError(f"Could not parse column {column!r} as timestamps: {exc}") from exc
        if str(parsed.dtype) == "object":  # pandas 2: offsets that differ between rows
            raise _mixed_tz(column)
        return parsed

    present = series.notna().to_numpy()
    parsed = attempt(series, fmt or "ISO8601")
    failed = parsed.isna().to_numpy() & present
    out = np.full(len(series), np.iinfo(np.int64).min, dtype=np.int64)
    ok = ~failed & present
    out[ok] = _wall_ns(parsed[ok], ids[ok], column)
    if fmt is None and failed.any():
        # Non-ISO strings: infer element-wise, but only on the rows ISO parsing missed.
        retry = attempt(series[failed], "mixed")
        got = retry.notna().to_numpy()
        if got.any() and ok.any() and _tz(retry) != _tz(parsed):
            raise _mixed_tz(column)
        rows = np.flatnonzero(failed)[got]
        out[rows] = _wall_ns(retry[got], ids[rows], column)
        failed[rows] = False
    if failed.any():
        bad = np.flatnonzero(failed)
        _raise_if_out_of_range(np.asarray(values)[bad], ids[bad], column)
        raise DataError(
            f"{bad.size} row(s) of column {column!r} are not parsable timestamps "
            f"(e.g. {format_examples(np.asarray(values)[bad], 3)} for customer ids "
            f"{format_examples(ids[bad])}). Fix or drop them, or pass time_format=... "
            "with the exact format."
        )
    return out


def _wall_ns(parsed: Any, ids: np.ndarray, column: str) -> np.ndarray:
    """Parsed pandas datetimes (any resolution, naive or zoned) to int64 ns of wall-clock time."""
    if _tz(parsed) is not None:
        parsed = parsed.dt.tz_localize(None)
    return datetime64_to_ns(parsed.to_numpy(), ids, column=column)


def _tz(parsed: Any) -> Any:
    return getattr(parsed.dtype, "tz", None)


def _refuse_numbers(pd: Any, series: Any, ids: RowLookup, column: str) -> None:
    """Numbers in a text column would be read as nanoseconds since 1970: refuse them."""
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in _TEXT_KINDS and kind != "mixed":
        return
    is_number = np.fromiter(
        (isinstance(v, int | float | np.number) and v == v for v in series),
        dtype=bool,
        count=len(series),
    )
    if is_number.any():
        bad = np.flatnonzero(is_number)
        raise DataError(
            f"{bad.size} row(s) of column {column!r} hold numbers among text timestamps "
            f"(e.g. {format_examples(series.to_numpy()[bad], 3)} for customer ids "
            f"{format_examples(ids[bad])}). Use one type: cast numeric times to a number "
            "column (read in time_unit units) or write them as dates."
        )


def _raise_if_out_of_range(texts: np.ndarray, ids: np.ndarray, column: str) -> None:
    """Unparsed ISO strings that are valid dates outside the ns range get the range error."""
    outside = []
    for i, text in enumerate(texts):
        try:
            stamp = np.datetime64(str(text).strip().rstrip("Z"), "s")
        except (ValueError, TypeError, OverflowError):
            continue
        ticks = int(stamp.view(np.int64))
        low, high = ns_bounds(10**9)
        if not low <= ticks <= high:
            outside.append(i)
    if outside:
        raise out_of_range(texts[outside], ids[outside], column)


def _mixed_tz(column: str) -> DataError:
    return DataError(f"Column {column!r} mixes timestamps from different time zones. {_TZ_HINT}")


#: An ISO date or date and time without a time zone: numpy reads it as pandas does.
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?")


def _plain_iso(value: Any) -> np.datetime64 | None:
    """``value`` read by numpy if it is a plain ISO date or date and time, else None.

    Such a text means the same to numpy and pandas; reading it without pandas spares the
    import of pandas (a large part of a second) in a process that has not loaded it yet.
    Anything else (time zones, other formats, invalid dates) is left to pandas.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if _PLAIN_ISO.fullmatch(text) is None:
        return None
    try:
        return np.datetime64(text.replace(" ", "T"))
    except ValueError:
        return None


def to_ns_scalar(value: Any, *, name: str = "timestamp") -> int:
    """One timestamp (str, datetime, numpy or pandas) to int64 ns of wall-clock time.

    ``name`` is the argument the value was given as, for the error message.
    """
    what = f"{name}={value!r}"
    plain = _plain_iso(value)
    if isinstance(value, np.datetime64):
        stamp = value
    elif plain is not None:
        stamp = plain
    elif isinstance(value, str) and sys.modules.get("pandas") is None and not _has_pandas():
        try:
            stamp = np.datetime64(value)
        except ValueError as exc:
            raise DataError(f"{what} is not a timestamp; pass an ISO date.") from exc
    else:
        pd = import_optional("pandas", purpose="parsing a timestamp argument")
        try:
            parsed = pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise DataError(
                f"{what} is not a timestamp ({exc}); pass a date such as '2024-06-30' or "
                f"a datetime inside {RANGE_TEXT}."
            ) from exc
        if parsed is pd.NaT:
            raise DataError(f"{what} is missing (NaT); pass a date such as '2024-06-30'.")
        if parsed.tzinfo is not None:
            parsed = parsed.tz_localize(None)
        stamp = parsed.asm8
    try:
        ns = datetime64_to_ns(np.asarray([stamp]), None, column=name)
    except DataError as exc:
        raise DataError(f"{what} is outside {RANGE_TEXT}; pass a date inside it.") from exc
    if ns[0] == np.iinfo(np.int64).min:
        raise DataError(f"{what} is missing (NaT); pass a date such as '2024-06-30'.")
    return int(ns[0])
