"""Collected aggregates come back sorted by customer id, in Python's order of the ids."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import funnelkit as fk
from funnelkit.ingest.lazy._common import arrow_columns

TEXT = ["b", "a", "é", "Z", "z", "", "a b", "日本", "😀", "e\u0301", "ab"]


@pytest.mark.parametrize("text_type", [pa.string(), pa.large_string(), pa.string_view()])
@pytest.mark.parametrize("kind", ["varied", "one length"])
def test_rows_are_sorted_by_id_as_python_sorts_them(text_type: pa.DataType, kind: str) -> None:
    # string_view has no Arrow sort kernel: numpy sorts those ids instead, as it sorts ids of
    # one length (here some share their first 8 bytes)
    rng = np.random.default_rng(2)
    ids = [TEXT[i] for i in rng.permutation(len(TEXT))]
    if kind == "one length":
        heads = [f"{h:08x}" for h in rng.integers(0, 2**32, 200)]
        ids = list({h + f"{t:012x}" for h in heads + heads[:20] for t in rng.integers(0, 2**48, 1)})
    table = pa.table({"fk_c": pa.array(ids, text_type), "n": pa.array(range(len(ids)))})
    out = arrow_columns(table, sort_by="fk_c")
    assert out["fk_c"].tolist() == sorted(ids)
    assert [ids[i] for i in out["n"]] == sorted(ids)


def test_lazy_rfm_lists_text_ids_in_the_order_of_the_in_memory_log() -> None:
    rng = np.random.default_rng(4)
    n = 300
    events = pd.DataFrame(
        {
            "customer_id": [TEXT[i] for i in rng.integers(0, len(TEXT), n)],
            "timestamp": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
            "value": np.round(rng.gamma(2.0, 10.0, n), 2),
        }
    )
    eager = fk.RFM.from_events(events, value_col="value")
    lazy = fk.RFM.from_events(duckdb.from_df(events), value_col="value")
    assert (
        lazy.customer_ids.tolist() == eager.customer_ids.tolist() == sorted(set(events.customer_id))
    )
    np.testing.assert_array_equal(lazy.frequency, eager.frequency)
    np.testing.assert_array_equal(lazy.recency, eager.recency)
