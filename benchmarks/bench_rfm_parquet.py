"""RFM of a large Parquet purchase log via DuckDB: funnelkit against hand-written SQL.

Generates ``--events`` purchases (default 100 million) for ``--events / 20`` customers over
three years into Parquet files in a temporary directory (deleted afterwards), then measures,
each in a fresh subprocess so peak memory is the query's own:

* ``RFM.from_events(read_parquet(glob, memory_limit=...), time_unit="D", observation_end=...)``
  (validation query + aggregation + building the RFM object);
* the same summary as one hand-written DuckDB SQL query, fetched as Arrow.

Both use the same DuckDB settings (``--memory-limit``, ``--threads``). The script prints wall
times, their ratio and each process's peak resident memory, and checks that both agree.
This is a printout, not a timed test.

    python benchmarks/bench_rfm_parquet.py              # 100M events
    python benchmarks/bench_rfm_parquet.py --quick      # 2M events, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = "2021-01-01"
END = "2023-12-31 23:59:59"  # observation end: the last possible event
N_FILES = 10


def generate(folder: Path, n_events: int, n_customers: int) -> None:
    import duckdb

    con = duckdb.connect(config={"memory_limit": "2GB", "threads": "2"})
    span_us = 3 * 365 * 86_400 * 10**6
    per_file = -(-n_events // N_FILES)
    for i in range(N_FILES):
        lo, hi = i * per_file, min((i + 1) * per_file, n_events)
        con.sql(
            f"""COPY (
                SELECT (hash(i) % {n_customers})::BIGINT AS customer_id,
                       TIMESTAMP '{START}' + to_microseconds((hash(i * 7 + 1) % {span_us})::BIGINT)
                           AS timestamp,
                       round((hash(i * 13 + 5) % 20000)::DOUBLE / 100.0, 2) AS value
                FROM range({lo}, {hi}) AS r(i)
            ) TO '{folder / f"part-{i:02d}.parquet"}' (FORMAT parquet)"""
        )


HAND_SQL = """
WITH periods AS (
    SELECT customer_id, CAST(timestamp AS DATE) AS day, sum(value) AS spend
    FROM read_parquet('{glob}')
    WHERE CAST(timestamp AS DATE) <= DATE '{end_day}'
    GROUP BY ALL
)
SELECT customer_id,
       count(*) - 1 AS frequency,
       max(day) - min(day) AS recency,
       DATE '{end_day}' - min(day) AS T,
       CASE WHEN count(*) > 1
            THEN (sum(spend) - arg_min(spend, day)) / (count(*) - 1) ELSE 0 END
           AS monetary_value
FROM periods GROUP BY customer_id
"""


def worker(kind: str, glob: str, memory_limit: str, threads: int, spill: str) -> None:
    """One measurement; prints a JSON line with seconds, peak RSS and a checksum."""
    import duckdb
    import numpy as np

    import funnelkit as fk
    from funnelkit.aggregate import read_parquet

    config = {"memory_limit": memory_limit, "threads": threads, "temp_directory": spill}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    if kind == "funnelkit":
        rfm = fk.RFM.from_events(
            read_parquet(glob, **config), value_col="value", time_unit="D", observation_end=END
        )
        cols = {k: rfm.columns()[k] for k in ("frequency", "recency", "T", "monetary_value")}
    else:
        con = duckdb.connect(config={k: str(v) for k, v in config.items()})
        table = con.sql(HAND_SQL.format(glob=glob, end_day=END[:10])).to_arrow_table()
        cols = {
            k: table.column(k).to_numpy().astype(float)
            for k in ("frequency", "recency", "T", "monetary_value")
        }
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    checksum = {k: float(np.sum(v)) for k, v in cols.items()}
    checksum["customers"] = float(len(cols["frequency"]))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_mib": peak_kib / 1024,
                "start_mib": rss_before / 1024,
                "checksum": checksum,
            }
        )
    )


def _cpu_seconds() -> float:
    """CPU time of this process, all threads: robust to other jobs sharing the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, args: argparse.Namespace, glob: str, spill: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        kind,
        "--glob",
        glob,
        "--memory-limit",
        args.memory_limit,
        "--threads",
        str(args.threads),
        "--spill",
        spill,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--quick", action="store_true", help="2 million events")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--tmp", default=None, help="where to write the Parquet files")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--glob", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--spill", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.glob, args.memory_limit, args.threads, args.spill)
        return

    n_events = 2_000_000 if args.quick else args.events
    n_customers = max(n_events // 20, 1)
    folder = Path(tempfile.mkdtemp(prefix="funnelkit-bench-", dir=args.tmp))
    try:
        spill = folder / "spill"
        spill.mkdir()
        t0 = time.perf_counter()
        generate(folder, n_events, n_customers)
        size = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 2**30
        print(
            f"generated {n_events:,} purchases of {n_customers:,} customers in {N_FILES} "
            f"Parquet files ({size:.2f} GiB) in {time.perf_counter() - t0:.0f} s"
        )
        print(f"DuckDB memory_limit={args.memory_limit}, threads={args.threads}")
        glob = str(folder / "*.parquet")
        runs: dict[str, list[dict]] = {"hand-written SQL": [], "funnelkit": []}
        for _ in range(args.repeats):  # interleaved, so background load hits both alike
            runs["hand-written SQL"].append(measure("hand", args, glob, str(spill)))
            runs["funnelkit"].append(measure("funnelkit", args, glob, str(spill)))
        for name, results in runs.items():
            times = [r["seconds"] for r in results]
            cpu = [r["cpu_seconds"] for r in results]
            peak = max(r["peak_mib"] for r in results)
            print(
                f"{name:>17}: wall best {min(times):7.2f} s, median "
                f"{statistics.median(times):7.2f} s; CPU best {min(cpu):7.2f} s; "
                f"peak RSS {peak:6.0f} MiB ({peak / 1024:.2f} GiB)"
            )
        for key, label in (("seconds", "wall"), ("cpu_seconds", "CPU")):
            best = {k: min(r[key] for r in v) for k, v in runs.items()}
            ratio = best["funnelkit"] / best["hand-written SQL"]
            print(f"ratio funnelkit / hand-written SQL, best {label} time: {ratio:.2f}x")
        a, b = runs["hand-written SQL"][0]["checksum"], runs["funnelkit"][0]["checksum"]
        same = all(abs(a[k] - b[k]) <= 1e-9 * max(1.0, abs(a[k])) for k in a)
        print(f"same summary as the hand-written SQL: {same} ({a['customers']:,.0f} customers)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
