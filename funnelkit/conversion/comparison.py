"""Do segments convert differently? Log-rank and likelihood-ratio tests with Holm correction."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from scipy import stats

from funnelkit._results import Result, html_table
from funnelkit.conversion.cure import fit_cure_model
from funnelkit.conversion.results import TransitionEstimate
from funnelkit.conversion.segments import MAX_PAIRWISE_SEGMENTS, logrank
from funnelkit.intervals import holm_adjust

__all__ = ["SegmentComparison", "SegmentTest", "transition_tests"]


class SegmentTest(Result):
    """One hypothesis test of equal conversion across ``segments`` of a transition.

    ``log-rank``: equal cumulative conversion curves (Mantel 1966). ``likelihood-ratio``:
    one cure model for all segments against one per segment (same delay family), i.e. equal
    eventual rate *and* delay distribution. ``p_value_holm`` is Holm-adjusted within its
    family (see :class:`SegmentComparison`); None when the test is not defined.
    """

    title = "Segment test"

    source: str
    target: str
    test: Literal["log-rank", "likelihood-ratio"]
    segments: tuple[str, ...]
    statistic: float | None
    df: int | None
    p_value: float | None
    p_value_holm: float | None = None


class SegmentComparison(Result):
    """Tests of whether segments differ, for every fitted transition.

    ``tests`` holds the overall test of each transition (all segments at once); the Holm
    (1979) correction runs over the transitions, separately for each kind of test.
    ``pairwise`` holds two-segment log-rank tests (up to 10 segments), Holm-corrected within
    each transition.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics* 6(2), 65-70.
    """

    title = "Do segments convert differently?"

    by: str
    tests: tuple[SegmentTest, ...]
    pairwise: tuple[SegmentTest, ...] = ()
    notes: tuple[str, ...] = ()

    def to_records(self, *, pairwise: bool = False) -> list[dict[str, Any]]:
        rows = self.pairwise if pairwise else self.tests
        return [
            {
                "transition": f"{t.source} -> {t.target}",
                "test": t.test,
                "segments": ", ".join(t.segments) if pairwise else len(t.segments),
                "statistic": t.statistic,
                "df": t.df,
                "p_value": t.p_value,
                "p_value_holm": t.p_value_holm,
            }
            for t in rows
        ]

    def as_text(self) -> str:
        lines = [f"{self.title} (by {self.by}; Holm-adjusted p-values)"]
        for rec in self.to_records():
            stat = "n/a" if rec["statistic"] is None else f"{rec['statistic']:.2f}"
            lines.append(
                f"  {rec['transition']:<30} {rec['test']:<17} chi2={stat:>9} df={rec['df']} "
                f"p={_p(rec['p_value'])} holm={_p(rec['p_value_holm'])}"
            )
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def as_html(self) -> str:
        html = html_table(
            list[Mapping[str, Any]](self.to_records()), caption=f"{self.title} (by {self.by})"
        )
        if self.pairwise:
            html += html_table(
                list[Mapping[str, Any]](self.to_records(pairwise=True)),
                caption="Pairwise log-rank tests",
            )
        return html


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def transition_tests(
    durations: np.ndarray,
    converted: np.ndarray,
    codes: np.ndarray,
    labels: tuple[str, ...],
    pooled: TransitionEstimate,
    segment_estimates: list[TransitionEstimate],
) -> tuple[list[SegmentTest], list[SegmentTest], list[str]]:
    """Overall log-rank and likelihood-ratio tests, and pairwise log-rank tests."""
    source, target, k = pooled.source, pooled.target, len(labels)
    notes: list[str] = []
    pairwise = k <= MAX_PAIRWISE_SEGMENTS
    if not pairwise:
        notes.append(f"{source} -> {target}: {k} segments, pairwise tests skipped")
    lr = logrank(durations, converted, codes, k, pairwise=pairwise)
    overall = [
        SegmentTest(
            source=source,
            target=target,
            test="log-rank",
            segments=labels,
            statistic=None if lr is None else lr.statistic,
            df=None if lr is None else lr.df,
            p_value=None if lr is None else lr.p_value,
        )
    ]
    pairs: list[SegmentTest] = []
    if lr is not None and lr.pair_statistic is not None and lr.pair_p_value is not None:
        for g in range(k):
            for h in range(g + 1, k):
                stat, p = float(lr.pair_statistic[g, h]), float(lr.pair_p_value[g, h])
                ok = math.isfinite(stat)
                pairs.append(
                    SegmentTest(
                        source=source,
                        target=target,
                        test="log-rank",
                        segments=(labels[g], labels[h]),
                        statistic=stat if ok else None,
                        df=1 if ok else None,
                        p_value=p if ok else None,
                    )
                )
        pairs = _with_holm(pairs)
    overall.append(
        _likelihood_ratio(durations, converted, codes, labels, pooled, segment_estimates, notes)
    )
    return overall, pairs, notes


def _likelihood_ratio(
    durations: np.ndarray,
    converted: np.ndarray,
    codes: np.ndarray,
    labels: tuple[str, ...],
    pooled: TransitionEstimate,
    segment_estimates: list[TransitionEstimate],
    notes: list[str],
) -> SegmentTest:
    source, target = pooled.source, pooled.target
    empty = SegmentTest(
        source=source,
        target=target,
        test="likelihood-ratio",
        segments=labels,
        statistic=None,
        df=None,
        p_value=None,
    )
    if pooled.cure_fit is None:
        notes.append(f"{source} -> {target}: no cure model, likelihood-ratio test not available")
        return empty
    family = pooled.cure_fit.distribution
    fitted = [
        i
        for i, est in enumerate(segment_estimates)
        if est.cure_fit is not None and est.cure_fit.distribution == family
    ]
    if len(fitted) < 2:
        notes.append(f"{source} -> {target}: fewer than two segments with a {family} fit")
        return empty
    if len(fitted) < len(labels):
        left_out = [labels[i] for i in range(len(labels)) if i not in set(fitted)]
        notes.append(
            f"{source} -> {target}: likelihood-ratio test without segments {left_out} "
            "(too few conversions for a model)"
        )
        rows = np.isin(codes, fitted)
        base = fit_cure_model(durations[rows], converted[rows], family)
        if not base.converged:
            return empty
    else:
        base = pooled.cure_fit
    fits = [segment_estimates[i].cure_fit for i in fitted]
    ll = sum(f.log_likelihood for f in fits if f is not None)
    df = sum(f.n_params for f in fits if f is not None) - base.n_params
    stat = max(2.0 * (ll - base.log_likelihood), 0.0)
    return SegmentTest(
        source=source,
        target=target,
        test="likelihood-ratio",
        segments=tuple(labels[i] for i in fitted),
        statistic=stat,
        df=df,
        p_value=float(stats.chi2.sf(stat, df)) if df > 0 else None,
    )


def _with_holm(tests: list[SegmentTest]) -> list[SegmentTest]:
    idx = [i for i, t in enumerate(tests) if t.p_value is not None]
    adjusted = holm_adjust(np.array([tests[i].p_value for i in idx], dtype=float))
    out = list(tests)
    for i, p in zip(idx, adjusted.tolist(), strict=True):
        out[i] = tests[i].model_copy(update={"p_value_holm": p})
    return out


def holm_by_test(tests: list[SegmentTest]) -> list[SegmentTest]:
    """Holm-adjust the overall tests across transitions, one family per kind of test."""
    out = list(tests)
    for kind in ("log-rank", "likelihood-ratio"):
        idx = [i for i, t in enumerate(tests) if t.test == kind]
        adjusted = _with_holm([tests[i] for i in idx])
        for i, t in zip(idx, adjusted, strict=True):
            out[i] = t
    return out
