"""``funnelkit inspect EVENTS``: what funnelkit finds in an event file, before any model runs.

It prints the columns (type, nulls, examples), the column it would use for each role
(customer, time, event, value, segment; common exports are recognised by their column names,
see :mod:`funnelkit.ingest.shapes`), the event names with their counts and funnel stages, the
time range and the problems found, and writes a ready-to-edit config (``--write-config``).

``EVENTS`` is a CSV or Parquet file, or a DuckDB table written ``duckdb:FILE.db:TABLE`` (as for
``funnelkit report``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from funnelkit.cli._common import debug_option, read_source
from funnelkit.config import AnalysisConfig, ColumnsConfig, load_config, to_toml
from funnelkit.exceptions import FunnelkitError

#: A text timestamp that carries its own zone: "...Z" or "...+02:00".
_ZONED = re.compile(r"\d[T ]\d{1,2}:\d{2}.*(Z|[+-]\d{2}:?\d{2})$")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    ins = commands.add_parser(
        "inspect",
        help="show the columns, events and problems of an event file; write a config",
        description="Show what funnelkit finds in an event file (CSV, Parquet, or a DuckDB "
        "table as duckdb:FILE.db:TABLE): columns, the column of each role, event names and "
        "their funnel stages, the time range and problems. --write-config saves a config "
        "for 'funnelkit report EVENTS --config FILE'.",
    )
    ins.add_argument("events", help="*.csv, *.parquet or duckdb:FILE.db:TABLE")
    ins.add_argument(
        "--config", default=None, help="config whose columns and stages to check instead"
    )
    ins.add_argument("--delimiter", default=None, help="CSV field separator (default: ',')")
    ins.add_argument("--write-config", default=None, help="write the config found to this file")
    debug_option(ins)
    ins.set_defaults(run=run)
    return ins


def _examples(series: Any, k: int = 3) -> str:
    values = series.drop_nulls().unique().head(k).to_list()
    shown = [str(v) if len(str(v)) <= 24 else str(v)[:21] + "..." for v in values]
    return ", ".join(shown)


def _columns_of(args: argparse.Namespace, names: list[str]) -> tuple[ColumnsConfig, Any, str]:
    """The columns to use, the funnel, and where they came from."""
    from funnelkit import Funnel
    from funnelkit.cli.report import shape_funnel
    from funnelkit.ingest.shapes import recognise

    if args.config is not None:
        config = load_config(args.config)
        return config.columns, config.funnel(), f"config {args.config}"
    found = recognise(names)
    columns = ColumnsConfig(
        customer=found.customer or "customer_id",
        time=found.time or "timestamp",
        event=found.event,
        value=found.value,
        segment=found.segment,
        time_scale=found.time_scale,
    )
    funnel = Funnel.community() if found.stages is None else shape_funnel(found)
    if found.shape == "funnelkit events":
        return columns, funnel, "no known export; columns chosen by their names"
    return columns, funnel, f"{found.shape} (recognised by its column names)"


def run(args: argparse.Namespace) -> int:
    """Run ``funnelkit inspect`` with parsed options."""
    import narwhals as nw

    out = sys.stdout
    native = read_source(args.events, args.delimiter)
    frame = nw.from_native(native, eager_only=True)
    names = [str(c) for c in frame.columns]
    columns, funnel, source = _columns_of(args, names)
    out.write(f"{args.events}: {len(frame):,} rows, {len(names)} columns\nShape: {source}\n\n")

    nulls = frame.null_count().row(0)
    width = max(len(n) for n in names) + 2
    types = [
        str(frame.schema[n]).replace("time_unit=", "").replace("time_zone=", "") for n in names
    ]
    kind = max(len(t) for t in types) + 2
    out.write(f"Columns\n  {'name':<{width}}{'type':<{kind}}{'nulls':>8}  examples\n")
    for name, dtype, missing in zip(names, types, nulls, strict=True):
        out.write(f"  {name:<{width}}{dtype:<{kind}}{missing:>8,}  {_examples(frame[name])}\n")

    roles = {
        "customer": columns.customer,
        "time": columns.time,
        "event": columns.event,
        "value": columns.value,
        "segment": columns.segment,
    }
    out.write("\nRoles\n")
    problems: list[str] = []
    for role, column in roles.items():
        if column is not None and column not in names:
            problems.append(f"the {role} column {column!r} is not in the file")
            column = None
        note = ""
        if role == "time" and columns.time_scale is not None:
            note = f"  (Unix epoch {columns.time_scale})"
        if role == "event" and column is None:
            note = "  (no event column: every row is a purchase)"
        out.write(f"  {role:<10}{column or '-'}{note}\n")

    if columns.time in names:
        problems += _time_problems(frame, columns.time)
    log = _log(native, columns, names, problems)
    if log is not None:
        _describe_log(out, log, funnel, columns)
        if log.values is not None:
            negative = int(np.sum(log.values < 0))
            if negative:
                problems.append(
                    f"{negative:,} negative value(s) in {columns.value!r}: if these are "
                    "refunds, pass --allow-negative-values (allow_negative_values = true)"
                )
    for role, column in roles.items():
        if column in names and nulls[names.index(column)] and role != "value":
            problems.append(
                f"{nulls[names.index(column)]:,} row(s) have no {role} ({column!r}): drop "
                "or fill them before the report"
            )
    out.write("\nProblems\n")
    out.write("".join(f"  - {p}\n" for p in problems) or "  none found\n")

    if args.write_config:
        config = AnalysisConfig(columns=columns, stages=funnel.stages, order=funnel.order)
        path = Path(args.write_config)
        text = (
            config.model_dump_json(indent=2) + "\n" if path.suffix == ".json" else to_toml(config)
        )
        path.write_text(text, encoding="utf-8")
        out.write(
            f"\nConfig written to {path}: edit it, then run "
            f"funnelkit report {args.events} --config {path}\n"
        )
    return 0


def _time_problems(frame: Any, column: str) -> list[str]:
    dtype = frame.schema[column]
    zone = getattr(dtype, "time_zone", None)
    if zone:
        return [
            f"the time column {column!r} is in time zone {zone}: times are read as wall-clock "
            "time in that zone, and calendar periods follow it"
        ]
    import narwhals as nw

    if dtype == nw.String:
        sample = frame[column].drop_nulls().head(1000).to_list()
        zoned = sum(bool(_ZONED.search(str(v))) for v in sample)
        if zoned:
            return [
                f"{zoned} of the first {len(sample)} times in {column!r} carry a UTC offset: "
                "they are read as wall-clock times with the offsets dropped (mixed offsets "
                "are refused)"
            ]
    return []


def _log(native: Any, columns: ColumnsConfig, names: list[str], problems: list[str]) -> Any:
    """The event log of the frame, or None with the reason among ``problems``."""
    from funnelkit import EventLog
    from funnelkit.cli.report import epoch_to_datetime

    if columns.customer not in names or columns.time not in names:
        return None
    import narwhals as nw

    # Rows without a customer or a time are listed among the problems; the rest still say
    # which events and times the file has.
    kept = nw.from_native(native, eager_only=True).filter(
        ~nw.col(columns.customer).is_null(), ~nw.col(columns.time).is_null()
    )
    if len(kept) == 0:
        return None
    native = kept.to_native()
    try:
        if columns.time_scale is not None:
            native = epoch_to_datetime(native, columns.time, columns.time_scale)
        return EventLog.from_frame(
            native,
            customer_col=columns.customer,
            time_col=columns.time,
            event_col=columns.event if columns.event in names else None,
            value_col=columns.value if columns.value in names else None,
            time_format=columns.time_format,
            allow_negative_values=True,
        )
    except FunnelkitError as exc:
        problems.append(" ".join(str(exc).split()))
        return None


def _describe_log(out: Any, log: Any, funnel: Any, columns: ColumnsConfig) -> None:
    first, last = log.raw_times.min(), log.raw_times.max()
    if log.is_datetime:
        start, end = (str(log.raw_to_timestamp(t))[:19].replace("T", " ") for t in (first, last))
        days = (int(last) - int(first)) / 86_400e9
        out.write(f"\nTime range: {start} to {end} ({days:,.0f} days)\n")
    else:
        out.write(f"\nTime range: {first:g} to {last:g} (numbers, read as days)\n")
    out.write(f"Customers: {log.n_customers:,}\n")
    counts = np.bincount(log.event_codes, minlength=len(log.event_types))
    stage_of: dict[str, list[str]] = {}
    for stage in funnel.stages:
        for event in stage.events:
            stage_of.setdefault(event, []).append(stage.name)
    width = max(len(e) for e in log.event_types) + 2
    out.write("\nEvents (count, funnel stage)\n")
    for k in np.argsort(-counts, kind="stable"):
        name = log.event_types[k]
        stages = ", ".join(stage_of.get(name, [])) or "- (not in the funnel)"
        out.write(f"  {name:<{width}}{int(counts[k]):>10,}  {stages}\n")
    present = set(log.event_types)
    empty = [s for s in funnel.stages if not present.intersection(s.events)]
    if empty:
        listed = "; ".join(f"{s.name} ({', '.join(s.events)})" for s in empty)
        out.write(
            f"Stages no event of the file enters: {listed}. Edit [[stages]] in the config "
            "to use the file's event names.\n"
        )
