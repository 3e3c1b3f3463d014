"""Ingestion with string customer ids: funnelkit's doors against hand-written DuckDB SQL.

Two parts, each printing the ratio to the SQL measured in the same run:

* in memory: ``--events`` events (default 3M; ``--events / 10`` customers with string ids,
  four event types, nanosecond timestamps, values) as a pandas frame with ``object`` ids, a
  pandas frame with Arrow-backed string ids, a polars frame and a pyarrow table.
  ``EventLog.from_frame``, ``RFM.from_events`` and ``Funnel.journeys`` on each frame, against
  the same summaries as SQL over the same frame registered in DuckDB (the two timed in turn,
  best of ``--repeat`` each). Peak added resident memory of ``RFM.from_events`` is compared
  with the size of the input columns (as Arrow buffers: the strings' bytes and offsets, not
  Python objects). Ids are short (``cust-123456``, which funnelkit packs into integers) or,
  with ``--ids long``, 32 hexadecimal digits (read as fixed-width bytes, hashed and sorted in
  numpy).
* from Parquet: ``--parquet-events`` events (default 10M) written to a temporary directory
  (removed afterwards); ``RFM.from_events(path)`` (the default engine for a file) and
  ``EventLog.from_parquet(path).rfm()`` (the in-memory path) against the SQL over
  ``read_parquet``, and against that SQL followed by a count of the log's customers (an RFM
  summary also says how many have no purchase: the SQL alone leaves them out), each in a
  fresh process so its peak memory is its own (libraries are imported before the clock
  starts), taking turns. Both wall and CPU time (all threads) are compared:
  on a shared machine the CPU ratio is the steadier one.

    python benchmarks/bench_ingest.py            # 3M in memory, 10M from Parquet
    python benchmarks/bench_ingest.py --quick    # 300k / 1M, a smoke run
    python benchmarks/bench_ingest.py --only memory --ids long

This is a printout, not a timed test.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import PeakRSS

EVENTS = ("visit", "signup", "purchase", "join")
PURCHASE_SQL = """
WITH periods AS (
    SELECT customer_id, date_trunc('day', "timestamp") AS day, sum(value) AS spend
    FROM {source} WHERE event = 'purchase' GROUP BY ALL
)
SELECT customer_id,
       count(*) - 1 AS frequency,
       date_diff('day', min(day), max(day)) AS recency,
       date_diff('day', min(day), (SELECT max(date_trunc('day', "timestamp")) FROM {source}))
           AS "T",
       CASE WHEN count(*) > 1
            THEN (sum(spend) - arg_min(spend, day)) / (count(*) - 1) ELSE 0 END
           AS monetary_value
FROM periods GROUP BY customer_id ORDER BY customer_id
"""
#: what an RFM summary also reports: the customers of the log, with or without a purchase
CUSTOMERS_SQL = "SELECT count(*) AS customers FROM (SELECT customer_id FROM {source} GROUP BY ALL)"
JOURNEY_SQL = """
SELECT customer_id,
       min("timestamp") FILTER (WHERE event = 'visit') AS visitor,
       min("timestamp") FILTER (WHERE event = 'signup') AS member,
       min("timestamp") FILTER (WHERE event = 'purchase') AS buyer
FROM {source} GROUP BY customer_id ORDER BY customer_id
"""


def event_table(n_events: int, seed: int = 0, ids_kind: str = "short") -> Any:
    """Unsorted events over two years at nanosecond resolution, string ids, as Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    n_customers = max(n_events // 10, 1)
    numbers = pa.array(rng.integers(0, n_customers, n_events))
    if ids_kind == "long":
        names = rng.integers(0, 2**63, (n_customers, 2))
        ids = pa.array([f"{a:016x}{b:016x}" for a, b in names]).take(numbers)
    else:
        ids = pc.binary_join_element_wise("cust-", pc.cast(numbers, pa.string()), "")
    span_ns = 2 * 365 * 86_400 * 10**9
    stamps = np.datetime64("2022-01-01", "ns") + rng.integers(0, span_ns, n_events).astype(
        "timedelta64[ns]"
    )
    kinds = pa.DictionaryArray.from_arrays(
        pa.array(rng.integers(0, len(EVENTS), n_events).astype(np.int32)), pa.array(EVENTS)
    )
    return pa.table(
        {
            "customer_id": ids,
            "timestamp": pa.array(stamps),
            "event": kinds.cast(pa.string()),
            "value": pa.array(np.round(rng.gamma(2.0, 20.0, n_events), 2)),
        }
    )


def frames(table: Any) -> dict[str, Any]:
    import polars as pl

    objects = table.to_pandas()  # text as Python str objects
    arrow_text = objects.astype({"customer_id": "string[pyarrow]", "event": "string[pyarrow]"})
    return {
        "pandas (object ids)": objects,
        "pandas (Arrow string ids)": arrow_text,
        "polars": pl.from_arrow(table),
        "pyarrow": table,
    }


def in_memory(n_events: int, repeat: int, ids_kind: str) -> None:
    """One fresh process per frame library, so each peak memory is that frame's own."""
    table = event_table(min(n_events, 1000), ids_kind=ids_kind)
    input_mib = n_events * table.nbytes / len(table) / 2**20
    print(
        f"in memory: {n_events:,} events, {n_events // 10:,} customers with {ids_kind} string "
        f"ids (~{input_mib:.0f} MiB of input columns as Arrow); best of {repeat} runs"
    )
    print(
        f"{'frame':>26} {'door':>20} {'funnelkit':>10} {'DuckDB SQL':>11} "
        f"{'wall ratio':>11} {'CPU ratio':>10}"
    )
    worst: dict[str, float] = {}
    for name in FRAMES:
        command = ["--worker", "frame", "--frame", name, "--events", str(n_events)]
        result = _run([*command, "--repeat", str(repeat), "--ids", ids_kind])
        for step, (fk_time, db_time) in result["steps"].items():
            print(
                f"{name:>26} {step:>20} {fk_time[0]:9.2f}s {db_time[0]:10.2f}s "
                f"{fk_time[0] / db_time[0]:10.2f}x {fk_time[1] / db_time[1]:9.2f}x"
            )
            worst[name] = max(worst.get(name, 0.0), fk_time[0] / db_time[0])
        print(
            f"{name:>26} peak added memory of RFM.from_events: {result['added_mib']:.0f} MiB "
            f"= {result['added_mib'] / result['input_mib']:.1f}x the input columns"
        )
    print("slowest door per frame, wall time / DuckDB SQL (target <= 1.5x):")
    for name, ratio in worst.items():
        print(f"{name:>26} {ratio:.2f}x")


FRAMES = ("pandas (object ids)", "pandas (Arrow string ids)", "polars", "pyarrow")


def frame_worker(name: str, n_events: int, repeat: int, ids_kind: str) -> None:
    import ctypes

    import duckdb
    import pyarrow as pa

    import funnelkit as fk

    table = event_table(n_events, ids_kind=ids_kind)
    frame = frames(table)[name]
    input_mib = table.nbytes / 2**20
    del table
    fk.RFM.from_events(frames(event_table(1000))[name], value_col="value")  # warm-up: imports
    gc.collect()
    pa.default_memory_pool().release_unused()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed memory back to the system: a clean start
    with PeakRSS() as memory:
        fk.RFM.from_events(frame, value_col="value")
    funnel = fk.Funnel(
        stages=[
            fk.Stage(name="visitor", events=["visit"]),
            fk.Stage(name="member", events=["signup"]),
            fk.Stage(name="buyer", events=["purchase"]),
        ]
    )
    con = duckdb.connect()
    con.register("events", frame)
    rfm_sql = PURCHASE_SQL.format(source="events")
    steps = {
        "EventLog.from_frame": (lambda: fk.EventLog.from_frame(frame), rfm_sql),
        "RFM.from_events": (lambda: fk.RFM.from_events(frame, value_col="value"), rfm_sql),
        "Funnel.journeys": (lambda: funnel.journeys(frame), JOURNEY_SQL.format(source="events")),
    }
    times = {}
    for step, (run, query) in steps.items():
        # In turn, so that a change in the load of a shared machine hits both alike.
        pairs = [
            (_best(lambda q=query: con.sql(q).fetchnumpy(), 1), _best(run, 1))
            for _ in range(repeat)
        ]
        db_time = (min(p[0][0][0] for p in pairs), min(p[0][0][1] for p in pairs))
        fk_time = (min(p[1][0][0] for p in pairs), min(p[1][0][1] for p in pairs))
        expected, got = pairs[-1][0][1], pairs[-1][1][1]
        if step == "RFM.from_events":
            np.testing.assert_array_equal(got.frequency, expected["frequency"])
            np.testing.assert_allclose(got.monetary_value, expected["monetary_value"])
        times[step] = (fk_time, db_time)
    added = memory.added / 2**20
    print(json.dumps({"steps": times, "added_mib": added, "input_mib": input_mib}))


def _best(fn: Any, repeat: int) -> tuple[tuple[float, float], Any]:
    """Best wall and best CPU seconds (all threads) over ``repeat`` runs, and the result."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        cpu, wall = _cpu_seconds(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(_cpu_seconds() - cpu)
    return (min(walls), min(cpus)), result


def _cpu_seconds() -> float:
    """CPU time of this process, all threads: less sensitive to other jobs on the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(arguments: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def from_parquet(n_events: int, tmp: str | None, repeat: int) -> None:
    import pyarrow.parquet as pq

    folder = Path(tempfile.mkdtemp(prefix="funnelkit-bench-ingest-", dir=tmp))
    try:
        path = folder / "events.parquet"
        pq.write_table(event_table(n_events, seed=1), path, row_group_size=1_000_000)
        size = path.stat().st_size / 2**20
        print(f"\nfrom Parquet: {n_events:,} events in one {size:.0f} MiB file")
        runs = _measure(("sql", "sql+customers", "door", "in-memory"), str(path), repeat)
        sql, whole = runs["sql"], runs["sql+customers"]
        labels = {
            "sql": "hand-written DuckDB SQL",
            "sql+customers": "the SQL + customers counted",
            "door": "RFM.from_events(path)",
            "in-memory": "EventLog.from_parquet(path).rfm()",
        }
        for kind, run in runs.items():
            same = run["checksum"] == sql["checksum"]
            ratio = run["seconds"] / sql["seconds"]
            cpu = run["cpu_seconds"] / sql["cpu_seconds"]
            same_work = ""  # the ratio to the SQL that also counts every customer
            if kind in ("door", "in-memory"):
                same_work = f", {run['seconds'] / whole['seconds']:.2f}x"
            print(
                f"{labels[kind]:>34}: {run['seconds']:6.2f}s = {ratio:.2f}x SQL{same_work} "
                f"(CPU {cpu:.2f}x); peak RSS {run['peak_mib']:6.0f} MiB; same numbers as SQL: "
                f"{same}"
            )
        print(
            "  (second ratio: against the SQL that also counts the customers without a purchase, "
            "as an RFM summary does)"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(kinds: tuple[str, ...], path: str, repeat: int) -> dict[str, dict[str, Any]]:
    """Per kind, the best of ``repeat`` runs, each in a fresh process (peak memory is the
    run's own); the kinds take turns, so that a busy spell of the machine falls on all."""
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for _ in range(repeat):
        for kind in kinds:
            results[kind].append(_run(["--worker", kind, "--path", path]))
    best = {}
    for kind, runs in results.items():
        best[kind] = min(runs, key=lambda r: r["seconds"])
        best[kind]["cpu_seconds"] = min(r["cpu_seconds"] for r in runs)
        best[kind]["peak_mib"] = max(r["peak_mib"] for r in runs)
    return best


def worker(kind: str, path: str) -> None:
    import duckdb
    import pandas  # noqa: F401 - imported before timing, as in a session that uses them
    import pyarrow.parquet  # noqa: F401

    import funnelkit as fk

    cpu, start = _cpu_seconds(), time.perf_counter()
    if kind.startswith("sql"):
        source = f"read_parquet('{path}')"
        con = duckdb.connect()
        cols = con.sql(PURCHASE_SQL.format(source=source)).fetchnumpy()
        if kind == "sql+customers":
            con.sql(CUSTOMERS_SQL.format(source=source)).fetchall()
    elif kind == "door":
        cols = fk.RFM.from_events(path, value_col="value").columns()
    else:
        cols = fk.EventLog.from_parquet(path, value_col="value").rfm().columns()
    seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    checksum = {
        k: round(float(np.sum(np.asarray(cols[k], dtype=float))), 6)
        for k in ("frequency", "recency", "T", "monetary_value")
    }
    checksum["customers"] = len(cols["frequency"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak, "checksum": checksum})
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--parquet-events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="300k in memory, 1M from Parquet")
    parser.add_argument("--repeat", type=int, default=2, help="runs per measurement")
    parser.add_argument("--only", choices=("memory", "parquet"), default=None, help="one part")
    parser.add_argument(
        "--ids", choices=("short", "long"), default="short", help="in memory: id length"
    )
    parser.add_argument("--frame", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default=None, help="where to write the Parquet file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--path", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "frame":
        frame_worker(args.frame, args.events, args.repeat, args.ids)
        return
    if args.worker:
        worker(args.worker, args.path)
        return
    if args.quick:
        args.events, args.parquet_events = 300_000, 1_000_000
    if args.only != "parquet":
        in_memory(args.events, args.repeat, args.ids)
    if args.only != "memory":
        from_parquet(args.parquet_events, args.tmp, args.repeat)


if __name__ == "__main__":
    main()
