"""Small example data for the documentation: an events frame and the same events as files.

The docs and notebooks run as written on these, so every page shows real output without
shipping data files: the events are generated (by :func:`simulate_community`) on each call,
identically for the same ``seed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from funnelkit._frames import Backend
from funnelkit._optional import import_optional
from funnelkit.datasets.community import simulate_community
from funnelkit.exceptions import DataError

__all__ = ["load_example_events", "write_example_events"]

#: customers in the example data: enough for every estimator to fit, small enough to be quick
EXAMPLE_CUSTOMERS = 2_000


def load_example_events(
    n_customers: int = EXAMPLE_CUSTOMERS, *, seed: int = 0, backend: Backend = "pandas"
) -> Any:
    """A small events frame of a simulated community, the input every docs page starts from.

    Columns ``customer_id, timestamp, event, value, channel``: event names ``touch``,
    ``visit``, ``join`` and ``purchase`` (those of :meth:`funnelkit.Funnel.community`), the
    amount of each purchase in ``value`` and the acquisition ``channel`` of each customer.

    Parameters
    ----------
    n_customers
        Number of simulated prospects (each has at least one ``touch`` event).
    seed
        The same seed gives the same events.
    backend
        ``"pandas"``, ``"polars"`` or ``"pyarrow"``.

    Examples
    --------
    >>> events = load_example_events()
    >>> list(events.columns)
    ['customer_id', 'timestamp', 'event', 'value', 'channel']
    >>> events["customer_id"].nunique()
    2000
    """
    if int(n_customers) < 1:
        raise DataError(f"n_customers must be at least 1; got {n_customers}.")
    return simulate_community(int(n_customers), seed=seed, backend=backend).events


def write_example_events(
    directory: str | Path,
    *,
    n_customers: int = EXAMPLE_CUSTOMERS,
    seed: int = 0,
    n_files: int = 2,
    file_format: Literal["parquet", "csv"] = "parquet",
) -> list[Path]:
    """Write the example events as ``n_files`` files in ``directory``, split by customer.

    Stands in for an export or a data lake folder in the docs: ``"events/"`` or
    ``"events/*.parquet"`` then reads like a real one. Every customer's events are in one
    file. Needs pyarrow (``pip install funnelkit[pyarrow]``).

    Returns
    -------
    list of Path
        The files written, ``part-0.parquet``, ``part-1.parquet``, ...

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     [p.name for p in write_example_events(folder, n_customers=50)]
    ['part-0.parquet', 'part-1.parquet']
    """
    if int(n_files) < 1:
        raise DataError(f"n_files must be at least 1; got {n_files}.")
    if file_format not in ("parquet", "csv"):
        raise DataError(f"file_format must be 'parquet' or 'csv'; got {file_format!r}.")
    pa = import_optional("pyarrow", purpose="write_example_events")
    table = load_example_events(n_customers, seed=seed, backend="pyarrow")
    # Customers are split by their id's position in a sorted list, so a customer never spans
    # two files (as in a partitioned export) and the split is the same on every run.
    ids = np.asarray(table.column("customer_id").to_numpy(zero_copy_only=False))
    _, codes = np.unique(ids, return_inverse=True)
    part = codes % int(n_files)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(int(n_files)):
        chunk = table.filter(pa.array(part == index))
        path = folder / f"part-{index}.{file_format}"
        if file_format == "parquet":
            # microseconds, as exports and Spark write them (Spark cannot read nanoseconds)
            import_optional("pyarrow.parquet", purpose="write_example_events").write_table(
                chunk, path, coerce_timestamps="us", allow_truncated_timestamps=True
            )
        else:
            import_optional("pyarrow.csv", purpose="write_example_events").write_csv(chunk, path)
        written.append(path)
    return written
