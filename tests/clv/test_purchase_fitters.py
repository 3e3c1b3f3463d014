"""Purchase fitters by the names LifecycleModel(purchase_model=...) takes."""

from __future__ import annotations

import pytest

import funnelkit.clv as clv
from funnelkit import FunnelkitError, LifecycleModel
from funnelkit.clv import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter, purchase_fitter
from funnelkit.clv.purchase_fitters import PURCHASE_FITTERS
from funnelkit.lifecycle._components import PURCHASE_MODEL_NAMES


def test_every_lifecycle_name_builds_its_fitter_with_the_settings() -> None:
    # the names LifecycleModel accepts, no more and no fewer
    assert tuple(PURCHASE_FITTERS) == PURCHASE_MODEL_NAMES
    expected = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter}
    expected["paretonbd"] = ParetoNBDFitter
    for name, klass in expected.items():
        fitter = purchase_fitter(name, penalizer=0.01, conf_level=0.9)
        assert type(fitter) is klass
        assert not fitter.is_fitted
        assert fitter.get_params() == {**klass().get_params(), "penalizer": 0.01, "conf_level": 0.9}
    assert purchase_fitter("bgnbd").get_params() == BetaGeoFitter().get_params()
    assert "purchase_fitter" in clv.__all__


def test_a_fitter_built_by_name_is_a_lifecycle_template() -> None:
    fitter = purchase_fitter("mbgnbd", penalizer=0.001)
    model = LifecycleModel(purchase_model=fitter, n_resamples=0)
    assert model.get_params()["purchase_model"] is fitter


def test_wrong_names_and_settings_say_what_exists() -> None:
    with pytest.raises(
        FunnelkitError,
        match=r"^Unknown purchase model 'bgndb': the names are \['bgnbd', 'mbgnbd', "
        r"'paretonbd'\]\. Did you mean 'bgnbd'\?$",
    ):
        purchase_fitter("bgndb")
    with pytest.raises(FunnelkitError, match=r"^Unknown purchase model 3: the names are"):
        purchase_fitter(3)  # type: ignore[arg-type]
    with pytest.raises(
        FunnelkitError,
        match=r"^ParetoNBDFitter has no setting\(s\) \['penalty'\]; its settings are \[.*"
        r"'penalizer'\]\. Did you mean 'penalizer' for 'penalty'\?$",
    ):
        purchase_fitter("paretonbd", penalty=0.1)
