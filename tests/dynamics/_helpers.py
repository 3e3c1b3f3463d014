"""Small builders shared by the dynamics tests."""

from __future__ import annotations

import numpy as np

from funnelkit import Journeys


def make_journeys(
    entry_times: list[list[float]] | np.ndarray,
    censoring: float | np.ndarray,
    *,
    stage_names: tuple[str, ...] | None = None,
    attributes: dict[str, np.ndarray] | None = None,
) -> Journeys:
    """Journeys straight from an entry-time matrix (NaN: not reached) and censoring times."""
    entry = np.asarray(entry_times, dtype=float)
    n, k = entry.shape
    names = stage_names or tuple(f"s{i}" for i in range(k))
    return Journeys(
        stage_names=names,
        entry_times=entry,
        customer_ids=np.array([f"c{i}" for i in range(n)], dtype=object),
        censoring_times=np.broadcast_to(np.asarray(censoring, dtype=float), (n,)).copy(),
        time_unit="D",
        attributes=attributes,
    )
