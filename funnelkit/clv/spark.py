"""Scoring customer summaries that live in Spark, without collecting them.

A fitted model travels to the executors as its JSON (``model.to_json()``, loaded back with
``ModelClass.from_json()``: no pickled estimator) and scores vectorised Arrow batches with
``DataFrame.mapInArrow``, through the same :func:`funnelkit.clv.scoring.score_batch` as
in-memory scoring, so the numbers are identical. Executors need funnelkit installed.
``funnelkit.spark`` is the public path of this module.

RFM summaries of events in Spark come from :meth:`funnelkit.RFM.from_events` (which
aggregates in Spark and returns the per-customer summary to the driver).
"""

from __future__ import annotations

from typing import Any

from funnelkit._frames import check_columns
from funnelkit.clv.scoring import score_batch, score_columns
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.units import TimeUnitLike

__all__ = ["score"]


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
            columns = {
                role: batch.column(col).to_numpy(zero_copy_only=False).astype(float)
                for role, col in roles.items()
            }
            scored = score_batch(
                model,
                columns,
                spend_model=spender,
                horizon=horizon,
                time_unit=time_unit,
                discount_rate=discount_rate,
            )
            extra = [pa.array(scored[n], type=pa.float64()) for n in names]
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, *extra], names=[*batch.schema.names, *names]
            )

    return sdf.mapInArrow(score_batches, schema)


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
