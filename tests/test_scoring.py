"""Chunked in-memory scoring: same numbers as scoring at once, bounded memory, progress."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from funnelkit import RFM, DataError, FunnelkitError
from funnelkit.clv import BetaGeoFitter, GammaGammaFitter, score_customers
from funnelkit.datasets import load_cdnow
from funnelkit.scoring import _Progress, score


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return load_cdnow()


@pytest.fixture(scope="module")
def models(summary):
    return BetaGeoFitter().fit(summary, time_unit="W"), GammaGammaFitter().fit(summary)


def test_batches_change_nothing(summary, models):
    bgf, ggf = models
    options = {"spend_model": ggf, "horizon": 12, "time_unit": "month", "discount_rate": 0.01}
    whole = score_customers(
        bgf, ggf, summary, **{k: v for k, v in options.items() if k != "spend_model"}
    )
    batched = score(bgf, summary, batch_size=333, progress=False, **options)
    assert list(batched) == list(whole)
    for name in whole:
        np.testing.assert_array_equal(batched[name], whole[name], err_msg=name)
    assert batched["clv"].max() > 100  # real values, not zeros


def test_without_spend_model(summary, models):
    bgf, _ = models
    rfm = RFM.from_frame(summary, customer_col="customer_id", time_unit="W")
    scores = score(bgf, rfm, horizon=26, batch_size=500, progress=False)
    assert list(scores) == ["customer_id", "expected_purchases", "probability_alive"]
    np.testing.assert_array_equal(scores["expected_purchases"], bgf.expected_purchases(26, rfm))
    np.testing.assert_array_equal(scores["probability_alive"], bgf.probability_alive(rfm))
    np.testing.assert_array_equal(scores["customer_id"], summary["customer_id"].to_numpy())
    months = score(bgf, rfm, horizon=6, time_unit="month", progress=False)
    np.testing.assert_allclose(
        months["expected_purchases"], bgf.expected_purchases(6 * 365.25 / 12 / 7, rfm)
    )


def test_mapping_input_and_frame_output(summary, models):
    bgf, _ = models
    mapping = {k: summary[k].to_numpy() for k in ("frequency", "recency", "T")}
    frame = score(bgf, mapping, horizon=4, backend="polars", progress=False)
    assert frame.columns == ["customer_id", "expected_purchases", "probability_alive"]
    assert frame["customer_id"].to_list()[:3] == [0, 1, 2]


def test_lazy_summaries_are_collected(summary, models):
    import duckdb

    bgf, _ = models
    relation = duckdb.connect().from_df(summary)
    got = score(bgf, relation, horizon=4, progress=False)
    want = score(bgf, summary, horizon=4, progress=False)
    np.testing.assert_array_equal(got["expected_purchases"], want["expected_purchases"])


def test_memory_is_bounded_by_the_batch(models):
    bgf, ggf = models
    rng = np.random.default_rng(3)
    n = 300_000
    freq = rng.integers(0, 30, n).astype(float)
    T = rng.uniform(30.0, 40.0, n)
    data = {
        "frequency": freq,
        "recency": np.where(freq > 0, T * rng.random(n), 0.0),
        "T": T,
        "monetary_value": np.where(freq > 0, rng.gamma(3.0, 10.0, n), 0.0),
    }
    options = {"spend_model": ggf, "horizon": 3, "time_unit": "month", "discount_rate": 0.01}

    def peak(batch_size: int) -> int:
        tracemalloc.start()
        score(bgf, data, batch_size=batch_size, progress=False, **options)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    output = 5 * n * 8  # the result arrays themselves
    assert peak(10_000) - output < (peak(n) - output) / 4


def test_progress_line():
    stream = io.StringIO()
    bar = _Progress(3000, enabled=True, stream=stream)
    bar.update(1000)
    bar.update(3000)
    bar.close()
    text = stream.getvalue()
    assert "\rscoring: 1,000/3,000 customers (33%)" in text
    assert "3,000/3,000 customers (100%)" in text and text.endswith("\n")
    quiet = io.StringIO()
    _Progress(10, enabled=False, stream=quiet).update(5)
    assert quiet.getvalue() == ""


def test_progress_on_request(summary, models, capsys):
    score(models[0], summary, horizon=1, batch_size=1000, progress=True)
    assert "2,357/2,357 customers (100%)" in capsys.readouterr().err


def test_bad_input(summary, models):
    bgf, ggf = models
    with pytest.raises(FunnelkitError, match="batch_size must be >= 1"):
        score(bgf, summary, horizon=1, batch_size=0)
    with pytest.raises(FunnelkitError, match="needs discount_rate"):
        score(bgf, summary, spend_model=ggf, horizon=1)
    with pytest.raises(DataError, match=r"lack \['T'\]"):
        score(bgf, summary.drop(columns=["T"]), horizon=1)
    broken = summary.assign(recency=summary["T"] + 1)
    with pytest.raises(DataError, match="recency larger than T"):
        score(bgf, broken, horizon=1, batch_size=100)
    days = RFM.from_frame(summary, time_unit="D")
    with pytest.raises(DataError, match="fitted in weeks"):
        score(bgf, days, horizon=1)


def test_the_scoring_door_lives_in_clv_and_keeps_its_public_paths(summary, models):
    import funnelkit.clv
    import funnelkit.clv.scoring
    import funnelkit.scoring
    import funnelkit.spark
    from funnelkit.clv import spark as clv_spark

    assert funnelkit.scoring.score is funnelkit.clv.scoring.score is funnelkit.clv.score
    assert funnelkit.scoring.score_batch is funnelkit.clv.scoring.score_batch
    assert funnelkit.spark.score is clv_spark.score
    bgf, ggf = models
    options = {"horizon": 12, "time_unit": "month", "discount_rate": 0.01}
    door = score(bgf, summary, spend_model=ggf, progress=False, **options)
    alias = score_customers(bgf, ggf, summary, chunk_size=700, **options)
    for name in door:
        np.testing.assert_array_equal(alias[name], door[name], err_msg=name)


def test_a_spend_per_customer_is_split_with_the_batches(summary, models):
    bgf, _ = models
    spend = np.linspace(1.0, 50.0, len(summary))
    options = {"horizon": 6, "time_unit": "month", "discount_rate": 0.01}
    batched = score(bgf, summary, spend_model=spend, batch_size=400, progress=False, **options)
    whole = score_customers(bgf, spend, summary, **options)
    np.testing.assert_array_equal(batched["expected_spend"], spend)
    np.testing.assert_array_equal(batched["clv"], whole["clv"])
    with pytest.raises(FunnelkitError, match=r"one value per customer \(2357\); got shape \(3,\)"):
        score(bgf, summary, spend_model=np.ones(3), progress=False, **options)


def test_identical_rows_with_other_covariates_get_their_own_scores(summary):
    """Distinct-row compression keys on the covariate pattern too, and batches or the
    order of a keyed covariate frame change nothing."""
    member = np.arange(len(summary)) % 3 == 0
    covariates = pd.DataFrame({"customer_id": summary.customer_id, "member": member})
    model = BetaGeoFitter().fit(summary, time_unit="W", covariates=covariates)
    twice = pd.concat([summary, summary], ignore_index=True)
    twice["customer_id"] = np.arange(len(twice))
    both = pd.DataFrame(
        {"customer_id": twice.customer_id, "member": np.r_[member, ~member]}
    ).sample(frac=1.0, random_state=0)
    one = score(model, twice, horizon=52.0, covariates=both, progress=False)
    many = score(model, twice, horizon=52.0, covariates=both, batch_size=999, progress=False)
    for name in ("expected_purchases", "probability_alive"):
        np.testing.assert_array_equal(one[name], many[name])
    n = len(summary)
    assert bool((one["expected_purchases"][:n] != one["expected_purchases"][n:]).all())
    aligned = {"member": np.r_[member, ~member]}
    rows = twice[["frequency", "recency", "T"]]
    expected = model.expected_purchases(52.0, rows, covariates=aligned)
    np.testing.assert_array_equal(one["expected_purchases"], expected)
