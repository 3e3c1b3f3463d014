"""Export shapes recognised by column names: GA4, Shopify, Segment/RudderStack, orders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from funnelkit.cli import main
from funnelkit.config import load_config
from funnelkit.ingest.shapes import recognise

N = 60


def _ga4(rng: np.random.Generator) -> pd.DataFrame:
    events = rng.choice(["first_visit", "session_start", "page_view", "sign_up", "purchase"], N)
    return pd.DataFrame(
        {
            "event_date": ["20240101"] * N,
            "event_timestamp": 1_704_067_200_000_000 + np.arange(N) * 3_600_000_000,
            "event_name": events,
            "user_pseudo_id": rng.choice(["u1", "u2", "u3"], N),
            "ecommerce.purchase_revenue": np.where(events == "purchase", 20.0, np.nan),
            "traffic_source.source": rng.choice(["google", "(direct)"], N),
        }
    )


def _shopify(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.arange(N),
            "email": rng.choice(["a@x.com", "b@x.com", "c@x.com"], N),
            "created_at": pd.date_range("2024-01-01", periods=N, freq="D").strftime(
                "%Y-%m-%dT%H:%M:%S"
            ),
            "total_price": rng.gamma(2.0, 30.0, N).round(2),
            "source_name": rng.choice(["web", "pos"], N),
            "referring_site": rng.choice(["instagram.com", ""], N),
        }
    )


def _segment(rng: np.random.Generator) -> pd.DataFrame:
    events = rng.choice(["Page Viewed", "Signed Up", "Order Completed"], N)
    return pd.DataFrame(
        {
            "anonymous_id": rng.choice(["a1", "a2", "a3", "a4"], N),
            "user_id": rng.choice(["c1", "c2", "c3", "c4"], N),
            "timestamp": pd.date_range("2024-02-01", periods=N, freq="h"),
            "event": events,
            "properties.revenue": np.where(events == "Order Completed", 15.5, np.nan),
            "context.campaign.source": rng.choice(["newsletter", "tiktok"], N),
        }
    )


def _orders(rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": rng.choice([101, 102, 103], N),
            "order_date": pd.date_range("2023-06-01", periods=N, freq="W"),
            "amount": rng.gamma(3.0, 12.0, N).round(2),
        }
    )


SHAPES = {
    "ga4": (
        _ga4,
        "GA4 BigQuery export",
        ("user_pseudo_id", "event_timestamp", "event_name", "ecommerce.purchase_revenue",
         "traffic_source.source"),
    ),
    "shopify": (
        _shopify,
        "Shopify orders",
        ("email", "created_at", None, "total_price", "source_name"),
    ),
    "segment": (
        _segment,
        "Segment/RudderStack tracks",
        ("user_id", "timestamp", "event", "properties.revenue", "context.campaign.source"),
    ),
    "orders": (_orders, "orders table", ("customer_id", "order_date", None, "amount", None)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(SHAPES))
def test_each_export_shape_is_recognised_by_its_column_names(name: str) -> None:
    make, shape, roles = SHAPES[name]
    found = recognise(list(make(np.random.default_rng(0)).columns))
    assert found.shape == shape
    assert (found.customer, found.time, found.event, found.value, found.segment) == roles


def test_names_match_without_case_or_separators() -> None:
    found = recognise(["User_Pseudo_ID", "EVENT TIMESTAMP", "event-name", "traffic_source_source"])
    assert found.shape == "GA4 BigQuery export"
    assert (found.customer, found.time, found.event, found.segment) == (
        "User_Pseudo_ID",
        "EVENT TIMESTAMP",
        "event-name",
        "traffic_source_source",
    )


def test_unknown_columns_fall_back_to_funnelkit_names_and_synonyms() -> None:
    found = recognise(["user_id", "event_time", "event_name", "revenue", "utm_source"])
    assert found.shape == "funnelkit events"
    assert (found.customer, found.time, found.event, found.value, found.segment) == (
        "user_id",
        "event_time",
        "event_name",
        "revenue",
        "utm_source",
    )
    nothing = recognise(["a", "b"])
    assert (nothing.customer, nothing.time, nothing.event) == (None, None, None)


@pytest.mark.parametrize("name", list(SHAPES))
def test_inspect_reads_each_shape_and_writes_a_config_that_loads(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, shape, roles = SHAPES[name]
    path = tmp_path / f"{name}.parquet"
    make(np.random.default_rng(1)).to_parquet(path)
    config = tmp_path / f"{name}.toml"
    assert main(["inspect", str(path), "--write-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"Shape: {shape} (recognised by its column names)" in out
    assert f"{path}: {N} rows" in out
    assert "Problems\n  none found\n" in out
    loaded = load_config(config)
    columns = loaded.columns
    assert (columns.customer, columns.time, columns.event, columns.value, columns.segment) == roles
    assert loaded.stages[-1].name == "repeat_buyer"


def test_report_reads_a_ga4_export_without_column_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from funnelkit.datasets import simulate_community
    from funnelkit.report import LifecycleReport

    events = simulate_community(1_500, seed=4).events
    names = {"touch": "page_view", "visit": "session_start", "join": "sign_up"}
    ga4 = pd.DataFrame(
        {
            "user_pseudo_id": events["customer_id"],
            "event_timestamp": events["timestamp"].astype("int64") // 1_000,
            "event_name": events["event"].replace(names),
            "event_value_in_usd": events["value"],
            "traffic_source.source": events["channel"],
        }
    )
    path = tmp_path / "ga4.parquet"
    ga4.to_parquet(path)
    out = tmp_path / "r.json"
    args = ["report", str(path), "--bootstrap", "0", "--out", str(tmp_path / "r.html"),
            "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert (
        "GA4 BigQuery export: using customer 'user_pseudo_id', time 'event_timestamp', event "
        "'event_name', value 'event_value_in_usd', segment 'traffic_source.source'\n"
    ) in err
    rep = LifecycleReport.from_json(out.read_text(encoding="utf-8"))
    visitors = int((events["event"] == "visit").groupby(events["customer_id"]).any().sum())
    assert list(rep.stage_counts) == ["visitor", "member", "repeat_buyer"]
    assert rep.stage_counts["visitor"] == visitors
    assert rep.channels is not None and rep.channels.by == "traffic_source.source"
    assert rep.data.n_events == len(events)


def test_a_column_named_on_the_command_line_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.csv"
    _orders(np.random.default_rng(0)).drop(columns="customer_id").assign(email="a@x.com").to_csv(
        path, index=False
    )
    args = ["report", str(path), "--customer-col", "customer_id", "--quiet", "--bootstrap", "0",
            "--out", str(tmp_path / "r.html")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "'customer_id' (given as --customer-col)" in err
    assert not (tmp_path / "r.html").exists()
