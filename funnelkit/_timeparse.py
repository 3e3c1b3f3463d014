"""Timestamp normalisation: any datetime-like column to int64 nanoseconds of wall-clock time."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np

from funnelkit._optional import import_optional
from funnelkit.exceptions import DataError, format_examples

__all__ = ["parse_timestamps", "to_ns_scalar"]

_TZ_HINT = (
    "Convert them to one time zone first (e.g. pandas: pd.to_datetime(col, utc=True)), "
    "or strip the offsets if they are all local times."
)


def parse_timestamps(
    values: np.ndarray, ids: np.ndarray, *, column: str, fmt: str | None = None
) -> np.ndarray:
    """Parse strings / datetime objects into int64 ns (wall-clock time, tz dropped).

    Raises a DataError counting unparsable values or mixed time zones, with example ids.
    """
    if np.issubdtype(values.dtype, np.datetime64):
        return values.astype("datetime64[ns]").view(np.int64)
    if "pandas" in sys.modules or _has_pandas():
        return _parse_with_pandas(values, ids, column=column, fmt=fmt)
    try:
        return values.astype("datetime64[ns]").view(np.int64)
    except (ValueError, TypeError) as exc:
        raise DataError(
            f"Could not parse the timestamps in column {column!r} ({exc}). Pass a datetime "
            "column, or install pandas (pip install 'funnelkit[pandas]') for flexible parsing."
        ) from exc


def _has_pandas() -> bool:
    try:
        import_optional("pandas")
    except ImportError:
        return False
    return True


def _parse_with_pandas(
    values: np.ndarray, ids: np.ndarray, *, column: str, fmt: str | None
) -> np.ndarray:
    pd = import_optional("pandas")
    series = pd.Series(values, copy=False)

    def attempt(data: Any, form: str | None) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return pd.to_datetime(data, format=form, errors="coerce")
            except (ValueError, TypeError) as exc:
                if any(w in str(exc).lower() for w in ("tz", "timezone", "offset")):
                    raise _mixed_tz(column) from exc
                raise DataError(f"Could not parse column {column!r} as timestamps: {exc}") from exc

    parsed = attempt(series, fmt or "ISO8601")
    failed = parsed.isna().to_numpy() & series.notna().to_numpy()
    if fmt is None and failed.any():
        # Non-ISO strings: infer element-wise, but only on the rows ISO parsing missed.
        retry = attempt(series[failed], "mixed")
        if str(retry.dtype) == "object" or str(parsed.dtype) == "object":
            raise _mixed_tz(column)
        if getattr(retry.dtype, "tz", None) != getattr(parsed.dtype, "tz", None) and (
            retry.notna().any() and (~failed).any()
        ):
            raise _mixed_tz(column)
        parsed = parsed.astype(retry.dtype) if (~failed).sum() == 0 else parsed
        parsed[failed] = retry
        failed = parsed.isna().to_numpy() & series.notna().to_numpy()
    if str(parsed.dtype) == "object":
        raise _mixed_tz(column)
    if failed.any():
        bad = np.flatnonzero(failed)
        raise DataError(
            f"{bad.size} row(s) of column {column!r} are not parsable timestamps "
            f"(e.g. {format_examples(np.asarray(values)[bad], 3)} for customer ids "
            f"{format_examples(ids[bad])}). Fix or drop them, or pass time_format=... "
            "with the exact format."
        )
    if getattr(parsed.dtype, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _mixed_tz(column: str) -> DataError:
    return DataError(f"Column {column!r} mixes timestamps from different time zones. {_TZ_HINT}")


def to_ns_scalar(value: Any) -> int:
    """One timestamp (str, datetime, numpy or pandas) to int64 ns of wall-clock time."""
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").view(np.int64))
    if isinstance(value, str) and ("pandas" not in sys.modules) and not _has_pandas():
        return int(np.datetime64(value, "ns").view(np.int64))
    pd = import_optional("pandas", purpose="parsing a timestamp argument")
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return int(stamp.value)
