"""The base projection of a Polars LazyFrame (the same columns as :mod:`._sql` builds in SQL)."""

from __future__ import annotations

from typing import Any

import narwhals as nw

from funnelkit._optional import import_optional
from funnelkit.ingest.columns import ColumnSpec
from funnelkit.units import TimeUnit

__all__ = ["base_frame"]


def base_frame(lf: Any, cols: ColumnSpec, unit: TimeUnit | None) -> Any:
    """``fk_c, fk_tnull, fk_k, fk_p, fk_e, fk_v, fk_a0..`` computed lazily by Polars."""
    pl = import_optional("polars", purpose="Aggregating a Polars LazyFrame")
    t = pl.col(cols.time)
    exprs = [pl.col(cols.customer).alias("fk_c"), t.is_null().alias("fk_tnull")]
    if cols.time_kind == "numeric":
        x = t.cast(pl.Float64)
        ok = x.is_finite()
        exprs += [(~ok).alias("fk_tinf"), pl.when(ok).then(x).alias("fk_k")]
        if unit is not None:
            exprs.append(pl.when(ok).then(x.floor()).cast(pl.Int64).alias("fk_p"))
    else:
        dtype = cols.time_dtype
        if dtype == nw.Date:
            w = t.cast(pl.Datetime("us"))
        elif getattr(dtype, "time_zone", None) is not None:
            w = t.dt.replace_time_zone(None)  # wall-clock time, as EventLog.from_frame
        else:
            w = t
        exprs.append(w.dt.epoch("ns" if cols.time_ns == 1 else "us").alias("fk_k"))
        if unit is not None:
            # 32-bit periods: narrower group-by keys take less memory on large logs.
            exprs.append(_period(pl, w, unit).cast(pl.Int32).alias("fk_p"))
    if cols.event is not None:
        exprs.append(pl.col(cols.event).cast(pl.String).alias("fk_e"))
    if cols.value is not None:
        exprs.append(pl.col(cols.value).cast(pl.Float64).alias("fk_v"))
    exprs += [pl.col(a).alias(f"fk_a{i}") for i, a in enumerate(cols.attributes)]
    return lf.select(exprs)


def _period(pl: Any, w: Any, unit: TimeUnit) -> Any:
    day = w.cast(pl.Date).cast(pl.Int64)
    if unit is TimeUnit.DAY:
        return day
    if unit is TimeUnit.HOUR:
        return day * 24 + w.dt.hour().cast(pl.Int64)
    if unit is TimeUnit.WEEK:
        return (day + 3) // 7  # floor division; weeks run Monday..Sunday
    years = w.dt.year().cast(pl.Int64) - 1970
    if unit is TimeUnit.MONTH:
        return years * 12 + w.dt.month().cast(pl.Int64) - 1
    return years
