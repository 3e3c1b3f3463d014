"""RFM of a large purchase log in files: funnelkit against hand-written DuckDB SQL.

Generates ``--events`` purchases (default 100 million) for ``--events / 20`` customers over
three years into ``--files`` Parquet (or CSV) files in a temporary directory (deleted
afterwards), customer ids as integers or, with ``--ids text``, as strings. Then measures,
each in a fresh subprocess so peak memory is the query's own:

* ``RFM.from_events(read_parquet(glob, memory_limit=...), time_unit="D", observation_end=...)``
  (validation query + aggregation + building the RFM object); for one CSV file,
  ``RFM.from_events(path, ...)``, which reads the file into memory;
* the same summary as one hand-written DuckDB SQL query, fetched as Arrow.

Both use the same DuckDB settings (``--memory-limit``, ``--threads``). The script prints wall
and CPU times, their ratios and each process's peak resident memory, and checks that both
agree. This is a printout, not a timed test.

    python benchmarks/bench_rfm_parquet.py                       # 100M events
    python benchmarks/bench_rfm_parquet.py --quick               # 2M events, a smoke run
    python benchmarks/bench_rfm_parquet.py --events 10000000 --files 1 --ids text
    python benchmarks/bench_rfm_parquet.py --quick --files 1 --format csv
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


def generate(
    folder: Path, n_events: int, n_customers: int, *, n_files: int, ids: str, fmt: str
) -> None:
    import duckdb

    con = duckdb.connect(config={"memory_limit": "2GB", "threads": "2"})
    span_us = 3 * 365 * 86_400 * 10**6
    per_file = -(-n_events // n_files)
    customer = f"(hash(i) % {n_customers})::BIGINT"
    if ids == "text":  # ids such as 'cust-00012345', as exported by most shops
        customer = f"'cust-' || lpad({customer}::VARCHAR, 8, '0')"
    for i in range(n_files):
        lo, hi = i * per_file, min((i + 1) * per_file, n_events)
        con.sql(
            f"""COPY (
                SELECT {customer} AS customer_id,
                       TIMESTAMP '{START}' + to_microseconds((hash(i * 7 + 1) % {span_us})::BIGINT)
                           AS timestamp,
                       round((hash(i * 13 + 5) % 20000)::DOUBLE / 100.0, 2) AS value
                FROM range({lo}, {hi}) AS r(i)
            ) TO '{folder / f"part-{i:02d}.{fmt}"}' (FORMAT {fmt})"""
        )


HAND_SQL = """
WITH periods AS (
    SELECT customer_id, CAST(timestamp AS DATE) AS day, sum(value) AS spend
    FROM read_{fmt}('{glob}')
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
    fmt = "csv" if glob.endswith(".csv") else "parquet"
    if kind == "funnelkit":
        # One CSV file is read into memory; Parquet (and CSV globs) are aggregated by DuckDB.
        source = glob if fmt == "csv" else read_parquet(glob, **config)
        rfm = fk.RFM.from_events(source, value_col="value", time_unit="D", observation_end=END)
        cols = {k: rfm.columns()[k] for k in ("frequency", "recency", "T", "monetary_value")}
    else:
        con = duckdb.connect(config={k: str(v) for k, v in config.items()})
        sql = HAND_SQL.format(glob=glob, end_day=END[:10], fmt=fmt)
        table = con.sql(sql).to_arrow_table()
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
    parser.add_argument("--files", type=int, default=10, help="number of files")
    parser.add_argument("--ids", choices=["integer", "text"], default="integer")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
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
        generate(folder, n_events, n_customers, n_files=args.files, ids=args.ids, fmt=args.format)
        files = sorted(folder.glob(f"*.{args.format}"))
        size = sum(p.stat().st_size for p in files) / 2**30
        print(
            f"generated {n_events:,} purchases of {n_customers:,} customers ({args.ids} ids) "
            f"in {args.files} {args.format} file(s) ({size:.2f} GiB) in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        print(f"DuckDB memory_limit={args.memory_limit}, threads={args.threads}")
        glob = str(files[0]) if args.files == 1 else str(folder / f"*.{args.format}")
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
