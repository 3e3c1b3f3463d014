"""``funnelkit inspect``: columns, roles, events and stages, time range, problems, config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from funnelkit.cli import main
from funnelkit.config import load_config


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    n = 30
    frame = pd.DataFrame(
        {
            "user_id": ["a", "b", None] * 10,
            "event_time": pd.date_range("2024-01-01", periods=n, freq="D", tz="Europe/Berlin"),
            "event_name": ["visit", "purchase", "join"] * 10,
            "revenue": [-5.0, 10.0, np.nan] * 10,
            "utm_source": ["x", "y", "z"] * 10,
        }
    )
    path = tmp_path / "messy.parquet"
    frame.to_parquet(path)
    return path


def test_inspect_shows_roles_events_range_and_problems(
    messy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", str(messy)]) == 0
    out = capsys.readouterr().out
    assert "Shape: no known export; columns chosen by their names\n" in out
    roles = out.split("Roles\n", 1)[1].split("\n\n", 1)[0]
    assert roles == (
        "  customer  user_id\n  time      event_time\n  event     event_name\n"
        "  value     revenue\n  segment   utm_source"
    )
    assert "Time range: 2024-01-01 00:00:00 to 2024-01-29 00:00:00 (28 days)\n" in out
    assert "Customers: 2\n" in out
    assert "  purchase          10  repeat_buyer\n" in out
    assert "  visit             10  visitor\n" in out
    assert "Stages no event of the file enters: prospect (touch); member (join)." in out
    problems = out.split("Problems\n", 1)[1].splitlines()
    assert problems == [
        "  - the time column 'event_time' is in time zone Europe/Berlin: times are read as "
        "wall-clock time in that zone, and calendar periods follow it",
        "  - 10 negative value(s) in 'revenue': if these are refunds, pass "
        "--allow-negative-values (allow_negative_values = true)",
        "  - 10 row(s) have no customer ('user_id'): drop or fill them before the report",
    ]


def test_offsets_in_text_times_are_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "zoned.csv"
    path.write_text(
        "customer_id,timestamp,event\nc1,2024-01-01T10:00:00+02:00,purchase\n"
        "c2,2024-01-02T11:00:00Z,purchase\n",
        encoding="utf-8",
    )
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert (
        "  - 2 of the first 2 times in 'timestamp' carry a UTC offset: they are read as "
        "wall-clock times with the offsets dropped (mixed offsets are refused)"
    ) in out


def test_inspect_checks_a_config_and_writes_one_that_report_reads(
    messy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = tmp_path / "found.json"
    assert main(["inspect", str(messy), "--write-config", str(written)]) == 0
    assert f"Config written to {written}: edit it, then run funnelkit report " in (
        capsys.readouterr().out
    )
    found = load_config(written)
    assert (found.columns.customer, found.columns.segment) == ("user_id", "utm_source")
    assert main(["inspect", str(messy), "--config", str(written)]) == 0
    assert f"Shape: config {written}\n" in capsys.readouterr().out


def test_a_duckdb_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    duckdb = pytest.importorskip("duckdb")
    database = tmp_path / "shop.db"
    with duckdb.connect(str(database)) as con:
        con.execute(
            "CREATE TABLE orders AS SELECT 'c' || (i % 4) AS customer_id, "
            "DATE '2024-01-01' + CAST(i AS INTEGER) * 7 AS order_date, 10.0 + i AS amount "
            "FROM range(12) t(i)"
        )
    assert main(["inspect", f"duckdb:{database}:orders"]) == 0
    out = capsys.readouterr().out
    assert "Shape: orders table (recognised by its column names)\n" in out
    assert "  event     -  (no event column: every row is a purchase)\n" in out
    assert "  purchase          12  buyer, repeat_buyer\n" in out
    assert main(["inspect", f"duckdb:{database}:sales"]) == 2
    assert "has no table 'sales'; its tables are ['orders']" in capsys.readouterr().err
    assert main(["inspect", "duckdb:shop.db"]) == 2
    assert "is not a DuckDB source: write duckdb:FILE.db:TABLE" in capsys.readouterr().err


def test_report_reads_a_duckdb_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    duckdb = pytest.importorskip("duckdb")
    from funnelkit.datasets import simulate_community
    from funnelkit.report import LifecycleReport

    events = simulate_community(1_000, seed=6).events
    database = tmp_path / "community.db"
    with duckdb.connect(str(database)) as con:
        con.register("frame", events)
        con.execute("CREATE TABLE events AS SELECT * FROM frame")
    out = tmp_path / "r.json"
    args = ["report", f"duckdb:{database}:events", "--value-col", "value", "--bootstrap", "0",
            "--quiet", "--out", str(tmp_path / "r.html"), "--json", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rep = LifecycleReport.from_json(out.read_text(encoding="utf-8"))
    assert rep.stage_counts["prospect"] == 1_000
    assert rep.data.n_events == len(events)
