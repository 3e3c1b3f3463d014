"""Spark, in local mode: aggregation equals the in-memory path; scoring equals in-memory scoring.

One SparkSession (local[2], two shuffle partitions, no UI) serves the whole module. In CI a
missing pyspark is a failure, not a skip.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

try:
    import pyspark  # noqa: F401
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("pyspark is not installed", allow_module_level=True)

from _spark import local_spark
from aggregate._helpers import assert_same_journeys, assert_same_rfm, random_events

from funnelkit import RFM, DataError, EventLog, Funnel, FunnelkitError, Stage
from funnelkit.aggregate import rfm_frame
from funnelkit.clv import BetaGeoFitter, GammaGammaFitter
from funnelkit.datasets import load_cdnow
from funnelkit.scoring import score as score_in_memory
from funnelkit.spark import score

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark():
    yield from local_spark()


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return random_events(11, n_customers=60, n_rows=900)


@pytest.fixture(scope="module")
def sdf(spark, events):
    frame = spark.createDataFrame(events)
    frame.cache()
    return frame


# ---------------------------------------------------------------------- aggregation
@pytest.mark.parametrize(
    ("unit", "window"),
    [
        ("D", {}),
        ("W", {"calibration_end": "2023-09-14 13:30"}),
        ("M", {"calibration_end": "2023-06-30 23:59:59", "observation_end": "2024-05-20 08:00"}),
        ("h", {"observation_end": "2024-02-10 12:00"}),
    ],
)
def test_rfm_matches_in_memory(events, sdf, unit, window):
    expected = EventLog.from_frame(events, value_col="value").rfm(time_unit=unit, **window)
    got = RFM.from_events(sdf, value_col="value", event_col="event", time_unit=unit, **window)
    assert_same_rfm(expected, got)
    assert len(got) > 20


@pytest.mark.parametrize(("order", "end"), [("ordered", None), ("any", "2024-03-05 10:00")])
def test_journeys_match_in_memory(events, sdf, order, end):
    funnel = Funnel(
        stages=[
            Stage(name="prospect", events=["touch", "visit"]),
            Stage(name="engaged", events=["visit", "join"], min_count=2),
            Stage(name="repeat", events=["purchase"], min_count=3),
            Stage(name="ambassador", events=["refer"]),
        ],
        order=order,
    )
    log = EventLog.from_frame(events, attribute_cols=["channel"])
    expected = funnel.journeys(log, observation_end=end, time_unit="D")
    got = funnel.journeys(sdf, observation_end=end, time_unit="D", attribute_cols=["channel"])
    assert_same_journeys(expected, got)
    assert got.counts()["repeat"] > 0


def test_wall_clock_of_the_session_time_zone(spark, events, sdf):
    local = events.assign(
        timestamp=events["timestamp"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    )
    expected = EventLog.from_frame(local, value_col="value").rfm(time_unit="h")
    spark.conf.set("spark.sql.session.timeZone", "America/New_York")
    try:
        got = RFM.from_events(sdf, value_col="value", event_col="event", time_unit="h")
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert_same_rfm(expected, got)


def test_numeric_and_date_columns(spark, events, sdf):
    numeric = pd.DataFrame({"customer_id": [1, 1, 2, 2, 2], "t": [0.5, 3.25, -1.0, 2.0, 9.75]})
    expected = EventLog.from_frame(numeric, time_col="t", time_unit="W").rfm(
        time_unit="W", calibration_end=2.5
    )
    got = RFM.from_events(
        spark.createDataFrame(numeric), time_col="t", time_unit="W", calibration_end=2.5
    )
    assert_same_rfm(expected, got)
    dates = events.assign(timestamp=events["timestamp"].dt.floor("D"))
    expected = EventLog.from_frame(dates, value_col="value").rfm(time_unit="W")
    source = sdf.withColumn("timestamp", sdf["timestamp"].cast("date"))
    got = RFM.from_events(source, value_col="value", event_col="event", time_unit="W")
    assert_same_rfm(expected, got)


def test_bad_input_is_reported_from_spark(spark, events, sdf):
    with pytest.raises(DataError, match=r"'customer'.*Did you mean.*'customer_id'"):
        RFM.from_events(sdf, customer_col="customer")
    broken = events.copy()
    broken.loc[broken.index[:3], "timestamp"] = pd.NaT
    ids = broken["customer_id"].iloc[0]
    with pytest.raises(DataError, match=rf"3 row\(s\) have no timestamp.*'{ids}'"):
        RFM.from_events(spark.createDataFrame(broken), value_col="value", event_col="event")
    as_text = sdf.withColumn("timestamp", sdf["timestamp"].cast("string"))
    with pytest.raises(DataError, match=r"Time column 'timestamp' has type String.*to_timestamp"):
        RFM.from_events(as_text)


def test_collecting_apis_point_to_the_lazy_path(sdf):
    with pytest.raises(FunnelkitError, match=r"RFM.from_events\(sdf, ...\)"):
        EventLog.from_frame(sdf)


# ---------------------------------------------------------------------- scoring
@pytest.fixture(scope="module")
def cdnow():
    summary = load_cdnow()
    return summary, BetaGeoFitter().fit(summary, time_unit="W"), GammaGammaFitter().fit(summary)


def test_scores_equal_in_memory_scoring(spark, cdnow):
    summary, bgf, ggf = cdnow
    options = {"horizon": 12, "time_unit": "month", "discount_rate": 0.01}
    summaries = spark.createDataFrame(summary.assign(segment="cdnow")).repartition(2)
    scored = score(bgf, summaries, spend_model=ggf, **options).toPandas()
    scored = scored.sort_values("customer_id").reset_index(drop=True)
    expected = score_in_memory(bgf, summary, spend_model=ggf, progress=False, **options)
    assert (scored["segment"] == "cdnow").all()  # other columns are kept
    for name in ("expected_purchases", "probability_alive", "expected_spend", "clv"):
        np.testing.assert_array_equal(scored[name].to_numpy(), expected[name], err_msg=name)


def test_scoring_without_spend_model_and_renamed_columns(spark, cdnow):
    summary, bgf, _ = cdnow
    renamed = summary.rename(columns={"frequency": "x", "recency": "t_x", "T": "age"})
    scored = (
        score(
            bgf,
            spark.createDataFrame(renamed),
            horizon=52,
            frequency_col="x",
            recency_col="t_x",
            T_col="age",
        )
        .toPandas()
        .sort_values("customer_id")
    )
    assert list(scored.columns[-2:]) == ["expected_purchases", "probability_alive"]
    rfm = RFM.from_frame(summary, customer_col="customer_id", time_unit="W")
    np.testing.assert_array_equal(
        scored["expected_purchases"].to_numpy(), bgf.expected_purchases(52, rfm)
    )


def test_scoring_checks_the_schema_without_running(spark, cdnow):
    summary, bgf, ggf = cdnow
    summaries = spark.createDataFrame(summary)
    with pytest.raises(DataError, match=r"'recency'.*Did you mean"):
        score(bgf, summaries.withColumnRenamed("recency", "recency_w"), horizon=1)
    with pytest.raises(DataError, match="must be numeric"):
        score(bgf, summaries.withColumn("T", summaries["T"].cast("string")), horizon=1)
    with pytest.raises(FunnelkitError, match="needs discount_rate"):
        score(bgf, summaries, spend_model=ggf, horizon=1)
    with pytest.raises(DataError, match="already has columns"):
        score(
            bgf,
            summaries.withColumn("clv", summaries["T"]),
            spend_model=ggf,
            horizon=1,
            discount_rate=0.0,
        )
    with pytest.raises(FunnelkitError, match="takes a PySpark DataFrame"):
        score(bgf, summary, horizon=1)
    with pytest.raises(FunnelkitError, match=r"score them in Spark with funnelkit.spark.score"):
        score_in_memory(bgf, summaries, horizon=1)


def test_events_to_scores_without_collecting(sdf, cdnow):
    bgf = cdnow[1]  # a model in weeks, as the summaries
    options = {"value_col": "value", "event_col": "event", "time_unit": "W"}
    rfm = RFM.from_events(sdf, **options)
    summaries = rfm_frame(sdf, **options)  # stays in Spark
    scored = score(bgf, summaries, horizon=8).toPandas().sort_values("customer_id")
    expected = score_in_memory(bgf, rfm, horizon=8, progress=False)
    np.testing.assert_array_equal(scored["customer_id"].to_numpy(), expected["customer_id"])
    for name in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_array_equal(scored[name].to_numpy(), rfm.columns()[name], err_msg=name)
    np.testing.assert_array_equal(
        scored["expected_purchases"].to_numpy(), expected["expected_purchases"]
    )
