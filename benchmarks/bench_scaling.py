"""How long each step takes from 100k to 10M events: time, peak memory and scaling exponent.

For each size, a community is simulated with ``funnelkit.datasets.simulate_community`` (about
ten events per prospect, as in ``bench_report.py``) and written to one Parquet file in a
temporary directory (removed afterwards; neither is timed). A fresh process then runs the
steps of an analysis in turn, each timed with the peak resident memory it added:

* read: ``EventLog.from_parquet`` (the file into an in-memory event log);
* RFM: ``log.rfm(time_unit="W")``;
* fit: ``BetaGeoFitter`` and ``GammaGammaFitter`` on the RFM summary;
* scoring: ``funnelkit.scoring.score`` (expected purchases, P(alive), spend, 12-month CLV);
* lifecycle model: ``LifecycleModel(n_resamples=0)``, the point estimate;
* report: ``funnelkit.report`` with its default bootstrap intervals, for sizes up to
  ``--report-up-to`` events (it is the slowest step by far).

The table is printed in markdown, with the exponent ``b`` of ``time ~ events**b`` fitted by
least squares over the sizes (1 means linear).

    python benchmarks/bench_scaling.py                 # 100k, 1M, 10M events
    python benchmarks/bench_scaling.py --quick         # 100k, 300k, 1M

This is a printout, not a timed test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import PeakRSS
from bench_report import PARAMS

STEPS = {
    "read": "read (`EventLog.from_parquet`)",
    "rfm": "RFM (`log.rfm`)",
    "fit": "BG/NBD + Gamma-Gamma fit",
    "score": "scoring (12-month CLV)",
    "lifecycle": "lifecycle model, point estimate",
    "report": "default report, with intervals",
}
#: simulated events per prospect with PARAMS (measured: 10.2M events from 1M prospects)
EVENTS_PER_PROSPECT = 10.2


def write_events(n_events: int, folder: Path) -> tuple[Path, Path, str, int]:
    """A simulated community of about ``n_events`` events as Parquet, a small sample of it
    (the first prospects) for the warm-up, its observation end and its number of events."""
    from funnelkit.datasets import simulate_community

    n_prospects = max(1_000, round(n_events / EVENTS_PER_PROSPECT))
    sim = simulate_community(n_prospects, seed=1, params=PARAMS)
    path = folder / f"events-{n_events}.parquet"
    sim.events.to_parquet(path, index=False)
    first = sim.events["customer_id"].isin(sim.events["customer_id"].unique()[:2_000])
    sample = folder / f"warm-up-{n_events}.parquet"
    sim.events[first].to_parquet(sample, index=False)
    return path, sample, str(sim.observation_end), len(sim.events)


def worker(path: str, end: str, with_report: bool, warm_up: str) -> None:
    """Run the steps on one file; print one JSON line of seconds and peak added bytes.

    The steps first run untimed on the small ``warm_up`` file (same simulation, same end), so
    that imports and first-call set-up are not counted in the first step.
    """
    import funnelkit as fk
    from funnelkit.clv import BetaGeoFitter, GammaGammaFitter
    from funnelkit.lifecycle import LifecycleModel
    from funnelkit.scoring import score

    state: dict[str, Any] = {}

    def read() -> None:
        state["log"] = fk.EventLog.from_parquet(
            state["path"], value_col="value", attribute_cols=["channel"]
        )

    def rfm() -> None:
        state["rfm"] = state["log"].rfm(time_unit="W", observation_end=end)

    def fit() -> None:
        state["bgf"] = BetaGeoFitter().fit(state["rfm"])
        state["ggf"] = GammaGammaFitter().fit(state["rfm"])

    def scoring() -> None:
        score(
            state["bgf"],
            state["rfm"],
            spend_model=state["ggf"],
            horizon=12,
            time_unit="month",
            discount_rate=0.01,
            progress=False,
        )

    def lifecycle() -> None:
        model = LifecycleModel(n_resamples=0, seed=0)
        model.fit(state["log"], fk.Funnel.community(), observation_end=end)

    def report() -> None:
        fk.report(state["log"], observation_end=end, seed=0)

    steps = {"read": read, "rfm": rfm, "fit": fit, "score": scoring, "lifecycle": lifecycle}
    state["path"] = warm_up
    for step in steps.values():
        step()
    state["path"] = path
    if with_report:
        steps["report"] = report
    out: dict[str, tuple[float, int]] = {}
    for name, step in steps.items():
        gc.collect()
        with PeakRSS() as memory:
            start = time.perf_counter()
            step()
            seconds = time.perf_counter() - start
        out[name] = (seconds, memory.added)
    print(json.dumps({"steps": out, "customers": len(state["log"].customer_ids)}))


def exponent(sizes: list[int], values: list[float]) -> float:
    """Least-squares slope of log(value) on log(size)."""
    slope, _ = np.polyfit(np.log(sizes), np.log(values), 1)
    return float(slope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--quick", action="store_true", help="100k, 300k and 1M events")
    parser.add_argument(
        "--report-up-to",
        type=int,
        default=1_000_000,
        help="run the default report for sizes up to this many events",
    )
    parser.add_argument("--tmp", default=None, help="where to write the Parquet files")
    parser.add_argument("--worker", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        path, end, with_report, warm_up = args.worker
        worker(path, end, with_report == "1", warm_up)
        return
    if args.quick:
        args.events = [100_000, 300_000, 1_000_000]

    folder = Path(tempfile.mkdtemp(prefix="funnelkit-bench-scaling-", dir=args.tmp))
    results: dict[int, dict[str, Any]] = {}
    try:
        for n in args.events:
            path, sample, end, n_rows = write_events(n, folder)
            report = "1" if n <= args.report_up_to else "0"
            command = [sys.executable, __file__, "--worker", str(path), end, report, str(sample)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["events"] = n_rows
            results[n] = result
            path.unlink()
            sample.unlink()
            print(f"{n_rows:,} events done", file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print_table(list(results.values()))


def print_table(results: list[dict[str, Any]]) -> None:
    """The markdown table: one row per step, one column per size, then two exponents.

    The exponent over all sizes mixes in the fixed costs that dominate small logs; the one
    between the two largest sizes says how the step grows on large ones.
    """
    sizes = [r["events"] for r in results]
    header = " | ".join(_size(n) for n in sizes)
    print(f"Measured on {os.cpu_count()} cores; time in seconds, peak added memory in MiB.\n")
    print(f"| step | {header} | exponent, all sizes | exponent, largest two |")
    print("|---" * (len(sizes) + 3) + "|")
    customers = " | ".join(f"{r['customers']:,} customers" for r in results)
    print(f"| (size) | {customers} | | |")
    for step, label in STEPS.items():
        cells, times = [], []
        for r in results:
            if step in r["steps"]:
                seconds, added = r["steps"][step]
                cells.append(f"{seconds:.2f} s, {added / 2**20:.0f} MiB")
                times.append(seconds)
            else:
                cells.append("not run")
        ran = sizes[: len(times)]
        overall = f"{exponent(ran, times):.2f}" if len(times) > 1 else ""
        last = f"{exponent(ran[-2:], times[-2:]):.2f}" if len(times) > 1 else ""
        print(f"| {label} | {' | '.join(cells)} | {overall} | {last} |")


def _size(n: int) -> str:
    return f"{n / 1e6:.2g}M events" if n >= 1e6 else f"{n // 1000}k events"


if __name__ == "__main__":
    main()
