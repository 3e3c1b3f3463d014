"""Seeded recovery of known covariate effects on simulated customer bases."""

from __future__ import annotations

import numpy as np
import pytest

from funnelkit.clv import BetaGeoFitter, ParetoNBDFitter
from funnelkit.datasets.covariates import (
    simulate_bgnbd_covariates,
    simulate_pareto_nbd_covariates,
)

TRUTH = {
    "purchase": {"member[True]": 0.5, "channel[tiktok]": -0.3},
    "dropout": {"channel[tiktok]": 0.7},
}
CASES = [
    (BetaGeoFitter, simulate_bgnbd_covariates),
    (ParetoNBDFitter, simulate_pareto_nbd_covariates),
]


def _errors(fitter, simulate, seed, n=3000):
    sim = simulate(n, T=52.0, coefficients=TRUTH, seed=seed)
    model = fitter().fit(sim.rfm, covariates=sim.covariates)
    table = model.coefficients_
    pairs = zip(table["process"], table["covariate"], strict=True)
    truth = np.array([TRUTH.get(p, {}).get(c, 0.0) for p, c in pairs])
    return model, table, truth


@pytest.mark.parametrize(("fitter", "simulate"), CASES)
def test_effects_are_recovered_within_their_standard_errors(fitter, simulate):
    model, table, truth = _errors(fitter, simulate, seed=2024)
    assert model.result_.converged
    z = (table["estimate"].to_numpy() - truth) / table["std_error"].to_numpy()
    assert np.abs(z).max() < 3.5
    # the clear purchase effects are found with the right sign
    member = table[(table["process"] == "purchase") & (table["covariate"] == "member[True]")]
    assert float(member["lower"].iloc[0]) > 0


@pytest.mark.slow
@pytest.mark.parametrize(("fitter", "simulate"), CASES)
def test_intervals_cover_the_truth_at_about_the_nominal_rate(fitter, simulate):
    hits, total = 0, 0
    for seed in range(12):
        _, table, truth = _errors(fitter, simulate, seed=100 + seed)
        hits += int(((table["lower"] <= truth) & (truth <= table["upper"])).sum())
        total += truth.size
    # 72 intervals at 95%: a binomial count between 0.88 and 1 covers chance variation
    assert 0.88 <= hits / total <= 1.0
