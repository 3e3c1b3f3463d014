"""The local Spark session of the tests that run Spark."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any


def local_spark(cores: int = 2, extra: Mapping[str, str] | None = None) -> Iterator[Any]:
    """Yield a quiet local Spark session on ``cores`` threads, then stop it.

    Use it as the body of a module-scoped fixture (``yield from local_spark()``): stopping
    the session at the module's end lets the next module start one with its own settings.
    ``extra`` adds or overrides Spark settings.
    """
    from pyspark.sql import SparkSession

    # Python workers must run this interpreter, where funnelkit and its dependencies live.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": str(cores),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.driver.memory": "1g",
        **(extra or {}),
    }
    builder = SparkSession.builder.master(f"local[{cores}]").appName("funnelkit-tests")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
