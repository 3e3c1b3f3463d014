"""The ``funnelkit`` command line.

* ``funnelkit inspect EVENTS`` -- what funnelkit finds in an event file (columns, roles, event
  names and stages, time range, problems); ``--write-config`` starts a config from it;
* ``funnelkit report EVENTS ...`` -- the lifecycle report of a CSV or Parquet event file, as
  one self-contained HTML page (``--out``) and optionally JSON (``--json``); ``--config FILE``
  reads the settings from a config (options on the command line win);
* ``funnelkit config --template | --schema`` -- start a config, or print its JSON schema;
* ``funnelkit demo`` -- simulate a community, summarise it and write its full report
  (``funnelkit-demo.html`` in the working directory unless ``--out``);
* ``funnelkit --version``.

Every option's ``--help`` line shows its default. Every failure is one line on stderr. Bad
input -- an unreadable file, a missing column, data no model can be fitted to, a bad option --
ends with ``funnelkit: error: ...`` and exit status 2; a bug in funnelkit itself with
``funnelkit: internal error: ...`` and exit status 3. ``--debug`` (or ``FUNNELKIT_DEBUG=1``)
lets the exception through with its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from funnelkit._version import __version__
from funnelkit.cli import config_command, demo, inspection, report
from funnelkit.cli._common import (
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    Parser,
    UsageError,
    debug_option,
    describe,
    fail,
    internal,
    is_input_error,
    show_warning,
)

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "main"]


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``funnelkit`` parser and its ``report`` subparser (which a config re-defaults)."""
    parser = Parser(
        prog="funnelkit", description="Customer lifecycle analytics: funnels and lifetime value."
    )
    parser.add_argument("--version", action="version", version=f"funnelkit {__version__}")
    debug_option(parser)
    commands = parser.add_subparsers(dest="command")
    inspection.add_parser(commands)
    report_parser = report.add_parser(commands)
    config_command.add_parser(commands)
    demo.add_parser(commands)
    return parser, report_parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``funnelkit`` command line; returns the exit status.

    0: done; 2: bad input or options (one ``funnelkit: error:`` line on stderr); 3: a bug in
    funnelkit (one ``funnelkit: internal error:`` line); 130: interrupted.
    """
    parser, report_parser = _parser()
    arguments = None if argv is None else list(argv)
    try:
        args = parser.parse_args(arguments)
    except UsageError as exc:
        return fail(str(exc))
    if args.command is None:
        parser.print_help()
        return 0
    debug = getattr(args, "debug", False) or os.environ.get("FUNNELKIT_DEBUG", "") not in (
        "",
        "0",
    )

    def run() -> int:
        # The config file gives the report's defaults: read it inside the error handling.
        ready = report.with_config(arguments, parser, report_parser, args)
        return int(ready.run(ready))

    if debug:
        return run()
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            return run()
        except UsageError as exc:
            return fail(str(exc))
        except KeyboardInterrupt:
            sys.stderr.write("funnelkit: interrupted\n")
            return EXIT_INTERRUPTED
        except Exception as exc:  # every failure becomes one line, see the module docstring
            if is_input_error(exc):
                return fail(describe(exc))
            return internal(exc)
