"""The ``funnelkit`` command line: ``funnelkit demo`` and ``funnelkit --version``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np

from funnelkit._version import __version__

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from funnelkit import EventLog, Funnel
    from funnelkit.datasets import simulate_community

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
    out.write(f"\nDone in {time.perf_counter() - started:.1f} s.\n")
    return 0


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="funnelkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"funnelkit {__version__}")
    commands = parser.add_subparsers(dest="command")
    demo = commands.add_parser("demo", help="simulate a community and summarise it")
    demo.add_argument("--prospects", type=int, default=50_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
