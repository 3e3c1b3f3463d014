"""Bad covariate tables for TimeVaryingParetoNBDFitter: each error counts, shows ids, says the fix.

Property tests corrupt a valid simulated table (rows dropped inside customers' windows, values
made missing, customers' rows removed) and check the exact count and an example id.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from funnelkit.clv._time_varying_data import Source, build_panel
from funnelkit.datasets import simulate_time_varying_pareto_nbd
from funnelkit.exceptions import DataError, FunnelkitError

SIM = simulate_time_varying_pareto_nbd(30, seed=5)
COV = SIM.covariates
WEEK = (COV["period_start"] - np.datetime64("2024-01-01")) // np.timedelta64(7, "D")
IDS = [str(i) for i in np.unique(COV["customer_id"])]


def _build(covariates: Any, **kwargs: Any) -> Any:
    return build_panel(
        SIM.events,
        covariates,
        Source(calibration_end=SIM.calibration_end),
        purchase=kwargs.get("purchase"),
        dropout=kwargs.get("dropout"),
        drop_constant=False,
    )


def _without(rows: np.ndarray) -> dict[str, np.ndarray]:
    keep = np.ones(WEEK.size, dtype=bool)
    keep[rows] = False
    return {k: v[keep] for k, v in COV.items()}


def test_the_valid_table_builds() -> None:
    panel, design = _build(COV)
    assert panel.n_customers == 30 and design.purchase == ("campaign", "member")


# every customer is acquired by week 26 and observed to week 52: rows of weeks 27-51 lie
# inside every window, and no week loses all its rows when at most 10 customers lose one
INSIDE = np.flatnonzero((WEEK >= 27) & (WEEK <= 51))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(list(INSIDE)), min_size=1, max_size=10, unique=True))
def test_missing_periods_are_counted(rows: list[int]) -> None:
    affected = np.unique(COV["customer_id"][rows])
    with pytest.raises(DataError) as info:
        _build(_without(np.array(rows)))
    message = str(info.value)
    assert message.startswith(f"{affected.size} customer(s) miss covariate rows for periods")
    assert repr(str(affected[0])) in message
    assert "add a row for each period of each customer's window" in message


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(0, WEEK.size - 1), min_size=1, max_size=8, unique=True),
    st.sampled_from([np.nan, np.inf]),
)
def test_missing_values_are_counted(rows: list[int], value: float) -> None:
    member = COV["member"].copy()
    member[rows] = value
    with pytest.raises(DataError) as info:
        _build({**COV, "member": member})
    message = str(info.value)
    assert message.startswith(f"{len(rows)} covariate row(s) have missing or infinite values")
    assert repr(str(np.unique(COV["customer_id"][rows])[0])) in message
    assert "fill them" in message


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(IDS), min_size=1, max_size=29, unique=True))
def test_customers_without_rows_are_counted(gone: list[str]) -> None:
    rows = np.flatnonzero(np.isin(COV["customer_id"], gone))
    with pytest.raises(DataError) as info:
        _build(_without(rows))
    message = str(info.value)
    assert message.startswith(f"{len(gone)} of 30 purchasing customer(s) have no covariate rows")
    assert repr(sorted(gone)[0]) in message
    assert "add their rows to the covariate table" in message


def test_a_window_starting_before_the_first_row_is_a_missing_period() -> None:
    # drop each customer's first row: their first purchase is then before any row
    first = np.flatnonzero(np.r_[True, COV["customer_id"][1:] != COV["customer_id"][:-1]])
    with pytest.raises(DataError, match=r"^30 customer\(s\) miss covariate rows"):
        _build(_without(first))


def test_other_bad_tables() -> None:
    doubled = {k: np.concatenate([v, v[:2]]) for k, v in COV.items()}
    with pytest.raises(DataError, match=r"^2 covariate row\(s\) repeat a \(customer, period\)"):
        _build(doubled)
    words = np.where(COV["member"] > 0, "yes", "no")
    with pytest.raises(DataError, match=r"Covariate 'member' is not numeric\. Encode categories"):
        _build({**COV, "member": words})
    with pytest.raises(DataError, match="column 'period_start' \\(given as period_col\\)"):
        _build({k: v for k, v in COV.items() if k != "period_start"})
    with pytest.raises(DataError, match="column 'memebr' \\(given as purchase_covariates\\)"):
        _build(COV, purchase=["memebr"])
    with pytest.raises(FunnelkitError, match="has no covariate columns"):
        _build({k: COV[k] for k in ("customer_id", "period_start")})
