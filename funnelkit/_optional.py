"""Lazy imports of optional dependencies, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from funnelkit.exceptions import MissingDependencyError

_EXTRA_OF = {
    "pandas": "pandas",
    "polars": "polars",
    "pyarrow": "pyarrow",
    "duckdb": "duckdb",
    "matplotlib": "plot",
    "matplotlib.pyplot": "plot",
    "lifetimes": "lifetimes",
    "lifelines": "dev",
    "pyspark": "spark",
}


def import_optional(name: str, *, purpose: str = "this feature") -> ModuleType:
    """Import ``name`` or raise :class:`MissingDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        extra = _EXTRA_OF.get(name, _EXTRA_OF.get(name.split(".")[0], "all"))
        raise MissingDependencyError(
            f"{purpose} needs the optional dependency {name.split('.')[0]!r}. "
            f"Install it with: pip install 'funnelkit[{extra}]'"
        ) from exc
