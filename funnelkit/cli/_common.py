"""What every ``funnelkit`` command shares: the parser, errors in command-line words, progress.

Every failure is one line on stderr. Bad input ends with ``funnelkit: error: ...`` and exit
status 2; a bug in funnelkit itself with ``funnelkit: internal error: ...`` and exit status 3.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, TextIO

from funnelkit._version import __version__
from funnelkit.lifecycle._bootstrap import MIN_REPLICATES

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130  # the shell's convention for a process ended by Ctrl-C

#: Exceptions that describe the input or the machine (a file that cannot be read, data no
#: model can be fitted to, overflow, a missing optional dependency), never a bug by
#: themselves. FunnelkitError is a ValueError.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,
    ArithmeticError,
    ImportError,
    MemoryError,
)
#: Libraries whose own exception classes (pyarrow's ArrowTypeError, polars' ComputeError,
#: duckdb's IOException, ...) are raised on input they cannot read or convert.
_DATA_LIBRARIES = frozenset({"pandas", "pyarrow", "polars", "duckdb", "_duckdb", "narwhals"})


class Progress:
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
OPTION_OF = {
    "customer_col": "--customer-col",
    "time_col": "--time-col",
    "event_col": "--event-col",
    "value_col": "--value-col",
    "attribute_cols": "--attribute-cols",
    "purchase_events": "--purchase-events",
    "observation_end": "--observation-end",
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
    "time_format": "--time-format",
    "allow_negative_values": "--allow-negative-values",
    "by": "--by",
    "funnel": "--funnel",
    "currency": "--currency",
    "costs": "--costs",
    "margin": "--margin",
    "n_jobs": "--jobs",
}
#: The Python remedies funnelkit's messages suggest, in command-line words.
REMEDIES = (
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
    ("More resamples (n_resamples)", "More resamples (--bootstrap)"),
)
#: The help of --bootstrap (demo and report): how many samples give an interval.
BOOTSTRAP_HELP = (
    f"bootstrap samples of the intervals (an interval needs at least {MIN_REPLICATES} "
    "fitted; 0 = none)"
)


def in_cli_words(message: str) -> str:
    """``message`` on one line, its Python settings and remedies named as options."""
    text = " ".join(str(message).split())
    for argument, option in OPTION_OF.items():
        text = text.replace(f"given as {argument}", f"given as {option}")
    for python, command_line in REMEDIES:
        text = text.replace(python, command_line)

    def as_option(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"The {OPTION_OF[name]} option" if name in OPTION_OF else match.group(0)

    return re.sub(r"The '(\w+)' parameter of LifecycleModel", as_option, text)


def in_option_words(text: str) -> str:
    """``text`` with the Python remedies it suggests in command-line words, its lines and
    indentation kept (for report sections printed by the commands)."""
    for python, command_line in REMEDIES:
        text = text.replace(python, command_line)
    return text


def fail(message: str) -> int:
    sys.stderr.write(f"funnelkit: error: {in_cli_words(message)}\n")
    return EXIT_BAD_INPUT


def warn(message: str) -> None:
    """One ``funnelkit: warning:`` line on stderr."""
    sys.stderr.write(f"funnelkit: warning: {' '.join(str(message).split())}\n")


def is_input_error(exc: BaseException) -> bool:
    if isinstance(exc, INPUT_ERRORS):
        return True
    return any(k.__module__.split(".")[0] in _DATA_LIBRARIES for k in type(exc).__mro__)


def describe(exc: BaseException) -> str:
    from funnelkit.exceptions import FunnelkitError

    text = str(exc).strip()
    if isinstance(exc, FunnelkitError):
        return text
    # Another library's message is clearer with its kind: "LinAlgError: Singular matrix".
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def internal(exc: BaseException) -> int:
    text = " ".join(str(exc).split())
    sys.stderr.write(
        f"funnelkit: internal error: {type(exc).__name__}: {text} -- a bug in funnelkit "
        f"{__version__}, please report it with the command that caused it (rerun with --debug "
        "or FUNNELKIT_DEBUG=1 for the traceback)\n"
    )
    return EXIT_INTERNAL


def show_warning(
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
        sys.stderr.write(f"funnelkit: warning: {in_cli_words(str(message))}\n")


class UsageError(Exception):
    """A command line argparse cannot parse."""


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one funnelkit line and whose help shows defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # argparse prints the usage and exits; funnelkit errors are one line, see main().
        raise UsageError(f"{message} (see '{self.prog} --help')")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, also for options without a help text."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is argparse.SUPPRESS or "%(default)" in text or not action.option_strings:
            return text
        if action.nargs == 0 and action.const is True:  # a switch (store_true)
            return f"{text} (default: off)".strip()
        if action.default is None:
            return text if "default" in text else f"{text} (default: none)".strip()
        return f"{text} (default: %(default)s)".strip()


def jobs_option(parser: argparse.ArgumentParser) -> None:
    """``--jobs``: worker processes of the bootstrap (``n_jobs`` of the lifecycle model)."""
    parser.add_argument(
        "--jobs",
        type=jobs,
        default=None,
        help="worker processes of the bootstrap; -1 = every core; unset = one per core on "
        "large data, the numbers are the same either way",
    )


def jobs(text: str) -> int:
    """An argparse type: a number of worker processes, >= 1 or -1 (every core)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1 or -1 (every core), got {text!r}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0, got {text!r}")
    return value


def non_negative(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def debug_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's default must not overwrite `funnelkit --debug report ...`.
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="let errors through with their traceback (also: FUNNELKIT_DEBUG=1; default: off)",
    )


def quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def read_events(path: Path, delimiter: str | None) -> Any:
    """An event file as an eager native frame; a bad file is one short DataError line."""
    from funnelkit.exceptions import DataError
    from funnelkit.ingest.files import UnreadableFileError, read_events

    try:
        return read_events(path, delimiter=delimiter)
    except UnreadableFileError as exc:
        raise DataError(exc.brief) from exc  # one short line naming the file as typed


def read_source(text: str, delimiter: str | None) -> Any:
    """An eager native frame of a file path or a ``duckdb:FILE.db:TABLE`` source."""
    from funnelkit.exceptions import DataError

    if not text.startswith("duckdb:"):
        return read_events(Path(text), delimiter)
    database, _, table = text.removeprefix("duckdb:").rpartition(":")
    if not database or not table:
        raise DataError(
            f"{text!r} is not a DuckDB source: write duckdb:FILE.db:TABLE, e.g. "
            "duckdb:shop.db:events."
        )
    if not Path(database).is_file():
        raise FileNotFoundError(f"no such DuckDB file: {database}")
    import narwhals as nw

    from funnelkit._optional import import_optional

    duckdb = import_optional("duckdb", purpose="reading a DuckDB table")
    connection = duckdb.connect(database, read_only=True)
    try:
        names = {row[0] for row in connection.execute("SHOW TABLES").fetchall()}
        if table not in names:
            raise DataError(f"{database} has no table {table!r}; its tables are {sorted(names)}.")
        return nw.from_native(connection.table(table)).collect().to_native()
    finally:
        connection.close()


def check_delimiter(path: Path, columns: list[str], wanted: str) -> None:
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


def warn_unavailable(result: Any) -> None:
    """A warning line for each reason that left report sections empty (the report is kept)."""
    from funnelkit.report._sections import unavailable_notes

    for note in unavailable_notes(result.unavailable):
        warn(note)
