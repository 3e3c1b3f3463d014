"""Spark scoring of models fitted with covariates equals in-memory scoring.

The batch function runs without Spark; the end-to-end tests need pyspark (a local[1]
session) and are skipped without it, except in CI.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from _spark import local_spark

from funnelkit import RFM, FunnelkitError
from funnelkit.clv import BetaGeoFitter, GammaGammaFitter
from funnelkit.clv.spark import score_arrow_batch
from funnelkit.datasets.covariates import simulate_bgnbd_covariates
from funnelkit.scoring import score as score_in_memory

ROLES = {"frequency": "frequency", "recency": "recency", "T": "T"}
SPEND_ROLES = {**ROLES, "monetary_value": "monetary_value"}
OPTIONS = {"horizon": 26.0, "discount_rate": 0.002}


@pytest.fixture(scope="module")
def world():
    """A BG/NBD and a Gamma-Gamma, both fitted with covariates (the spend model on
    membership only), and the customers' summaries with their covariates in one frame."""
    sim = simulate_bgnbd_covariates(
        400,
        T=52.0,
        coefficients={"purchase": {"member[True]": 0.6}, "dropout": {"channel[tiktok]": 0.5}},
        seed=3,
    )
    rng = np.random.default_rng(4)
    base = sim.rfm.columns()
    member = np.asarray(sim.covariates["member"])
    # mean spend 20, a third higher for members; no spend without repeat purchases
    spend = rng.gamma(6.0, (20.0 * np.where(member, 4 / 3, 1.0)) / 6.0)
    monetary = np.where(base["frequency"] > 0, spend, 0.0)
    rfm = RFM.from_arrays(
        frequency=base["frequency"],
        recency=base["recency"],
        T=base["T"],
        monetary_value=monetary,
        customer_ids=base["customer_id"],
        time_unit="W",
    )
    purchase = BetaGeoFitter().fit(rfm, covariates=sim.covariates)
    spender = GammaGammaFitter().fit(rfm, covariates={"member": member})
    frame = pd.DataFrame({**rfm.columns(), **sim.covariates})
    return rfm, sim.covariates, purchase, spender, frame


def _in_memory(rfm, covariates, purchase, spender):
    """The local scores every Spark path must equal."""
    return score_in_memory(
        purchase,
        rfm,
        spend_model=spender,
        covariates=covariates,
        spend_covariates={"member": covariates["member"]},
        progress=False,
        **OPTIONS,
    )


def test_batch_scores_equal_in_memory_scores(world):
    rfm, covariates, purchase, spender, frame = world
    expected = _in_memory(rfm, covariates, purchase, spender)
    # two batches, as Spark would hand them over: each is split by its own patterns
    got: dict[str, list[np.ndarray]] = {}
    for part in (frame.iloc[:150], frame.iloc[150:]):
        scored = score_arrow_batch(
            purchase,
            pa.RecordBatch.from_pandas(part, preserve_index=False),
            SPEND_ROLES,
            spend_model=spender,
            covariates=["channel", "member"],
            spend_covariates=["member"],
            **OPTIONS,
        )
        for name, values in scored.items():
            got.setdefault(name, []).append(values)
    assert sorted(got) == ["clv", "expected_purchases", "expected_spend", "probability_alive"]
    for name, parts in got.items():
        np.testing.assert_array_equal(np.concatenate(parts), expected[name], err_msg=name)
    # the patterns matter: customers without repeat purchases share one summary row
    # (T = 52 for all) and differ only by covariate pattern, so by their scores
    none = (frame["frequency"] == 0).to_numpy()
    patterns = frame.loc[none, ["channel", "member"]].drop_duplicates()
    assert len(patterns) == 6
    assert np.unique(expected["expected_purchases"][none]).size == 6


def test_batch_without_covariates_raises_the_in_memory_error(world):
    rfm, _, purchase, _, frame = world
    batch = pa.RecordBatch.from_pandas(frame, preserve_index=False)
    with pytest.raises(FunnelkitError) as local:
        score_in_memory(purchase, rfm, progress=False, horizon=1.0)
    with pytest.raises(FunnelkitError) as batched:
        score_arrow_batch(purchase, batch, ROLES, horizon=1.0)
    assert str(batched.value) == str(local.value)
    assert type(batched.value) is type(local.value)
    assert "was fitted with covariates" in str(local.value)


# ---------------------------------------------------------------------- in Spark
@pytest.fixture(scope="module")
def spark():
    try:
        import pyspark  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("pyspark is not installed")
    yield from local_spark(1, {"spark.sql.execution.arrow.maxRecordsPerBatch": "120"})


@pytest.mark.spark
def test_spark_scores_equal_in_memory_scores(spark, world):
    from funnelkit.spark import score

    rfm, covariates, purchase, spender, frame = world
    summaries = spark.createDataFrame(frame.rename(columns={"T": "age"})).repartition(2)
    scored = (
        score(
            purchase,
            summaries,
            spend_model=spender,
            T_col="age",
            covariates=["channel", "member"],
            spend_covariates="member",
            **OPTIONS,
        )
        .toPandas()
        .sort_values("customer_id")
    )
    expected = _in_memory(rfm, covariates, purchase, spender)
    np.testing.assert_array_equal(scored["customer_id"].to_numpy(), expected["customer_id"])
    for name in ("expected_purchases", "probability_alive", "expected_spend"):
        np.testing.assert_array_equal(scored[name].to_numpy(), expected[name], err_msg=name)
    # the discounted sums of a lifetime value vary in the last bit with the rows scored
    # together (as in-memory scoring does with its batch_size), so: equal to 1e-14
    np.testing.assert_allclose(scored["clv"].to_numpy(), expected["clv"], rtol=1e-14, atol=0)


@pytest.mark.spark
def test_spark_refuses_on_the_driver(spark, world):
    from funnelkit.spark import score

    rfm, _, purchase, spender, frame = world
    summaries = spark.createDataFrame(frame)
    with pytest.raises(FunnelkitError) as local:
        score_in_memory(purchase, rfm, progress=False, horizon=1.0)
    with pytest.raises(FunnelkitError) as remote:
        score(purchase, summaries, horizon=1.0)
    assert str(remote.value) == (
        f"{local.value} In Spark, name the DataFrame's covariate columns: "
        "covariates=['channel', 'member']."
    )
    plain = BetaGeoFitter().fit(rfm)
    with pytest.raises(FunnelkitError, match=r"^This GammaGammaFitter was fitted with cov"):
        score(plain, summaries, spend_model=spender, **OPTIONS)
    with pytest.raises(FunnelkitError, match=r"'chanel' \(given as covariates\).*'channel'"):
        score(purchase, summaries, horizon=1.0, covariates=["chanel", "member"])
    # a fitted column left out is named on the driver, with the argument that left it out
    with pytest.raises(FunnelkitError) as short:
        score(purchase, summaries, horizon=1.0, covariates=["channel"])
    assert str(short.value).startswith(
        "The BetaGeoFitter was fitted with covariate columns ['channel', 'member'], "
        "but covariates=['channel'] leaves out ['member']: name every one of them"
    )
    with pytest.raises(
        FunnelkitError, match=r"spend_covariates=\['channel'\] leaves out \['member'\]"
    ):
        score(
            purchase,
            summaries,
            spend_model=spender,
            covariates=["channel", "member"],
            spend_covariates="channel",
            **OPTIONS,
        )
    with pytest.raises(FunnelkitError, match=r"covariates=\[\] names no column"):
        score(purchase, summaries, horizon=1.0, covariates=[])
    with pytest.raises(FunnelkitError, match="neither model was fitted with covariates"):
        score(plain, summaries, horizon=1.0, covariates=["channel"])
