"""``funnelkit demo``: simulate a community, summarise it and write its full report.

The page is written to ``funnelkit-demo.html`` in the working directory unless ``--out``
names another file. It runs on the core install: the simulated events are a frame of the
first installed library (pandas, polars or pyarrow) or, with none, numpy arrays.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from funnelkit._frames import Backend
from funnelkit._version import __version__
from funnelkit.cli._common import (
    BOOTSTRAP_HELP,
    Progress,
    count,
    debug_option,
    in_option_words,
    jobs_option,
    quiet_option,
    warn_unavailable,
)

#: Where the demo writes its page when --out is not given (in the working directory).
DEFAULT_OUT = "funnelkit-demo.html"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    demo = commands.add_parser(
        "demo",
        help="simulate a community, summarise it, write a report",
        description="Simulate a community (prospect -> visitor -> member -> repeat buyer), "
        f"print its summaries and write its lifecycle report ({DEFAULT_OUT} by default).",
    )
    demo.add_argument("--prospects", type=count, default=50_000, help="simulated prospects")
    demo.add_argument("--seed", type=count, default=7, help="seed of the simulation")
    demo.add_argument("--bootstrap", type=count, default=30, help=BOOTSTRAP_HELP)
    jobs_option(demo)
    demo.add_argument("--out", default=DEFAULT_OUT, help="HTML report path")
    quiet_option(demo)
    debug_option(demo)
    demo.set_defaults(run=run)
    return demo


def frame_backend() -> Backend | Literal["numpy"]:
    """The first installed frame library for the simulated events, else ``"numpy"``.

    The events then go in as a mapping of numpy arrays: the demo needs no frame library.
    """
    libraries: tuple[Backend, ...] = ("pandas", "polars", "pyarrow")
    for name in libraries:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        return name
    return "numpy"


def run(args: argparse.Namespace) -> int:
    """Run ``funnelkit demo`` with parsed options."""
    from funnelkit import EventLog, Funnel
    from funnelkit.conversion import format_conversion_table
    from funnelkit.datasets import simulate_community
    from funnelkit.report import report
    from funnelkit.report.covariates import covariates_text
    from funnelkit.report.text import value_section_text

    out = sys.stdout
    started = time.perf_counter()
    sim = simulate_community(args.prospects, seed=args.seed, backend=frame_backend())
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
    for name, reached_count in counts.items():
        share = reached_count / first
        out.write(f"  {name:<14}{reached_count:>10,}  {share:7.1%} of prospects\n")

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

    progress = Progress(sys.stderr, not args.quiet)
    result = report(
        log,
        funnel,
        observation_end=sim.observation_end,
        n_resamples=args.bootstrap,
        seed=args.seed,
        n_jobs=args.jobs,
        progress=progress,
    )
    warn_unavailable(result)
    if result.transitions is not None:
        out.write("\n" + format_conversion_table(result.transitions) + "\n")
    if result.stage_values is not None:
        # the report's text: its headers and notes say the same about the bootstrap
        out.write("\n" + in_option_words(value_section_text(result, result.stage_values)) + "\n")
        out.write("\nValue of advancing (value created when a customer moves on)\n")
        for adv in result.advancing:
            band = "" if adv.ci is None else f" ({adv.ci[0]:,.2f} to {adv.ci[1]:,.2f})"
            shown = "not estimable" if adv.value is None else f"{adv.value:,.2f}"
            out.write(f"  {adv.source + ' -> ' + adv.target:<28}{shown}{band}\n")
    if result.channels is not None:
        by_segment = value_section_text(result, result.channels, per_segment=True)
        out.write("\n" + in_option_words(by_segment) + "\n")
    if result.uplift is not None:
        out.write("\n" + in_option_words(value_section_text(result, result.uplift)) + "\n")
    if result.covariates is not None:
        out.write("\n" + "\n".join(covariates_text(result)) + "\n")
    # The absolute path, so the line says where the page is whatever the working directory.
    target = Path(args.out).resolve()
    result.to_html(target)
    out.write(f"\nHTML report written to {target}\n")
    out.write(f"\nDone in {time.perf_counter() - started:.1f} s.\n")
    return 0
