"""Scoring customer summaries that live in Spark, without collecting them.

The public path of :mod:`funnelkit.clv.spark`, where the implementation lives: :func:`score`
runs :func:`funnelkit.scoring.score_batch` on every partition.
"""

from funnelkit.clv.spark import score

__all__ = ["score"]
