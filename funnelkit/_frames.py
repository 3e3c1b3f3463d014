"""Dataframe boundary helpers: columns in through narwhals, frames out in the caller's library."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from funnelkit._optional import import_optional
from funnelkit.exceptions import DataError

__all__ = ["Backend", "check_columns", "frame_from_columns"]

Backend = Literal["pandas", "polars", "pyarrow"]


def check_columns(available: Sequence[str], required: Mapping[str, str | None]) -> None:
    """Raise a DataError listing missing columns, with close-name suggestions.

    ``required`` maps the argument name (e.g. ``customer_col``) to the column asked for.
    """
    problems = []
    for argument, column in required.items():
        if column is None or column in available:
            continue
        close = difflib.get_close_matches(column, list(available), n=3, cutoff=0.5)
        hint = f" Did you mean one of these columns: {close}?" if close else ""
        problems.append(f"column {column!r} (given as {argument}) is not in the data.{hint}")
    if problems:
        raise DataError(
            "Missing columns: "
            + " ".join(problems)
            + f" Available columns: {list(available)}. Pass the right name, e.g. "
            "customer_col='user_id'."
        )


def frame_from_columns(columns: Mapping[str, np.ndarray], backend: Backend = "pandas") -> Any:
    """Build a pandas, polars or pyarrow frame from numpy columns."""
    if backend == "pandas":
        pd = import_optional("pandas", purpose="to_frame(backend='pandas')")
        return pd.DataFrame(dict(columns))
    if backend == "polars":
        pl = import_optional("polars", purpose="to_frame(backend='polars')")
        return pl.DataFrame({k: _polars_safe(v) for k, v in columns.items()})
    if backend == "pyarrow":
        pa = import_optional("pyarrow", purpose="to_frame(backend='pyarrow')")
        return pa.table({k: _polars_safe(v) for k, v in columns.items()})
    raise DataError(f"Unknown backend {backend!r}: use 'pandas', 'polars' or 'pyarrow'.")


def _polars_safe(values: np.ndarray) -> Any:
    # Object arrays of str become plain lists so polars/pyarrow infer a string dtype.
    return values.tolist() if values.dtype == object else values
