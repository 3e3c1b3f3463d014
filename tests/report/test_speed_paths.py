"""The report fits each transition's delay families once, whichever steps need them."""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

import funnelkit as fk
from funnelkit.conversion import estimate as estimate_module
from funnelkit.datasets import simulate_community


def test_no_delay_family_is_fitted_twice_on_the_same_entrants(monkeypatch):
    sim = simulate_community(3_000, seed=6)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    monkeypatch.setattr(estimate_module, "_FITS", type(estimate_module._FITS)())
    fitted: Counter[tuple[str, str]] = Counter()
    original = estimate_module.fit_cure_model

    def fit(durations, converted, name, **kwargs):
        content = np.ascontiguousarray(durations).tobytes() + np.asarray(converted).tobytes()
        fitted[(hashlib.sha256(content).hexdigest(), name)] += 1
        return original(durations, converted, name, **kwargs)

    monkeypatch.setattr(estimate_module, "fit_cure_model", fit)
    rep = fk.report(log, observation_end=sim.observation_end, n_resamples=0, seed=0)
    assert rep.trends and rep.channels is not None and rep.transitions is not None
    assert fitted, "the report fits delay families"
    assert max(fitted.values()) == 1
    # the stage conversion's pooled families are the trends' and the channel table's
    journeys = fk.Funnel.community().journeys(log, observation_end=sim.observation_end)
    chosen = fk.ConversionFitter().fit(journeys)
    assert [t.model for t in rep.trends] == [
        chosen.estimate(t.source, t.target).model for t in rep.trends
    ]
