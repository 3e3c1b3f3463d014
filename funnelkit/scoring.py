"""Batched in-memory scoring of customer summaries with CLV models.

The public path of :mod:`funnelkit.clv.scoring`, where the implementation lives:
:func:`score` (any frame, batches, progress), :func:`score_batch` and :func:`score_columns`.
"""

from funnelkit.clv.scoring import (
    _Progress as _Progress,  # the progress line, as before
    score,
    score_batch,
    score_columns,
)

__all__ = ["score", "score_batch", "score_columns"]
