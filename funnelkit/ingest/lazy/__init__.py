"""The lazy engines: DuckDB, Polars and Spark aggregate events where they live.

Every query starts from one base projection of the events (``_sql`` for DuckDB and Spark SQL,
``_polars`` for Polars), is validated by one aggregate query (``checks``), and aggregates per
customer from a plan (``_plans``): RFM (``rfm_lazy`` with ``rfm_sql`` / ``rfm_polars``) and
first entry into each stage (``journeys_lazy`` with ``journeys_sql`` / ``journeys_polars``).
Only the per-customer summary leaves the engine; its numbers equal the numpy engine's.
"""
