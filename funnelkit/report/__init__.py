"""The lifecycle report: one call from an event log to a JSON-able result and an HTML page.

``funnelkit.report(log, ...)`` builds a :class:`LifecycleReport`. The package itself is
callable (``funnelkit.report`` is both this package and the function) because importing a
submodule such as ``funnelkit.report.html`` rebinds the attribute ``funnelkit.report`` to the
package.
"""

import sys
import types
from typing import Any

from funnelkit.report.report import (
    ClvCheck,
    ConversionCurve,
    DataSummary,
    LifecycleReport,
    ReportSettings,
    ValueHistogram,
    report,
)

__all__ = [
    "ClvCheck",
    "ConversionCurve",
    "DataSummary",
    "LifecycleReport",
    "ReportSettings",
    "ValueHistogram",
    "report",
]


class _CallablePackage(types.ModuleType):
    """This package, callable as :func:`funnelkit.report.report`."""

    def __call__(self, *args: Any, **kwargs: Any) -> LifecycleReport:
        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
