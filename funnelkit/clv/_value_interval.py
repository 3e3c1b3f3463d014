"""The interval table of a lifetime value: the values at models rebuilt with parameter draws.

Each draw of the purchase model's parameters (and of a fitted spend model's) gives a model
rebuilt through its JSON document, the public way to set parameters; the values at those
models give the per-customer quantiles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from funnelkit._frames import Backend, frame_from_columns
from funnelkit.clv.covariates import CovariateEncoding, with_covariates
from funnelkit.clv.uncertainty import (
    CustomerUncertainty,
    customer_ids,
    draw_parameters,
    interval_level,
    resample_count,
)
from funnelkit.exceptions import FunnelkitError

__all__ = ["model_at", "value_interval_table"]


def value_interval_table(
    purchase_model: Any,
    spend_model: Any,
    data: Any,
    value_at: Callable[[Any, Any], np.ndarray],
    *,
    conf_level: float,
    n_resamples: int,
    n_draws: int | None,
    seed: int | np.random.Generator | None,
    backend: Backend,
) -> Any:
    """The interval table of :func:`~funnelkit.clv.customer_lifetime_value`.

    ``value_at(purchase, spend)`` computes the values with given models; it is evaluated at
    models rebuilt (through their JSON documents, the public way to set parameters) with
    each parameter draw. Spend given as numbers is taken as known.
    """
    level = interval_level(conf_level, "customer_lifetime_value")
    count = resample_count(n_resamples, n_draws)
    if not isinstance(purchase_model, CustomerUncertainty):
        raise FunnelkitError(
            "customer_lifetime_value(..., conf_level=...) needs a fitted funnelkit purchase "
            f"model (BG/NBD, MBG/NBD, Pareto/NBD, BG/BB); got a {type(purchase_model).__name__}."
            " Drop conf_level for the values alone."
        )
    estimate = value_at(purchase_model, spend_model)
    rng = np.random.default_rng(seed)
    purchases = [
        model_at(purchase_model, p) for p in purchase_model.parameter_draws(count, seed=rng)
    ]
    spends: list[Any] = [spend_model] * count
    fitted_spend = hasattr(spend_model, "to_json") and hasattr(spend_model, "result_")
    if fitted_spend and with_covariates(spend_model):
        # base parameters and coefficients together (raises when there is no covariance)
        spends = [model_at(spend_model, p) for p in spend_model.parameter_draws(count, seed=rng)]
    elif fitted_spend:
        covariance = spend_model.result_.covariance
        if covariance is None:
            raise FunnelkitError(
                f"The {type(spend_model).__name__} has no parameter covariance (the observed "
                "information was not positive definite, or it was loaded from a document "
                "written without it), so its uncertainty cannot be drawn: refit it, or give "
                "the spend per purchase as numbers."
            )
        # the spend models' parameters (Gamma-Gamma and its common-rate limit) are all
        # positive: drawn on the log scale
        drawn = draw_parameters(spend_model.params_, covariance, (), count, rng)
        spends = [model_at(spend_model, p) for p in drawn]
    values = np.stack([value_at(p, s) for p, s in zip(purchases, spends, strict=True)])
    bounds = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=0)
    unit = getattr(purchase_model, "time_unit_", None)
    ids = customer_ids(data, unit)
    columns = {
        "estimate": np.asarray(estimate, dtype=float),
        "lower": np.minimum(bounds[0], estimate),
        "upper": np.maximum(bounds[1], estimate),
    }
    frame = frame_from_columns(({"customer_id": ids} if ids is not None else {}) | columns, backend)
    if backend == "pandas":
        frame.attrs["conf_level"] = level
    return frame


def model_at(model: Any, params: Mapping[str, float]) -> Any:
    """The fitted ``model`` with other parameter values, rebuilt from its JSON document.

    A draw of a model with covariates also holds the coefficients (``"process:covariate"``
    keys, see :meth:`~funnelkit.clv.BetaGeoFitter.parameter_draws`): they replace the
    stored ones."""
    document = json.loads(model.to_json())
    document["params"] = {k: v for k, v in params.items() if ":" not in k}
    if len(document["params"]) < len(params):
        state = document["state"]["covariates"]
        names = CovariateEncoding.model_validate(state["encoding"]).names
        state["coefficients"] = {
            proc: [params[f"{proc}:{name}"] for name in names] for proc in state["coefficients"]
        }
    return type(model).from_json(json.dumps(document))
