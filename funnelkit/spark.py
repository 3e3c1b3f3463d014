"""Scoring customer summaries that live in Spark, without collecting them.

The public path of :mod:`funnelkit.clv.spark`, where the implementation lives: :func:`score`
runs :func:`score_arrow_batch` (the in-memory :func:`funnelkit.scoring.score` on one Arrow
batch) on every partition.
"""

from funnelkit.clv.spark import score, score_arrow_batch

__all__ = ["score", "score_arrow_batch"]
