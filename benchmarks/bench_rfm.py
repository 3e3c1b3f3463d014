"""RFM from a pandas purchase log: funnelkit vs lifetimes vs an equivalent DuckDB query.

Run ``python benchmarks/bench_rfm.py`` (10M events, 1M customers) or ``--quick``.
lifetimes is timed on a subsample (it is far slower) and its time scaled linearly, which
flatters it: its pandas group-bys are at best linear.
"""

from __future__ import annotations

import argparse
import gc

import numpy as np
import pandas as pd
from _common import PeakRSS, purchase_log, timed

from funnelkit import EventLog

DUCKDB_RFM = """
WITH periods AS (
    SELECT customer_id, date_trunc('day', "timestamp") AS day, sum(value) AS spend
    FROM events GROUP BY ALL
), customers AS (
    SELECT customer_id,
           count(*) - 1 AS frequency,
           date_diff('day', min(day), max(day)) AS recency,
           date_diff('day', min(day), (SELECT max(date_trunc('day', "timestamp")) FROM events))
               AS "T",
           CASE WHEN count(*) > 1
                THEN (sum(spend) - arg_min(spend, day)) / (count(*) - 1) ELSE 0 END
               AS monetary_value
    FROM periods GROUP BY customer_id
)
SELECT * FROM customers ORDER BY customer_id
"""


def funnelkit_rfm(frame: pd.DataFrame) -> object:
    log = EventLog.from_frame(frame, value_col="value")
    return log.rfm(time_unit="D")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument(
        "--lifetimes-events",
        type=int,
        default=None,
        help="time lifetimes on the first N events only (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="1M events, 100k customers")
    args = parser.parse_args()
    if args.quick:
        args.events, args.customers = 1_000_000, 100_000

    frame = pd.DataFrame(purchase_log(args.events, args.customers))
    input_bytes = sum(frame[c].to_numpy().nbytes for c in frame.columns)
    print(
        f"{args.events:,} purchase events, {args.customers:,} customers "
        f"({input_bytes / 2**20:.0f} MiB of input columns)"
    )

    funnelkit_rfm(frame.iloc[:10_000])  # warm-up
    gc.collect()
    with PeakRSS() as memory:
        t_fk, rfm = timed(lambda: funnelkit_rfm(frame))
    t_fk = min(t_fk, timed(lambda: funnelkit_rfm(frame), repeat=2)[0])
    print(
        f"funnelkit  EventLog + rfm: {t_fk:7.2f} s   peak added memory "
        f"{memory.added / 2**20:6.0f} MiB = {memory.added / input_bytes:.2f}x the input columns"
    )

    try:
        import duckdb
    except ImportError:
        print("duckdb not installed: skipped")
    else:
        con = duckdb.connect()
        con.register("events", frame)
        t_db, result = timed(lambda: con.sql(DUCKDB_RFM).fetchnumpy(), repeat=3)
        print(
            f"duckdb     GROUP BY query: {t_db:7.2f} s   -> funnelkit / duckdb = "
            f"{t_fk / t_db:.2f}x (target <= 1.5x)"
        )
        np.testing.assert_allclose(np.sort(result["frequency"]), np.sort(rfm.frequency))  # type: ignore[attr-defined]

    try:
        from lifetimes.utils import summary_data_from_transaction_data
    except ImportError:
        print("lifetimes not installed: skipped")
        return
    sub = frame if args.lifetimes_events is None else frame.iloc[: args.lifetimes_events]
    t_sub = t_fk if sub is frame else timed(lambda: funnelkit_rfm(sub), repeat=2)[0]
    t_lt, _ = timed(
        lambda: summary_data_from_transaction_data(
            sub, "customer_id", "timestamp", monetary_value_col="value", freq="D"
        )
    )
    print(
        f"lifetimes  summary_data_from_transaction_data on {len(sub):,} events: {t_lt:.2f} s "
        f"vs funnelkit {t_sub:.3f} s -> lifetimes / funnelkit = {t_lt / t_sub:.0f}x "
        "(target >= 10x)"
    )
    print(
        f"           lifetimes scaled to {args.events:,} events: "
        f"~{t_lt * args.events / len(sub):.0f} s"
    )


if __name__ == "__main__":
    main()
