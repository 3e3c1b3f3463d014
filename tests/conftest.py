"""Shared fixtures: small seeded event logs in every supported frame library."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def random_transactions(seed: int, n_customers: int = 60, n_rows: int = 400) -> pd.DataFrame:
    """A messy purchase log: unsorted, same-day repeats, several years, values with cents."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2019-12-20T00:00:00", "ns")
    offsets = rng.integers(0, 800 * 86_400, n_rows) * 10**9 + rng.integers(0, 10**9, n_rows)
    return pd.DataFrame(
        {
            "customer_id": rng.choice([f"u{i:03d}" for i in range(n_customers)], n_rows),
            "date": start + offsets.astype("timedelta64[ns]"),
            "value": np.round(rng.gamma(2.0, 20.0, n_rows), 2),
        }
    )


@pytest.fixture
def transactions() -> pd.DataFrame:
    return random_transactions(0)
