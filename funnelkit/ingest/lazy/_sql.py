"""SQL dialects of the engines that take SQL (DuckDB, Spark) and the normalised base projection.

Every aggregation starts from the same *base* projection of the events, computed inside the
engine: ``fk_c`` (customer), ``fk_k`` (time as wall-clock integer ticks, or a float for numeric
logs), ``fk_p`` (calendar period index, as :meth:`funnelkit.EventLog.period_index`), ``fk_e``
(event type as text), ``fk_v`` (value as a double), ``fk_a0..`` (attributes) plus null flags
for the validation queries. Periods are built from calendar fields (date, hour, year, month)
rather than from tick arithmetic so that they are exact for any timestamp precision and for
dates before 1970.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw

from funnelkit.ingest.columns import ColumnSpec
from funnelkit.units import TimeUnit

__all__ = ["DUCKDB", "SPARK", "Dialect", "base_select", "dialect_for"]

#: name under which SQL text refers to the base projection
BASE = "fk_base"


class Dialect:
    """DuckDB SQL; :class:`SparkDialect` overrides what Spark SQL spells differently."""

    name = "duckdb"

    # ------------------------------------------------------------------ spelling
    def quote(self, ident: str) -> str:
        return '"' + ident.replace('"', '""') + '"'

    def string(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def table(self, name: str) -> str:
        return name

    def is_finite(self, x: str) -> str:
        return f"isfinite({x})"

    def arg_min(self, arg: str, by: str) -> str:
        """``arg`` at the smallest ``by``, skipping rows where either is null."""
        return f"arg_min({arg}, {by})"

    def first_by(self, arg: str, by: str) -> str:
        """``arg`` at the smallest ``by``, null if that row's ``arg`` is null (attributes)."""
        return f"arg_min_null({arg}, {by})"

    def trunc(self, x: str) -> str:
        """A double rounded toward zero to an integer, as a double (``|x| < 2**53``)."""
        return f"trunc({x})"

    # ------------------------------------------------------------------ time
    def wall_clock(self, t: str, cols: ColumnSpec) -> str:
        """A wall-clock timestamp: naive timestamps as they are, time zones dropped."""
        return t if cols.time_ns == 1 else f"CAST({t} AS TIMESTAMP)"

    def ticks(self, w: str, cols: ColumnSpec) -> str:
        return f"epoch_ns({w})" if cols.time_ns == 1 else f"epoch_us({w})"

    def day(self, w: str) -> str:
        return f"(CAST({w} AS DATE) - DATE '1970-01-01')"

    # ------------------------------------------------------------------ execution
    def run(self, native: Any, sql: str) -> Any:
        """Run ``sql``, which reads ``fk_base`` = ``native``, lazily."""
        return native.query(BASE, sql)

    def to_arrow(self, native: Any) -> Any:
        if hasattr(native, "to_arrow_table"):
            return native.to_arrow_table()
        return native.arrow()  # duckdb < 1.4


class SparkDialect(Dialect):
    name = "spark"

    def quote(self, ident: str) -> str:
        return "`" + ident.replace("`", "``") + "`"

    def string(self, text: str) -> str:
        # Spark reads backslash escapes; spark.sql(..., df=...) also formats braces.
        escaped = text.replace("\\", "\\\\").replace("'", "\\'")
        return "'" + escaped.replace("{", "{{").replace("}", "}}") + "'"

    def table(self, name: str) -> str:
        return "{" + name + "}"

    def is_finite(self, x: str) -> str:
        return f"(NOT isnan({x}) AND abs({x}) != CAST('Infinity' AS DOUBLE))"

    def arg_min(self, arg: str, by: str) -> str:
        return f"min_by({arg}, {by})"

    def first_by(self, arg: str, by: str) -> str:
        return f"min_by({arg}, {by})"

    def trunc(self, x: str) -> str:
        # Spark has no numeric trunc; a cast to BIGINT rounds toward zero.
        return f"CAST(CAST({x} AS BIGINT) AS DOUBLE)"

    def wall_clock(self, t: str, cols: ColumnSpec) -> str:
        # TIMESTAMP columns are instants: their wall clock is the session time zone's.
        return f"CAST({t} AS TIMESTAMP_NTZ)" if cols.time_dtype == nw.Date else t

    def ticks(self, w: str, cols: ColumnSpec) -> str:
        # Microseconds of wall-clock time, from calendar fields (unix_micros would be UTC).
        return (
            f"({self.day(w)} * 86400000000 + CAST(hour({w}) AS BIGINT) * 3600000000"
            f" + CAST(minute({w}) AS BIGINT) * 60000000"
            f" + CAST(extract(SECOND FROM {w}) * 1000000 AS BIGINT))"
        )

    def day(self, w: str) -> str:
        return f"CAST(unix_date(CAST({w} AS DATE)) AS BIGINT)"

    def run(self, native: Any, sql: str) -> Any:
        return native.sparkSession.sql(sql, **{BASE: native})

    def to_arrow(self, native: Any) -> Any:
        if hasattr(native, "toArrow"):
            return native.toArrow()
        import pyarrow as pa  # pyspark < 4

        return pa.Table.from_pandas(native.toPandas(), preserve_index=False)


DUCKDB = Dialect()
SPARK = SparkDialect()


def dialect_for(engine: str) -> Dialect:
    return SPARK if engine == "spark" else DUCKDB


def period_sql(d: Dialect, w: str, unit: TimeUnit) -> str:
    """Calendar period index of a wall-clock timestamp, as EventLog.period_index."""
    day = d.day(w)
    if unit is TimeUnit.DAY:
        return day
    if unit is TimeUnit.HOUR:
        return f"({day} * 24 + CAST(hour({w}) AS BIGINT))"
    if unit is TimeUnit.WEEK:
        # 1970-01-01 was a Thursday: +3 days makes weeks run Monday..Sunday.
        return f"CAST(floor(({day} + 3) / 7) AS BIGINT)"
    years = f"(CAST(year({w}) AS BIGINT) - 1970)"
    if unit is TimeUnit.MONTH:
        return f"({years} * 12 + CAST(month({w}) AS BIGINT) - 1)"
    return years


def base_select(d: Dialect, cols: ColumnSpec, unit: TimeUnit | None, source: str) -> str:
    """SQL of the base projection (see the module docstring) over the table ``source``."""
    q = d.quote
    t = q(cols.time)
    parts = [f"{q(cols.customer)} AS fk_c", f"{t} IS NULL AS fk_tnull"]
    if cols.time_kind == "numeric":
        x = f"CAST({t} AS DOUBLE)"
        ok = d.is_finite(x)
        parts += [
            f"NOT {ok} AS fk_tinf",
            f"CASE WHEN {ok} THEN {x} END AS fk_k",
        ]
        if unit is not None:
            parts.append(f"CASE WHEN {ok} THEN CAST(floor({x}) AS BIGINT) END AS fk_p")
    else:
        w = d.wall_clock(t, cols)
        parts.append(f"{d.ticks(w, cols)} AS fk_k")
        if unit is not None:
            # 32-bit periods: narrower group-by keys spill far less on large logs.
            parts.append(f"CAST({period_sql(d, w, unit)} AS INTEGER) AS fk_p")
    if cols.event is not None:
        text = "STRING" if d.name == "spark" else "VARCHAR"
        parts.append(f"CAST({q(cols.event)} AS {text}) AS fk_e")
    if cols.value is not None:
        parts.append(f"CAST({q(cols.value)} AS DOUBLE) AS fk_v")
    parts += [f"{q(a)} AS fk_a{i}" for i, a in enumerate(cols.attributes)]
    return f"SELECT {', '.join(parts)} FROM {d.table(source)}"


def in_list(d: Dialect, column: str, names: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(d.string(n) for n in names)})"
