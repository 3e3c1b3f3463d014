"""``funnelkit report EVENTS``: the lifecycle report of an event file as one HTML page.

Settings come from, in order of precedence: the options on the command line, then the config
file (``--config``) or, without one, the columns and funnel of a recognised export shape
(:mod:`funnelkit.ingest.shapes`), then the defaults of :class:`funnelkit.config.AnalysisConfig`
(shown by ``--help``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from funnelkit.cli._common import (
    BOOTSTRAP_HELP,
    Progress,
    check_delimiter,
    count,
    debug_option,
    in_option_words,
    jobs_option,
    non_negative,
    quiet_option,
    read_source,
    warn,
    warn_unavailable,
)
from funnelkit.config import AnalysisConfig

#: Column options whose default is taken from a recognised export shape.
_SHAPE_ROLES = {
    "customer_col": "customer",
    "time_col": "time",
    "event_col": "event",
    "value_col": "value",
}


def config_defaults(config: AnalysisConfig) -> dict[str, Any]:
    """The option defaults a config gives (argparse ``dest`` -> value)."""
    columns = config.columns
    return {
        "customer_col": columns.customer,
        "time_col": columns.time,
        "event_col": columns.event,
        "value_col": columns.value,
        "attribute_cols": ",".join(columns.attributes) or None,
        "by": columns.segment,
        "delimiter": columns.delimiter,
        "time_format": columns.time_format,
        "time_scale": columns.time_scale,
        "allow_negative_values": columns.allow_negative_values,
        "purchase_events": ",".join(config.purchase_events) if config.purchase_events else None,
        "horizon": config.horizon,
        "time_unit": config.time_unit,
        "discount_rate": config.discount_rate,
        "period": config.period,
        "purchase_model": config.purchase_model,
        "penalizer": config.penalizer,
        "bootstrap": config.n_resamples,
        "seed": config.seed,
        "costs": config.costs,
        "margin": config.margin,
        "currency": config.currency,
    }


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``report`` to the subcommands; its defaults are those of an empty config."""
    rep = commands.add_parser(
        "report",
        help="lifecycle report of an event file (CSV or Parquet)",
        description="Build the lifecycle report of an event file: stage counts, conversion, "
        "lifetime value, stage values, segments and membership uplift. Columns of common "
        "exports (GA4, Shopify, Segment, orders tables) are found without options; "
        "'funnelkit inspect EVENTS' shows what would be used.",
    )
    rep.add_argument(
        "events", help="event file (*.csv, *.parquet) or DuckDB table (duckdb:FILE.db:TABLE)"
    )
    rep.add_argument(
        "--config", default=None, help="TOML or JSON config (funnelkit config --template)"
    )
    rep.add_argument("--customer-col", help="customer id column")
    rep.add_argument("--time-col", help="event time column")
    rep.add_argument("--event-col", help="event name column ('': none, every row is a purchase)")
    rep.add_argument("--value-col", help="monetary value per purchase")
    rep.add_argument("--attribute-cols", help="comma-separated customer attributes to keep")
    rep.add_argument("--delimiter", help="CSV field separator (default: ',')")
    rep.add_argument(
        "--time-format",
        help="strftime format of text timestamps, e.g. '%%d/%%m/%%Y' (default: ISO 8601, "
        "then inferred)",
    )
    rep.add_argument(
        "--time-scale",
        choices=["seconds", "milliseconds", "microseconds"],
        help="numbers in the time column are Unix epoch times in this unit",
    )
    rep.add_argument(
        "--allow-negative-values",
        action="store_true",
        help="accept negative purchase values (refunds)",
    )
    rep.add_argument(
        "--by",
        help="customer attribute of the segment table ('': none; default: 'channel' when the "
        "file has it, else the segment column of a recognised export)",
    )
    rep.add_argument("--funnel", default=None, help="Funnel JSON file (overrides the stages)")
    rep.add_argument("--purchase-events", help="comma-separated purchase events")
    rep.add_argument(
        "--observation-end",
        default=None,
        help="end of observation, a timestamp (default: the last event)",
    )
    rep.add_argument("--horizon", type=float, help="lifetime-value horizon in --time-unit")
    rep.add_argument("--time-unit", help="unit of the horizon and discounting")
    rep.add_argument("--discount-rate", type=float, help="discount rate per --time-unit")
    rep.add_argument("--period", help="calendar period of purchase summaries")
    rep.add_argument(
        "--purchase-model",
        choices=["bgnbd", "mbgnbd", "paretonbd"],
        help="model of repeat purchases: BG/NBD, MBG/NBD or Pareto/NBD",
    )
    rep.add_argument(
        "--penalizer",
        type=non_negative,
        help="L2 penalty of the purchase model's parameters; a small one, e.g. 0.001, helps a "
        "fit that does not converge",
    )
    rep.add_argument("--bootstrap", type=count, help=BOOTSTRAP_HELP)
    rep.add_argument(
        "--seed",
        type=count,
        help="seed of the bootstrap: the same file and options give the same report",
    )
    rep.add_argument(
        "--costs",
        help="acquisition costs per channel: a CSV or Parquet file with columns channel and "
        "cost (optionally period, for spend by month); adds the channel economics section",
    )
    rep.add_argument(
        "--margin",
        type=non_negative,
        help="share of the spend that is margin, for the channel economics (unset: 1)",
    )
    rep.add_argument("--currency", help="currency of the values, e.g. EUR (unset: none shown)")
    jobs_option(rep)
    rep.add_argument("--out", default="report.html", help="HTML output")
    rep.add_argument("--json", default=None, help="also write the report as JSON ('-': stdout)")
    quiet_option(rep)
    debug_option(rep)
    rep.set_defaults(run=run, **config_defaults(AnalysisConfig()))
    return rep


def _load_funnel(path: str) -> Any:
    from funnelkit import Funnel
    from funnelkit.exceptions import DataError

    file = Path(path)
    if file.is_dir():
        raise DataError(f"the funnel file {file} is a directory: name one JSON file")
    if not file.is_file():
        raise FileNotFoundError(f"no such funnel file: {file}")
    try:
        return Funnel.model_validate_json(file.read_text(encoding="utf-8"))
    except ValueError as exc:  # pydantic's ValidationError and UnicodeDecodeError alike
        first = str(exc).splitlines()
        detail = "; ".join(line.strip() for line in first[1:3]) or str(exc)
        raise DataError(
            f"{file} is not a valid funnel (save one with Funnel.model_dump_json(), or list "
            f"the stages in a config: funnelkit config --template): {detail}"
        ) from None


def _observation_end(log: Any, value: str | None) -> Any:
    """The --observation-end text as a timestamp (datetime logs) or a number."""
    from funnelkit.exceptions import DataError

    if value is None:
        return None
    try:
        end: Any = value if log.is_datetime else float(value)
        log.raw_time(end)
    except (ValueError, TypeError) as exc:
        kind = "a timestamp such as 2024-12-31" if log.is_datetime else "a number"
        raise DataError(f"--observation-end {value!r} is not {kind}: {exc}") from None
    return end


def epoch_to_datetime(frame: Any, column: str, scale: str) -> Any:
    """``column`` of Unix epoch numbers in ``scale`` as datetimes (a GA4 export's times)."""
    import narwhals as nw

    from funnelkit.exceptions import DataError

    df = nw.from_native(frame, eager_only=True)
    if not df.schema[column].is_numeric():
        raise DataError(
            f"--time-scale {scale} reads numbers, but {column!r} has type "
            f"{df.schema[column]}. Leave out --time-scale for text timestamps."
        )
    to_ns = {"seconds": 1_000_000_000, "milliseconds": 1_000_000, "microseconds": 1_000}[scale]
    stamps = (nw.col(column).cast(nw.Int64) * to_ns).cast(nw.Datetime("ns"))
    return df.with_columns(stamps.alias(column)).to_native()


def with_config(
    argv: list[str] | None,
    parser: argparse.ArgumentParser,
    report_parser: argparse.ArgumentParser,
    args: argparse.Namespace,
) -> argparse.Namespace:
    """Parse again with the ``--config`` file's values as the defaults of ``report``.

    Also records which options were typed (``given``), so that a recognised export never
    replaces a column named on the command line, even one named like the default.
    """
    if getattr(args, "command", None) != "report":
        return args
    tokens = sys.argv[1:] if argv is None else argv
    given = {t.split("=", 1)[0] for t in tokens if t.startswith("--")}
    if args.config is not None:
        from funnelkit.config import load_config

        config = load_config(args.config)
        report_parser.set_defaults(**config_defaults(config), _config=config)
        args = parser.parse_args(argv)
    args.given = given
    return args


def _explicit(args: argparse.Namespace, dest: str) -> bool:
    """Whether an option was typed on the command line or set by a config file."""
    typed = "--" + dest.replace("_", "-") in getattr(args, "given", set())
    return typed or getattr(args, "_config", None) is not None


def run(args: argparse.Namespace) -> int:
    """Run ``funnelkit report`` with parsed options."""
    from funnelkit import EventLog
    from funnelkit.ingest.files import release_arrow_memory
    from funnelkit.ingest.shapes import recognise
    from funnelkit.report import report
    from funnelkit.report._build import missing_stage_events

    config: AnalysisConfig | None = getattr(args, "_config", None)
    progress = Progress(sys.stderr, not args.quiet)
    funnel = (
        _load_funnel(args.funnel)
        if args.funnel is not None
        else (config or AnalysisConfig()).funnel()
    )
    progress.step(f"reading {args.events}")
    path = Path(args.events)
    frame = read_source(args.events, args.delimiter)
    import narwhals as nw

    columns = list(nw.from_native(frame, eager_only=True).columns)
    if config is None:
        found = recognise(columns)
        _apply_shape(args, columns, found, progress)
        plain = found.event is None and args.event_col not in columns  # an orders table
        if args.funnel is None and found.stages and (plain or args.event_col == found.event):
            funnel = shape_funnel(found)
    check_delimiter(path, columns, args.customer_col)
    if args.time_scale is not None:
        frame = epoch_to_datetime(frame, args.time_col, args.time_scale)
    attributes = [c for c in (args.attribute_cols or "").split(",") if c]
    by = "channel" if args.by is None else args.by
    if by and by not in attributes and by in columns:
        attributes.append(by)
    log = EventLog.from_frame(
        frame,
        customer_col=args.customer_col,
        time_col=args.time_col,
        event_col=args.event_col or None,
        value_col=args.value_col,
        attribute_cols=attributes,
        time_format=args.time_format,
        allow_negative_values=args.allow_negative_values,
    )
    del frame
    release_arrow_memory(len(log))  # the file's table: Arrow's pool would keep its pages
    progress.step(f"{log!r}")
    missing = missing_stage_events(log, funnel)
    if missing is not None:
        warn(missing)
    end = _observation_end(log, args.observation_end)
    settings: dict[str, Any] = {
        "horizon": args.horizon,
        "time_unit": args.time_unit,
        "discount_rate": args.discount_rate,
        "period": args.period,
        "purchase_model": _purchase_model(args.purchase_model, args.penalizer),
        "seed": args.seed,
        "n_resamples": args.bootstrap,
        "n_jobs": args.jobs,
    }
    if args.purchase_events:
        settings["purchase_events"] = tuple(args.purchase_events.split(","))
    if args.costs:
        settings["costs"] = read_source(args.costs, None)
    if args.margin is not None:
        settings["margin"] = args.margin
    if args.currency:
        settings["currency"] = args.currency
    result = report(log, funnel, observation_end=end, by=by or None, progress=progress, **settings)
    warn_unavailable(result)
    out = Path(args.out)
    result.to_html(out)
    progress.step(f"HTML report written to {out}")
    if args.json == "-":
        sys.stdout.write(result.to_json() + "\n")
    elif args.json:
        Path(args.json).write_text(result.to_json(), encoding="utf-8")
        progress.step(f"JSON report written to {args.json}")
    if not args.quiet and args.json != "-" and result.stage_values is not None:
        from funnelkit.report.text import value_section_text

        # the report's text: the header and the notes say the same about the bootstrap
        text = value_section_text(result, result.stage_values)
        sys.stdout.write(in_option_words(text) + "\n")
    return 0


def _apply_shape(
    args: argparse.Namespace, columns: list[str], found: Any, progress: Progress
) -> None:
    """Take the columns of a recognised export where the defaults name no such column.

    An option given on the command line is never replaced; a default that names an existing
    column is kept, so funnelkit's own files read exactly as before.
    """
    used = []
    for dest, role in _SHAPE_ROLES.items():
        column = getattr(found, role)
        if column is None or _explicit(args, dest) or getattr(args, dest) in columns:
            continue
        setattr(args, dest, column)
        used.append(f"{role} {column!r}")
    if found.segment is not None and args.by is None and "channel" not in columns:
        args.by = found.segment
        used.append(f"segment {found.segment!r}")
    if found.time_scale is not None and args.time_scale is None and args.time_col == found.time:
        args.time_scale = found.time_scale
    if found.purchase_events and not args.purchase_events and args.event_col == found.event:
        args.purchase_events = ",".join(found.purchase_events)
    if used:
        progress.step(f"{found.shape}: using {', '.join(used)}")


def shape_funnel(found: Any) -> Any:
    """The funnel a recognised export suggests, in its own event names."""
    from funnelkit import Funnel, Stage

    return Funnel(stages=[Stage(name=n, events=list(e), min_count=m) for n, e, m in found.stages])


def _purchase_model(name: str, penalizer: float) -> Any:
    """The purchase model setting: its name, or an unfitted fitter carrying the penalizer."""
    if penalizer == 0:
        return name
    from funnelkit.clv import purchase_fitter

    # A fitter given as purchase model is a template: every fit copies its settings.
    return purchase_fitter(name, penalizer=penalizer)
