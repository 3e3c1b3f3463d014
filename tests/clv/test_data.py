"""Input coercion of the CLV fitters: anything that is not RFM data is a DataError."""

from __future__ import annotations

import pandas as pd
import pytest

from funnelkit import DataError
from funnelkit.clv import BetaGeoFitter


@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame({"frequency": [1, 0, 2], "recency": [3.0, 0.0, 5.0], "T": [5.0, 4.0, 6.0]})


def test_a_plain_list_is_refused() -> None:
    with pytest.raises(
        DataError,
        match=r"^Unsupported type list for the data: pass an RFM, a dataframe or a mapping",
    ):
        BetaGeoFitter().fit([1, 2, 3])


def test_a_missing_weights_column_suggests_the_close_names(summary: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"column 'weight' \(given as weights\) is not in the data"):
        BetaGeoFitter().fit(summary.assign(weights=1), weights="weight")


def test_text_summary_columns_are_counted(summary: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"^1 customer\(s\) have a frequency that is not a number"):
        BetaGeoFitter().fit(summary.assign(frequency=["1", "x", "2"]))
