"""The ``funnelkit`` command line.

* ``funnelkit report EVENTS ...`` -- the lifecycle report of a CSV or Parquet event file, as
  one self-contained HTML page (``--out``) and optionally JSON (``--json``);
* ``funnelkit demo`` -- simulate a community, summarise it and write its full report;
* ``funnelkit --version``.

Every failure is one line on stderr. Bad input -- an unreadable file, a missing column, data
no model can be fitted to, a bad option -- ends with ``funnelkit: error: ...`` and exit
status 2; a bug in funnelkit itself with ``funnelkit: internal error: ...`` and exit status 3.
``--debug`` (or ``FUNNELKIT_DEBUG=1``) lets the exception through with its traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import numpy as np

from funnelkit._version import __version__

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # the shell's convention for a process ended by Ctrl-C

#: Exceptions that describe the input or the machine (a file that cannot be read, data no
#: model can be fitted to, overflow, a missing optional dependency), never a bug by
#: themselves. FunnelkitError is a ValueError.
_INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,
    ArithmeticError,
    ImportError,
    MemoryError,
)
#: Libraries whose own exception classes (pyarrow's ArrowTypeError, polars' ComputeError,
#: duckdb's IOException, ...) are raised on input they cannot read or convert.
_DATA_LIBRARIES = frozenset({"pandas", "pyarrow", "polars", "duckdb", "_duckdb", "narwhals"})


class _Progress:
    """Progress on stderr: one line per step, a counter for bootstrap samples."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last: tuple[str, int] = ("", -1)

    def step(self, message: str) -> None:
        if self.enabled:
            self.stream.write(f"[{time.perf_counter() - self.started:6.1f}s] {message}\n")
            self.stream.flush()

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if step in ("bootstrap",) or step.startswith("segments by"):
            tenth = (10 * done) // max(total, 1)
            if self.tty:
                end = "\n" if done == total else ""
                self.stream.write(f"\r    {step}: {done}/{total} samples{end}")
                self.stream.flush()
            elif (step, tenth) != self._last and (done == total or tenth != self._last[1]):
                self._last = (step, tenth)
                self.stream.write(f"    {step}: {done}/{total} samples\n")
                self.stream.flush()
        else:
            self.step(f"{step} ...")


#: Settings named in funnelkit's messages -> the option that sets them on the command line.
_OPTION_OF = {
    "customer_col": "--customer-col",
    "time_col": "--time-col",
    "event_col": "--event-col",
    "value_col": "--value-col",
    "purchase_events": "--purchase-events",
    "horizon": "--horizon",
    "time_unit": "--time-unit",
    "discount_rate": "--discount-rate",
    "period": "--period",
    "purchase_model": "--purchase-model",
    "n_resamples": "--bootstrap",
    "n_bootstrap": "--bootstrap",
    "seed": "--seed",
    "random_state": "--seed",
    "penalizer": "--penalizer",
}
#: The Python remedies funnelkit's messages suggest, in command-line words.
_REMEDIES = (
    ("e.g. customer_col='user_id'", "e.g. --customer-col user_id"),
    ("Pass purchase_events=[...]", "Pass --purchase-events"),
    ("pass allow_negative_values=True", "pass --allow-negative-values"),
    ("pass time_format=...", "pass --time-format FORMAT"),
    (
        "Read the log with attribute_cols=[...] or pass by=None",
        "Name the column with --attribute-cols, or pass --by '' for no channel table",
    ),
    ("penalizer=0.001", "--penalizer 0.001"),
    ("read the log without a value column", "leave out --value-col"),
)


def _in_cli_words(message: str) -> str:
    """``message`` on one line, its Python settings and remedies named as options."""
    text = " ".join(str(message).split())
    for argument, option in _OPTION_OF.items():
        text = text.replace(f"given as {argument}", f"given as {option}")
    for python, command_line in _REMEDIES:
        text = text.replace(python, command_line)

    def as_option(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"The {_OPTION_OF[name]} option" if name in _OPTION_OF else match.group(0)

    return re.sub(r"The '(\w+)' parameter of LifecycleModel", as_option, text)


def _fail(message: str) -> int:
    sys.stderr.write(f"funnelkit: error: {_in_cli_words(message)}\n")
    return EXIT_BAD_INPUT


def _is_input_error(exc: BaseException) -> bool:
    if isinstance(exc, _INPUT_ERRORS):
        return True
    return any(k.__module__.split(".")[0] in _DATA_LIBRARIES for k in type(exc).__mro__)


def _describe(exc: BaseException) -> str:
    from funnelkit.exceptions import FunnelkitError

    text = str(exc).strip()
    if isinstance(exc, FunnelkitError):
        return text
    # Another library's message is clearer with its kind: "LinAlgError: Singular matrix".
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _internal(exc: BaseException) -> int:
    text = " ".join(str(exc).split())
    sys.stderr.write(
        f"funnelkit: internal error: {type(exc).__name__}: {text} -- a bug in funnelkit "
        f"{__version__}, please report it with the command that caused it (rerun with --debug "
        "or FUNNELKIT_DEBUG=1 for the traceback)\n"
    )
    return EXIT_INTERNAL


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """funnelkit's own warnings as one line each; numerical chatter of other libraries is
    dropped (the results say what could not be estimated), and shown with ``--debug``."""
    from funnelkit.exceptions import ConvergenceWarning, StatisticalWarning

    if issubclass(category, ConvergenceWarning | StatisticalWarning):
        sys.stderr.write(f"funnelkit: warning: {_in_cli_words(str(message))}\n")


class _UsageError(Exception):
    """A command line argparse cannot parse."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the usage and exits; funnelkit errors are one line, see main().
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _count(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


# ---------------------------------------------------------------------- funnelkit report
def _read_events(path: Path, delimiter: str | None) -> Any:
    from funnelkit.exceptions import DataError
    from funnelkit.ingest.files import UnreadableFileError, read_events

    try:
        return read_events(path, delimiter=delimiter)
    except UnreadableFileError as exc:
        raise DataError(exc.brief) from exc  # one short line naming the file as typed


def _check_delimiter(path: Path, columns: list[str], wanted: str) -> None:
    """A file read as one column whose name holds another separator was split wrongly."""
    from funnelkit.exceptions import DataError

    if len(columns) != 1 or wanted in columns:
        return
    for sep in (";", "\t", "|", ","):
        if sep in columns[0]:
            raise DataError(
                f"{path} was read as one column {columns[0]!r}: its fields seem separated "
                f"by {sep!r}. Pass --delimiter {sep!r}."
            )


def _columns(frame: Any) -> list[str]:
    import narwhals as nw

    return list(nw.from_native(frame, eager_only=True).columns)


def _load_funnel(path: str | None) -> Any:
    from funnelkit import Funnel
    from funnelkit.exceptions import DataError

    if path is None:
        return Funnel.community()
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
            f"{file} is not a valid funnel (save one with Funnel.model_dump_json()): {detail}"
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


def _report(args: argparse.Namespace) -> int:
    from funnelkit import EventLog
    from funnelkit.report import report
    from funnelkit.report._build import missing_stage_events

    progress = _Progress(sys.stderr, not args.quiet)
    funnel = _load_funnel(args.funnel)
    progress.step(f"reading {args.events}")
    path = Path(args.events)
    frame = _read_events(path, args.delimiter)
    columns = _columns(frame)
    _check_delimiter(path, columns, args.customer_col)
    attributes = [c for c in (args.attribute_cols or "").split(",") if c]
    if args.by and args.by not in attributes and args.by in columns:
        attributes.append(args.by)
    elif not args.attribute_cols and "channel" in columns and "channel" not in attributes:
        attributes.append("channel")
    log = EventLog.from_frame(
        frame,
        customer_col=args.customer_col,
        time_col=args.time_col,
        event_col=args.event_col,
        value_col=args.value_col,
        attribute_cols=attributes,
        time_format=args.time_format,
        allow_negative_values=args.allow_negative_values,
    )
    del frame
    progress.step(f"{log!r}")
    missing = missing_stage_events(log, funnel)
    if missing is not None:
        sys.stderr.write(f"funnelkit: warning: {' '.join(missing.split())}\n")
    end = _observation_end(log, args.observation_end)
    settings: dict[str, Any] = {
        "horizon": args.horizon,
        "time_unit": args.time_unit,
        "discount_rate": args.discount_rate,
        "period": args.period,
        "purchase_model": _purchase_model(args.purchase_model, args.penalizer),
        "seed": args.seed,
    }
    if args.bootstrap is not None:
        settings["n_resamples"] = args.bootstrap
    if args.purchase_events:
        settings["purchase_events"] = tuple(args.purchase_events.split(","))
    result = report(
        log, funnel, observation_end=end, by=args.by or None, progress=progress, **settings
    )
    _warn_unavailable(result)
    out = Path(args.out)
    result.to_html(out)
    progress.step(f"HTML report written to {out}")
    if args.json == "-":
        sys.stdout.write(result.to_json() + "\n")
    elif args.json:
        Path(args.json).write_text(result.to_json(), encoding="utf-8")
        progress.step(f"JSON report written to {args.json}")
    if not args.quiet and args.json != "-" and result.stage_values is not None:
        sys.stdout.write(result.stage_values.as_text() + "\n")
    return 0


def _warn_unavailable(result: Any) -> None:
    """A warning line for each reason that left report sections empty (the report is kept)."""
    from funnelkit.report._build import unavailable_notes

    for note in unavailable_notes(result.unavailable):
        sys.stderr.write(f"funnelkit: warning: {' '.join(note.split())}\n")


def _purchase_model(name: str, penalizer: float) -> Any:
    """The purchase model setting: its name, or an unfitted fitter carrying the penalizer."""
    if penalizer == 0:
        return name
    from funnelkit.lifecycle._components import make_purchase_fitter

    # A fitter given as purchase model is a template: every fit copies its settings.
    default = make_purchase_fitter(name)
    return type(default)(**{**default.get_params(), "penalizer": penalizer})


# ---------------------------------------------------------------------- funnelkit demo
def _demo(args: argparse.Namespace) -> int:
    from funnelkit import EventLog, Funnel
    from funnelkit.conversion import format_conversion_table
    from funnelkit.datasets import simulate_community
    from funnelkit.report import report

    out = sys.stdout
    started = time.perf_counter()
    sim = simulate_community(
        args.prospects, seed=args.seed, backend="pandas" if _has("pandas") else "polars"
    )
    log = EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    funnel = Funnel.community()
    journeys = funnel.journeys(log, observation_end=sim.observation_end)
    rfm = log.rfm(time_unit="W", observation_end=sim.observation_end)

    out.write(
        f"funnelkit {__version__} demo: a simulated community of {args.prospects:,} "
        f"prospects (seed {args.seed})\n{log!r}\n\n"
    )
    out.write("Stage counts (customers who reached each stage)\n")
    counts = journeys.counts()
    first = max(counts[funnel.stage_names[0]], 1)
    for name, count in counts.items():
        out.write(f"  {name:<14}{count:>10,}  {count / first:7.1%} of prospects\n")

    out.write("\nReach by acquisition channel\n")
    channels = journeys.attributes["channel"]
    header = "".join(f"{n:>14}" for n in funnel.stage_names)
    out.write(f"  {'channel':<12}{header}\n")
    reached = ~np.isnan(journeys.entry_times)
    for channel in sorted(set(channels.tolist())):
        mask = channels == channel
        cells = "".join(f"{int(reached[mask, k].sum()):>14,}" for k in range(reached.shape[1]))
        out.write(f"  {channel:<12}{cells}\n")

    stats = rfm.describe()
    out.write(
        f"\nRFM summary (weekly periods, {len(rfm):,} purchasing customers; "
        f"{rfm.n_without_purchase:,} without a purchase are excluded)\n"
    )
    for key, value in stats.items():
        out.write(f"  {key:<40}{value:>12,.2f}\n")
    out.flush()

    progress = _Progress(sys.stderr, not args.quiet)
    result = report(
        log,
        funnel,
        observation_end=sim.observation_end,
        n_resamples=args.bootstrap,
        seed=args.seed,
        progress=progress,
    )
    _warn_unavailable(result)
    if result.transitions is not None:
        out.write("\n" + format_conversion_table(result.transitions) + "\n")
    if result.stage_values is not None:
        out.write("\n" + result.stage_values.as_text() + "\n")
        out.write("\nValue of advancing (value created when a customer moves on)\n")
        for adv in result.advancing:
            band = "" if adv.ci is None else f" ({adv.ci[0]:,.2f} to {adv.ci[1]:,.2f})"
            shown = "not estimable" if adv.value is None else f"{adv.value:,.2f}"
            out.write(f"  {adv.source + ' -> ' + adv.target:<28}{shown}{band}\n")
    if result.channels is not None:
        out.write("\n" + result.channels.as_text() + "\n")
    if result.uplift is not None:
        out.write("\n" + result.uplift.as_text() + "\n")
    target = (
        Path(args.out)
        if args.out
        else Path(tempfile.mkdtemp(prefix="funnelkit-")) / ("lifecycle_report.html")
    )
    result.to_html(target)
    out.write(f"\nHTML report written to {target}\n")
    out.write(f"\nDone in {time.perf_counter() - started:.1f} s.\n")
    return 0


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="funnelkit", description="Customer lifecycle analytics: funnels and lifetime value."
    )
    parser.add_argument("--version", action="version", version=f"funnelkit {__version__}")
    _debug_option(parser)
    commands = parser.add_subparsers(dest="command")

    demo = commands.add_parser("demo", help="simulate a community, summarise it, write a report")
    demo.add_argument("--prospects", type=_count, default=50_000)
    demo.add_argument("--seed", type=_count, default=7)
    demo.add_argument("--bootstrap", type=_count, default=30, help="bootstrap samples (default 30)")
    demo.add_argument("--out", help="HTML report path (default: a new temporary directory)")
    demo.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _debug_option(demo)
    demo.set_defaults(run=_demo)

    rep = commands.add_parser(
        "report",
        help="lifecycle report of an event file (CSV or Parquet)",
        description="Build the lifecycle report of an event file: stage counts, conversion, "
        "lifetime value, stage values, channels and membership uplift.",
    )
    rep.add_argument("events", help="event file: *.csv or *.parquet, one row per event")
    rep.add_argument("--customer-col", default="customer_id")
    rep.add_argument("--time-col", default="timestamp")
    rep.add_argument("--event-col", default="event")
    rep.add_argument("--value-col", default=None, help="monetary value per purchase")
    rep.add_argument(
        "--attribute-cols", default=None, help="comma-separated customer attributes to keep"
    )
    rep.add_argument("--delimiter", default=None, help="CSV field separator (default ',')")
    rep.add_argument(
        "--time-format",
        default=None,
        help="strftime format of text timestamps, e.g. '%%d/%%m/%%Y' (default: ISO 8601, "
        "then inferred)",
    )
    rep.add_argument(
        "--allow-negative-values",
        action="store_true",
        help="accept negative purchase values (refunds)",
    )
    rep.add_argument("--by", default="channel", help="attribute of the channel table ('': none)")
    rep.add_argument("--funnel", default=None, help="Funnel saved with model_dump_json()")
    rep.add_argument("--purchase-events", default=None, help="comma-separated purchase events")
    rep.add_argument("--observation-end", default=None, help="end of observation (timestamp)")
    rep.add_argument("--horizon", type=float, default=12.0)
    rep.add_argument("--time-unit", default="month", help="unit of the horizon and discounting")
    rep.add_argument("--discount-rate", type=float, default=0.0)
    rep.add_argument("--period", default="day", help="calendar period of purchase summaries")
    rep.add_argument("--purchase-model", default="bgnbd", choices=["bgnbd", "mbgnbd", "paretonbd"])
    rep.add_argument(
        "--penalizer",
        type=_non_negative,
        default=0.0,
        help="L2 penalty of the purchase model's parameters (default 0); a small one, e.g. "
        "0.001, helps a fit that does not converge",
    )
    rep.add_argument(
        "--bootstrap", type=_count, default=None, help="bootstrap samples (default 100)"
    )
    rep.add_argument(
        "--seed",
        type=_count,
        default=0,
        help="seed of the bootstrap (default 0): the same file and options give the same report",
    )
    rep.add_argument("--out", default="report.html", help="HTML output (default report.html)")
    rep.add_argument("--json", default=None, help="also write the report as JSON ('-': stdout)")
    rep.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _debug_option(rep)
    rep.set_defaults(run=_report)
    return parser


def _debug_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not overwrite `funnelkit --debug report ...`.
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="let errors through with their traceback (also: FUNNELKIT_DEBUG=1)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``funnelkit`` command line; returns the exit status.

    0: done; 2: bad input or options (one ``funnelkit: error:`` line on stderr); 3: a bug in
    funnelkit (one ``funnelkit: internal error:`` line); 130: interrupted.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _fail(str(exc))
    if args.command is None:
        parser.print_help()
        return 0
    debug = getattr(args, "debug", False) or os.environ.get("FUNNELKIT_DEBUG", "") not in (
        "",
        "0",
    )
    if debug:
        return int(args.run(args))
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(args.run(args))
        except KeyboardInterrupt:
            sys.stderr.write("funnelkit: interrupted\n")
            return EXIT_INTERRUPTED
        except Exception as exc:  # every failure becomes one line, see the module docstring
            if _is_input_error(exc):
                return _fail(_describe(exc))
            return _internal(exc)


if __name__ == "__main__":
    raise SystemExit(main())
