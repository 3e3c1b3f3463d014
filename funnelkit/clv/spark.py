"""Scoring customer summaries that live in Spark, without collecting them.

A fitted model travels to the executors as its JSON (``model.to_json()``, loaded back with
``ModelClass.from_json()``: no pickled estimator) and scores vectorised Arrow batches with
``DataFrame.mapInArrow``, each batch through the in-memory door
(:func:`funnelkit.clv.scoring.score`, and so :func:`~funnelkit.clv.scoring.score_batch`), so
the numbers are identical. Models fitted with covariates score the same way: each batch is
split by covariate pattern and each pattern is scored by the plain model at its parameters.
Executors need funnelkit installed.
``funnelkit.spark`` is the public path of this module.

RFM summaries of events in Spark come from :meth:`funnelkit.RFM.from_events` (which
aggregates in Spark and returns the per-customer summary to the driver).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from funnelkit._frames import check_columns
from funnelkit.clv.covariates import with_covariates
from funnelkit.clv.scoring import score as score_in_memory, score_columns
from funnelkit.clv.value import model_covariates
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.units import TimeUnitLike

__all__ = ["score", "score_arrow_batch"]


def score(
    purchase_model: Any,
    sdf: Any,
    *,
    spend_model: Any = None,
    horizon: float,
    time_unit: TimeUnitLike | None = None,
    discount_rate: float | None = None,
    frequency_col: str = "frequency",
    recency_col: str = "recency",
    T_col: str = "T",
    monetary_value_col: str | None = None,
    covariates: str | Sequence[str] | None = None,
    spend_covariates: str | Sequence[str] | None = None,
) -> Any:
    """Add model scores to a Spark DataFrame of customer summaries (lazily).

    Parameters
    ----------
    purchase_model
        A fitted purchase model (e.g. :class:`funnelkit.clv.BetaGeoFitter`).
    sdf
        A PySpark DataFrame, one row per customer, with frequency, recency and T in the
        purchase model's time unit (and monetary value for a spend model). Other columns
        (ids, segments) are kept.
    spend_model
        Optional fitted :class:`funnelkit.clv.GammaGammaFitter`: adds ``expected_spend`` and
        ``clv``.
    horizon, time_unit, discount_rate
        As :func:`funnelkit.scoring.score`.
    frequency_col, recency_col, T_col, monetary_value_col
        Column names; ``monetary_value_col`` defaults to ``"monetary_value"`` with a spend
        model.
    covariates, spend_covariates
        For models fitted with covariates: the names of ``sdf``'s covariate columns (the
        columns the model was fitted with, under the same names), as
        :func:`funnelkit.scoring.score` takes their values; ``spend_covariates`` only when
        the spend model's differ. Each batch is scored per covariate pattern by the plain
        model at that pattern's parameters, exactly as in memory.

    Returns
    -------
    pyspark.sql.DataFrame
        ``sdf`` plus double columns ``expected_purchases``, ``probability_alive`` and, with a
        spend model, ``expected_spend`` and ``clv``. Nothing runs until an action.

    Examples
    --------
    >>> from pyspark.sql import SparkSession  # doctest: +SKIP
    >>> spark = SparkSession.builder.master("local[2]").getOrCreate()  # doctest: +SKIP
    >>> summaries = spark.createDataFrame(rfm.to_frame())  # doctest: +SKIP
    >>> scored = score(bgf, summaries, spend_model=ggf, horizon=12, time_unit="month",
    ...                discount_rate=0.01)  # doctest: +SKIP
    >>> scored.orderBy("clv", ascending=False).limit(10).show()  # doctest: +SKIP

    A model fitted with ``fit(rfm, covariates=X)`` names the covariate columns:

    >>> scored = score(model, summaries, horizon=12,
    ...                covariates=["channel", "member"])  # doctest: +SKIP
    """
    if not type(sdf).__module__.startswith("pyspark.sql"):
        raise FunnelkitError(
            f"funnelkit.spark.score takes a PySpark DataFrame, got {type(sdf).__name__}; "
            "use funnelkit.scoring.score for in-memory summaries."
        )
    with_spend = spend_model is not None
    if with_spend and discount_rate is None:
        raise FunnelkitError(
            "A lifetime value needs discount_rate=... (per time_unit, e.g. 0.01 a month)."
        )
    if with_spend and monetary_value_col is None:
        monetary_value_col = "monetary_value"
    roles = {"frequency": frequency_col, "recency": recency_col, "T": T_col}
    if with_spend and monetary_value_col is not None:
        roles["monetary_value"] = monetary_value_col
    _check_schema(sdf, roles)
    purchase_cols, spend_cols = _covariate_columns(
        sdf, purchase_model, spend_model, covariates, spend_covariates
    )
    names = score_columns(with_spend)
    clash = [n for n in names if n in sdf.columns]
    if clash:
        raise DataError(f"The DataFrame already has columns {clash}; drop or rename them first.")

    from pyspark.sql.types import DoubleType, StructField, StructType

    schema = StructType([*sdf.schema.fields, *(StructField(n, DoubleType()) for n in names)])
    purchase = (type(purchase_model), purchase_model.to_json())
    spend = None if spend_model is None else (type(spend_model), spend_model.to_json())

    def score_batches(batches: Any) -> Any:
        import pyarrow as pa

        # Runs on the executors: models are rebuilt from JSON once per partition.
        model = purchase[0].from_json(purchase[1])
        spender = None if spend is None else spend[0].from_json(spend[1])
        for batch in batches:
            if batch.num_rows == 0:
                continue
            scored = score_arrow_batch(
                model,
                batch,
                roles,
                spend_model=spender,
                horizon=horizon,
                time_unit=time_unit,
                discount_rate=discount_rate,
                covariates=purchase_cols,
                spend_covariates=spend_cols,
            )
            extra = [pa.array(scored[n], type=pa.float64()) for n in names]
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, *extra], names=[*batch.schema.names, *names]
            )

    return sdf.mapInArrow(score_batches, schema)


def score_arrow_batch(
    purchase_model: Any,
    batch: Any,
    roles: dict[str, str],
    *,
    spend_model: Any = None,
    horizon: float,
    time_unit: TimeUnitLike | None = None,
    discount_rate: float | None = None,
    covariates: Sequence[str] | None = None,
    spend_covariates: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Scores of one Arrow record batch (or table), as :func:`score` computes on each.

    ``roles`` maps ``frequency``, ``recency``, ``T`` (and ``monetary_value``) to the batch's
    columns; ``covariates`` and ``spend_covariates`` name its covariate columns. The batch
    goes through :func:`funnelkit.scoring.score` as a mapping of arrays, so a model with
    covariates scores each covariate pattern with the plain model at its parameters.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from funnelkit.clv import BetaGeoFitter
    >>> from funnelkit.datasets import load_cdnow
    >>> summary = load_cdnow()
    >>> bgf = BetaGeoFitter().fit(summary, time_unit="W")
    >>> batch = pa.RecordBatch.from_pandas(summary.head(3))
    >>> roles = {"frequency": "frequency", "recency": "recency", "T": "T"}
    >>> score_arrow_batch(bgf, batch, roles, horizon=52)["expected_purchases"].round(3)
    array([1.559, 0.26 , 0.252])
    """

    def column(name: str) -> np.ndarray:
        return np.asarray(batch.column(name).to_numpy(zero_copy_only=False))

    data = {role: column(col).astype(float) for role, col in roles.items()}
    scored = score_in_memory(
        purchase_model,
        data,
        spend_model=spend_model,
        horizon=horizon,
        time_unit=time_unit,
        discount_rate=discount_rate,
        batch_size=max(batch.num_rows, 1),
        progress=False,
        # Spark runs one partition per core already
        n_jobs=1,
        covariates=None if covariates is None else {c: column(c) for c in covariates},
        spend_covariates=(
            None if spend_covariates is None else {c: column(c) for c in spend_covariates}
        ),
    )
    return {k: v for k, v in scored.items() if k != "customer_id"}


def _covariate_columns(
    sdf: Any,
    purchase_model: Any,
    spend_model: Any,
    covariates: str | Sequence[str] | None,
    spend_covariates: str | Sequence[str] | None,
) -> tuple[list[str] | None, list[str] | None]:
    """The covariate columns each model gets, checked on the driver (no Spark job runs):
    the columns exist, no model is given covariates it was not fitted with, and a model
    fitted with covariates gets some."""
    named = {"covariates": covariates, "spend_covariates": spend_covariates}
    lists = {
        k: None if v is None else ([v] if isinstance(v, str) else list(v)) for k, v in named.items()
    }
    for argument, cols in lists.items():
        if cols is not None and not cols:
            raise FunnelkitError(
                f"{argument}=[] names no column: name the DataFrame's covariate columns, "
                "e.g. covariates=['channel', 'member'], or leave it out."
            )
        for col in cols or []:
            check_columns(list(sdf.columns), {argument: col})
    purchase_cols, spend_cols = model_covariates(
        purchase_model, spend_model, lists["covariates"], lists["spend_covariates"]
    )
    spend_argument = "covariates" if spend_covariates is None else "spend_covariates"
    for argument, model, cols in (
        ("covariates", purchase_model, purchase_cols),
        (spend_argument, spend_model, spend_cols),
    ):
        if cols is None and with_covariates(model):
            _refuse_like_in_memory(model)
        needed = getattr(model, "covariate_columns_", None) or ()
        missing = [c for c in needed if c not in (cols or ())]
        if missing:
            raise FunnelkitError(
                f"The {type(model).__name__} was fitted with covariate columns {list(needed)}, "
                f"but {argument}={cols!r} leaves out {missing}: name every one of them "
                f"(the DataFrame has columns {list(sdf.columns)})."
            )
    return purchase_cols, spend_cols


def _refuse_like_in_memory(model: Any) -> None:
    """Raise the error the model raises in memory when asked without covariates (one
    made-up customer, no Spark job), with the Spark way to pass them."""
    one = {k: np.array([v]) for k, v in (("frequency", 1.0), ("recency", 1.0), ("T", 2.0))}
    try:
        model.covariate_patterns({**one, "monetary_value": np.array([1.0])}, covariates=None)
    except FunnelkitError as error:
        raise type(error)(
            f"{error} In Spark, name the DataFrame's covariate columns: "
            "covariates=['channel', 'member']."
        ) from None
    raise FunnelkitError(  # pragma: no cover - every covariate model refuses above
        f"This {type(model).__name__} was fitted with covariates: name the DataFrame's "
        "covariate columns, e.g. covariates=['channel', 'member']."
    )


def _check_schema(sdf: Any, roles: dict[str, str]) -> None:
    """Names and numeric types from the schema alone: no Spark job runs."""
    from pyspark.sql.types import NumericType

    fields = {f.name: f.dataType for f in sdf.schema.fields}
    check_columns(list(fields), {f"{role}_col": col for role, col in roles.items()})
    wrong = [
        f"{c} ({fields[c].simpleString()})"
        for c in roles.values()
        if not isinstance(fields[c], NumericType)
    ]
    if wrong:
        raise DataError(
            f"Summary columns must be numeric; {wrong} are not. Cast them, e.g. "
            "F.col('T').cast('double')."
        )
