"""The numpy engine's fast paths give exactly what the general ones give."""

from __future__ import annotations

from pathlib import Path

import narwhals as nw
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from funnelkit import RFM, DataError, EventLog
from funnelkit.ingest import columns, text_codes
from funnelkit.ingest.files import read_events
from funnelkit.ingest.numpy_engine import dictionary_codes, sort_order
from funnelkit.ingest.text_codes import is_view

TEXT = np.array(["b", "a", "é", "Z", "z", "", "a b", "日本", "😀", "e\u0301", "b"], dtype=object)


def _log_arrays(log: EventLog) -> dict[str, object]:
    return {
        "ids": log.customer_ids.tolist(),
        "codes": log.customer_codes.tolist(),
        "times": log.raw_times.tolist(),
        "events": log.event_types,
        "event_codes": log.event_codes.tolist(),
    }


def test_dictionary_codes_match_sorted_factorisation() -> None:
    rng = np.random.default_rng(3)
    ids = TEXT[rng.integers(0, TEXT.size, 500)]
    expected_codes, expected_uniques = pd.factorize(ids, sort=True)
    for arr in (
        pa.array(ids),
        pa.chunked_array([ids[:200], ids[200:]]),
        pa.array(ids).cast(pa.large_string()),
    ):
        codes, uniques = dictionary_codes(arr)
        assert codes.dtype == np.int32
        np.testing.assert_array_equal(codes, expected_codes)
        assert uniques.tolist() == list(expected_uniques)


@pytest.mark.parametrize("kind", ["int", "ns", "float", "signed zero"])
@pytest.mark.parametrize("n_customers", [1, 7, 5_000])
def test_sort_order_is_a_stable_lexsort(kind: str, n_customers: int) -> None:
    rng = np.random.default_rng(n_customers)
    n = 20_000
    raw = {
        "int": rng.integers(-(2**62), 2**62, n),
        # years of nanoseconds with many repeats: the key is coarse and ties need fixing
        "ns": rng.integers(0, 40, n) * 10**15 + rng.integers(0, 3, n),
        "float": np.round(rng.normal(size=n) * 1e3, 1) * 10.0 ** rng.integers(-300, 300, n),
        "signed zero": np.where(rng.random(n) < 0.5, -0.0, 0.0),
    }[kind]
    codes = rng.integers(0, n_customers, n).astype(np.int32)
    expected = np.lexsort((raw, codes))
    order = sort_order(codes, raw)
    if order is None:  # one customer whose times all compare equal: already in order
        np.testing.assert_array_equal(expected, np.arange(n))
        return
    np.testing.assert_array_equal(order, expected)
    assert sort_order(codes[order], raw[order]) is None


def test_text_ids_give_the_same_log_from_every_library() -> None:
    rng = np.random.default_rng(5)
    n = 2_000
    frame = pd.DataFrame(
        {
            "customer_id": TEXT[rng.integers(0, TEXT.size, n)],
            "timestamp": np.datetime64("2024-01-01", "ns")
            + rng.integers(0, 10**15, n).astype("m8[ns]"),
            "event": np.array(["visit", "purchase", "signup"], dtype=object)[rng.integers(0, 3, n)],
        }
    )
    reference = _log_arrays(EventLog.from_frame(frame))
    assert reference["ids"] == sorted(set(TEXT.tolist()))
    assert reference["events"] == ("purchase", "signup", "visit")
    variants = {
        "pandas string": frame.astype({"customer_id": "string", "event": "string"}),
        "pandas arrow": frame.astype({"customer_id": "string[pyarrow]"}),
        "pandas category": frame.astype({"customer_id": "category", "event": "category"}),
        "polars": pl.from_pandas(frame),
        "polars categorical": pl.from_pandas(frame).with_columns(
            pl.col("event").cast(pl.Categorical)
        ),
        "pyarrow": pa.Table.from_pandas(frame, preserve_index=False),
    }
    for name, variant in variants.items():
        assert _log_arrays(EventLog.from_frame(variant)) == reference, name


@pytest.mark.parametrize("ids", ["short", "hexadecimal"])
@pytest.mark.parametrize("views", ["string views", "pyarrow without views", "polars without"])
def test_polars_text_gives_the_log_of_pandas(
    ids: str, views: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """polars text is read as Arrow string views where polars and pyarrow have them (ids
    packed or fixed-width in place, event types hashed), else converted: the same log."""
    rng = np.random.default_rng(len(ids))
    n = 5_000
    names = (
        np.array([f"c-{i}" for i in range(300)], dtype=object)
        if ids == "short"
        else np.array([f"{i:032x}" for i in rng.integers(0, 2**62, 300)], dtype=object)
    )
    frame = pd.DataFrame(
        {
            "customer_id": names[rng.integers(0, names.size, n)],
            "timestamp": np.datetime64("2024-01-01", "ns")
            + rng.integers(0, 10**15, n).astype("m8[ns]"),
            "event": np.array(["visit", "purchase", "newsletter signup"], dtype=object)[
                rng.integers(0, 3, n)
            ],
        }
    )
    polars_frame = pl.from_pandas(frame)
    if views == "pyarrow without views":
        monkeypatch.setattr(columns, "_arrow_takes_views", lambda: False)
    if views == "polars without":
        monkeypatch.delattr(pl, "CompatLevel")
    read = columns._views(polars_frame["customer_id"])
    assert (read is None) == (views != "string views")  # the road tested
    if read is not None:
        assert text_codes.flat_text(pa.chunked_array([read])) is not None
    assert _log_arrays(EventLog.from_frame(polars_frame)) == _log_arrays(EventLog.from_frame(frame))


@pytest.mark.parametrize("hashes_views", [True, False])
def test_arrow_string_views_give_the_log_of_strings(
    hashes_views: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Views come in as they are where pyarrow hashes them, converted where it does not."""
    monkeypatch.setattr(columns, "_arrow_takes_views", lambda: hashes_views)
    rng = np.random.default_rng(11)
    n = 2_000
    table = pa.table(
        {
            "customer_id": pa.array(TEXT[rng.integers(0, TEXT.size, n)], pa.string()),
            "timestamp": pa.array(rng.integers(0, 10**15, n).astype("M8[ns]")),
            "event": pa.array(np.array(["visit", "purchase"], dtype=object)[rng.integers(0, 2, n)]),
        }
    )
    views = table.cast(
        pa.schema(
            [
                ("customer_id", pa.string_view()),
                ("timestamp", pa.timestamp("ns")),
                ("event", pa.string_view()),
            ]
        )
    )
    ids = columns.arrow_text(nw.from_native(views, eager_only=True)["customer_id"])
    assert is_view(ids.type) == hashes_views  # the road tested
    assert _log_arrays(EventLog.from_frame(views)) == _log_arrays(EventLog.from_frame(table))


def test_unused_categories_are_not_event_types() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "timestamp": [1.0, 2.0],
            "event": pd.Categorical(["visit", "purchase"], categories=["visit", "purchase", "x"]),
        }
    )
    assert EventLog.from_frame(frame).event_types == ("purchase", "visit")


def test_numeric_event_columns_are_named_and_sorted_as_text() -> None:
    frame = pd.DataFrame(
        {"customer_id": [1, 1, 2, 2], "timestamp": [1.0, 2.0, 3.0, 4.0], "event": [9, 10, 9, 2]}
    )
    log = EventLog.from_frame(frame)
    assert log.event_types == ("10", "2", "9")
    assert log.event_codes.tolist() == [2, 0, 2, 1]


def test_mixed_object_ids_take_the_general_path() -> None:
    frame = pd.DataFrame({"customer_id": ["a", 1, "a"], "timestamp": [3.0, 1.0, 2.0]})
    log = EventLog.from_frame(frame)
    assert log.customer_ids.tolist() == [1, "a"]
    assert log.customer_codes.tolist() == [0, 1, 1]
    assert log.raw_times.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("library", ["pandas", "polars", "pyarrow"])
def test_missing_text_ids_and_events_are_counted(library: str) -> None:
    data = {"customer_id": ["a", None, "b", None], "timestamp": [1.0, 2.0, 3.0, 4.0]}
    frames = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "pyarrow": pa.table}
    with pytest.raises(
        DataError, match=r"^2 row\(s\) have no customer id in column 'customer_id' at rows 1, 3;"
    ):
        EventLog.from_frame(frames[library](data))
    data = {"customer_id": ["a", "b", "c"], "timestamp": [1.0, 2.0, 3.0], "event": ["v", None, "v"]}
    with pytest.raises(
        DataError,
        match=r"^1 row\(s\) have no event type in column 'event' \(e\.g\. customer ids 'b'\);",
    ):
        EventLog.from_frame(frames[library](data))


def test_errors_name_the_customers_of_the_bad_rows() -> None:
    frame = pl.DataFrame(
        {"customer_id": ["x", "y", "z"], "timestamp": [1.0, 2.0, 3.0], "value": [1.0, -2.0, -3.0]}
    )
    with pytest.raises(
        DataError,
        match=r"^2 row\(s\) of value column 'value' are negative \(e\.g\. customer ids 'y', 'z'\)",
    ):
        EventLog.from_frame(frame, value_col="value")


def test_dictionaries_with_repeated_or_unused_labels() -> None:
    indices = pa.array([0, 2, 1, 3, 0], pa.int8())
    repeated = pa.DictionaryArray.from_arrays(indices, pa.array(["b", "a", "b", "c"]))
    codes, uniques = dictionary_codes(pa.chunked_array([repeated]))
    assert uniques.tolist() == ["a", "b", "c"]
    assert codes.tolist() == [1, 1, 0, 2, 1]
    skips_x = pa.array([0, 2, 3, 3, 0], pa.int8())
    unused = pa.DictionaryArray.from_arrays(skips_x, pa.array(["d", "x", "b", "a"]))
    codes, uniques = dictionary_codes(unused)
    assert uniques.tolist() == ["a", "b", "d"]
    assert codes.tolist() == [2, 1, 0, 0, 2]


def test_parquet_text_read_as_dictionaries_gives_the_frame_log(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    n = 3_000
    frame = pd.DataFrame(
        {
            "customer_id": TEXT[rng.integers(0, TEXT.size, n)],
            "timestamp": np.datetime64("2024-01-01", "ns")
            + rng.integers(0, 10**15, n).astype("m8[ns]"),
            "event": np.array(["visit", "purchase"], dtype=object)[rng.integers(0, 2, n)],
            "channel": np.array(["ads", "mail"], dtype=object)[rng.integers(0, 2, n)],
            "order": [f"order-{i}" for i in range(n)],
        }
    )
    path = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=700)
    table = read_events(path)
    # few distinct values: read as codes; all distinct (order ids): read as plain text
    assert pa.types.is_dictionary(table.schema.field("customer_id").type)
    assert not pa.types.is_dictionary(table.schema.field("order").type)
    from_file = EventLog.from_parquet(path, attribute_cols=["channel"])
    from_frame = EventLog.from_frame(frame, attribute_cols=["channel"])
    assert _log_arrays(from_file) == _log_arrays(from_frame)
    assert from_file.attributes["channel"].tolist() == from_frame.attributes["channel"].tolist()


def _attribute_frames() -> dict[str, object]:
    rng = np.random.default_rng(11)
    labels = np.array(["ads", "search", None, "日本", ""], dtype=object)
    channel = labels[rng.integers(0, labels.size, 3_000)]
    table = pa.table({"channel": pa.array(channel, pa.string())})
    return {
        "pyarrow": table,
        "pyarrow chunks": pa.Table.from_batches(table.to_batches(max_chunksize=700)),
        "pyarrow dictionary": pa.table({"channel": table.column("channel").dictionary_encode()}),
        "polars": pl.from_arrow(table),
        "polars categorical": pl.from_arrow(table).cast({"channel": pl.Categorical}),
        "pandas Arrow strings": table.to_pandas().astype({"channel": "string[pyarrow]"}),
        "pandas objects": table.to_pandas(),
    }


@pytest.mark.parametrize("name", list(_attribute_frames()))
def test_attributes_from_arrow_labels_equal_the_plain_values(name: str) -> None:
    import narwhals as nw

    from funnelkit.ingest.columns import FrameColumns

    frame = _attribute_frames()[name]
    reader = FrameColumns(nw.from_native(frame, eager_only=True))
    got = reader.attribute("channel")
    expected = reader.plain("channel").values
    assert got.dtype == object
    assert got.tolist() == expected.tolist()
    assert got.tolist().count(None) > 0


def test_the_rfm_door_sorts_only_purchases_but_sees_every_event() -> None:
    # The door drops the other events before the sort; the end of observation is still the
    # last event of all and customers who never buy are still counted.
    frame = pd.DataFrame(
        {
            "customer_id": ["b", "a", "c", "a", "b", "a"],
            "timestamp": pd.to_datetime(
                ["2024-01-03", "2024-01-01", "2024-01-02", "2024-01-04", "2024-01-01", "2024-01-20"]
            ),
            "event": ["purchase", "purchase", "visit", "purchase", "visit", "visit"],
            "value": [5.0, 1.0, np.nan, 3.0, np.nan, np.nan],
        }
    )
    rfm = RFM.from_events(frame, value_col="value")
    assert rfm.customer_ids.tolist() == ["a", "b"]
    assert rfm.frequency.tolist() == [1.0, 0.0]
    assert rfm.recency.tolist() == [3.0, 0.0]
    assert rfm.T.tolist() == [19.0, 17.0]
    assert rfm.monetary_value is not None
    assert rfm.monetary_value.tolist() == [3.0, 0.0]
    assert rfm.n_without_purchase == 1
    full = EventLog.from_frame(frame, value_col="value").rfm()
    assert rfm.columns().keys() == full.columns().keys()
    for name, column in full.columns().items():
        np.testing.assert_array_equal(rfm.columns()[name], column)


def test_the_rfm_door_names_the_event_types_when_none_is_a_purchase() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "b"], "timestamp": [1.0, 2.0], "event": ["visit", "join"]}
    )
    with pytest.raises(DataError, match=r"whose event types are \['join', 'visit'\]"):
        RFM.from_events(frame)


def test_the_rfm_door_keeps_every_named_purchase_event() -> None:
    rng = np.random.default_rng(11)
    n = 400
    frame = pd.DataFrame(
        {
            "customer_id": np.array([f"c{i}" for i in rng.integers(0, 40, n)], dtype=object),
            "timestamp": np.datetime64("2024-01-01", "ns")
            + rng.integers(0, 90 * 86_400, n).astype("m8[s]").astype("m8[ns]"),
            "event": np.array(["visit", "order", "renewal", "join"], dtype=object)[
                rng.integers(0, 4, n)
            ],
            "value": rng.integers(1, 400, n) / 4.0,
        }
    )
    options = {"purchase_events": ["order", "renewal"], "calibration_end": "2024-03-01"}
    rfm = RFM.from_events(frame, value_col="value", **options)
    full = EventLog.from_frame(frame, value_col="value").rfm(**options)
    assert rfm.has_holdout and len(rfm) > 20
    assert rfm.columns().keys() == full.columns().keys()
    for name, column in full.columns().items():
        np.testing.assert_array_equal(rfm.columns()[name], column)
    assert rfm.n_without_purchase == full.n_without_purchase
