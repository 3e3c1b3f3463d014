"""Membership uplift counted from the join: landmark matching on the history before it.

Comparing members with non-members from the first purchase counts time in which a member
had to stay active to be able to join (immortal-time bias). Here the clock starts at the join.

**Landmarks.** Time is cut into steps of length ``step`` (a week by default). At each
landmark ``L`` the *members* are the customers who join in ``[L, L + step)``; the
*comparable non-members* are those who had not joined by ``L + step`` (they may join later:
the comparison is of joining now vs not now, as in a sequence of emulated trials; Hernan &
Robins 2016). Both must have reached the stage before membership by ``L + step``, and are
matched exactly on what was known at ``L``: acquisition channel, entry cohort (month of
entering the first stage) and purchases so far (0, 1, 2, 3 or more). Because some of the
comparable non-members join later, the difference is smaller than that of joining vs never
joining.

**Outcome.** The discounted value of purchases in ``[L, L + window]``, the same for both, so
only landmarks whose window ends before the observation end are used (no model, no
extrapolation: what was bought). Within each landmark x stratum cell the member mean is
compared with the non-member mean; cells are weighted by their members (the effect on those
who joined). A non-member can serve at several landmarks.

**Intervals** come from the same customer bootstrap samples as the stage values (the fit's
seeds); a customer drawn twice counts twice wherever they appear.

**Sensitivity.** The E-value (VanderWeele & Ding 2017) of the ratio of member to comparable
non-member value: the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both joining and value to explain the difference away.
The ratio of means of a non-negative outcome is used as the risk ratio (an approximation).

References
----------
VanderWeele, T. J. & Ding, P. (2017). Sensitivity analysis in observational research:
introducing the E-value. *Annals of Internal Medicine* 167(4), 268-274.
Hernan, M. A. & Robins, J. M. (2016). Using big data to emulate a target trial when a
randomized trial is not available. *American Journal of Epidemiology* 183(8), 758-764.
Suissa, S. (2008). Immortal time bias in pharmacoepidemiology. *American Journal of
Epidemiology* 167(4), 492-499.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, ClassVar

import numpy as np

from funnelkit._results import html_table
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle._bootstrap import (
    estimate,
    map_replicates,
    shared_replicate_weights,
    sharing_replicate_weights,
    worker_count,
)
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle._join_records import Resampled, compare, landmark_records
from funnelkit.lifecycle._settings import positive_number
from funnelkit.lifecycle.results import MembershipUplift, ValueEstimate, _Header, _money
from funnelkit.lifecycle.state import LifecycleFit, check_customers, check_membership_groups
from funnelkit.units import TimeUnitField

__all__ = ["JOIN_STATEMENT", "JoinUplift", "e_value", "membership_uplift_from_join"]

JOIN_STATEMENT = (
    "What this shows: how much more members bought in the window after joining than "
    "customers who, at the same moment, had come from the same channel in the same month, had "
    "made as many purchases, had reached the same stage, and had not joined. Counting from "
    "the join removes the head start members get from having had to stay active to join. "
    "What it does not show: a causal effect. People choose to join, and whatever made them "
    "choose (interest, intent to buy) and is not in these data can still explain part or all "
    "of the difference; the E-value says how strong such a reason would have to be."
)


def e_value(ratio: float | None) -> float | None:
    """E-value of a risk ratio (VanderWeele & Ding 2017): ``RR + sqrt(RR (RR - 1))``.

    A ratio below 1 is inverted first. None for a missing or non-positive ratio.

    >>> round(e_value(1.5), 3), e_value(1.0)
    (2.366, 1.0)
    """
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return None
    rr = ratio if ratio >= 1 else 1.0 / ratio
    return float(rr + math.sqrt(rr * (rr - 1.0)))


class JoinUplift(_Header):
    """Members from their join vs comparable non-members at that moment (landmark matching).

    ``difference`` and ``ratio`` compare the value bought in ``window`` (``time_unit`` of
    the result: the model period) after the landmark; ``e_value`` and ``e_value_ci`` are the
    sensitivity of the ratio and of its interval limit closest to 1 (1: no confounding
    needed). ``stratified`` is the comparison from the first purchase, for comparison.
    """

    title: ClassVar[str] = "Membership uplift from the join"
    membership_stage: str
    window: float
    step: float
    period: TimeUnitField
    strata: tuple[str, ...]
    difference: ValueEstimate
    ratio: ValueEstimate
    member_value: float | None
    non_member_value: float | None
    e_value: float | None
    e_value_ci: float | None
    n_members: int
    n_members_compared: int
    n_non_members_compared: int
    n_landmarks: int
    stratified: MembershipUplift | None = None
    statement: str = JOIN_STATEMENT
    notes: tuple[str, ...] = ()

    def _window_text(self) -> str:
        return f"{self.window:g} {self.period.value}s"

    def sensitivity_text(self) -> str:
        """The E-value in one sentence."""
        if self.e_value is None:
            return "The E-value could not be computed."
        ci = "" if self.e_value_ci is None else f" ({self.e_value_ci:.2f} for the interval)"
        if self.e_value_ci == 1.0:
            ci = " (1.00 for the interval: chance alone could explain it)"
        return (
            f"To explain the difference away, an unmeasured reason to join would have to be "
            f"associated with both joining and value by a risk ratio of {self.e_value:.2f}{ci} "
            "each, beyond channel, entry cohort and purchases so far."
        )

    def _display_items(self) -> list[tuple[str, Any]]:
        items = [
            ("counted from", f"the join, over {self._window_text()}"),
            ("matched on", " x ".join(self.strata)),
            ("member", _money(self.member_value)),
            ("comparable non-member", _money(self.non_member_value)),
            ("difference", str(self.difference)),
            ("ratio", str(self.ratio)),
            ("members compared", f"{self.n_members_compared:,} of {self.n_members:,}"),
            ("sensitivity", self.sensitivity_text()),
        ]
        if self.stratified is not None:
            d = self.stratified.difference
            over = f"{self.horizon:g} {self.time_unit.value}s"
            items.append(
                (f"from the first purchase, over {over} (stratified)", _money(d.value, d.ci))
            )
        items.append(("what it shows", self.statement))
        return items

    def as_text(self) -> str:
        lines = [f"{self.title} ({self._horizon_text()})"]
        lines += [f"  {k}: {v}" for k, v in self._display_items()]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_html(self) -> str:
        return html_table(dict(self._display_items()), caption=self.title)


def membership_uplift_from_join(
    fit: LifecycleFit,
    customers: CustomerTable,
    *,
    window: float | None = None,
    step: float | None = None,
    stratified: MembershipUplift | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    n_jobs: int | None = 1,
) -> JoinUplift:
    """Members from their join vs comparable non-members still waiting at that moment.

    Parameters
    ----------
    fit
        The fitted state (``LifecycleModel.fit_``) of a model with a membership stage.
    customers
        The customers (``LifecycleModel.customers(log)``).
    window
        Length of the outcome window after the join, in the model period (``fit.period``);
        default 90 days. Members who joined less than ``window`` before the observation
        end are not compared (their window is incomplete).
    step
        Length of a landmark step; default 7 days (one period if the period is longer).
    stratified
        Today's comparison from the first purchase, to report beside (computed when None).
    progress, n_jobs
        As in :func:`~funnelkit.lifecycle.uplift.membership_uplift`, for both comparisons.
    """
    check_customers(fit, customers, "Membership uplift from the join")
    check_membership_groups(fit, "Membership uplift from the join")
    table = customers
    stage = fit.membership_stage
    if stage is None or stage not in table.stage_names or table.stage_names.index(stage) == 0:
        raise FunnelkitError(
            "Membership uplift from the join needs a membership stage after the first stage "
            f"(membership_stage=...); the model has {stage!r} among {list(table.stage_names)}."
        )
    days = fit.period.days
    w = 90.0 / days if window is None else _positive(window, "window")
    dt = max(7.0 / days, 1.0) if step is None else _positive(step, "step")
    records, info = landmark_records(table, stage, w, dt, fit.grid.delta)
    if info["n_compared"] == 0:
        raise FunnelkitError(
            f"No member could be compared: {info['n_members']:,} joined, none with a full "
            f"{w:g}-{fit.period.value} window before the observation end and a comparable "
            "non-member. Use a shorter window=..., or more data."
        )
    point = compare(records, np.ones(table.n_customers))
    resampled = Resampled(records)
    seeds = np.array([r.seed for r in fit.replicates], dtype=np.int64)
    # decided once for both comparisons: in one process the second takes back the counts
    # the first drew; forked workers would only keep copies that nothing takes back
    jobs = worker_count(n_jobs, seeds.size, table.n_customers)
    with sharing_replicate_weights() if jobs <= 1 else nullcontext():
        if stratified is None and len(table.group_names) == 2:
            from funnelkit.lifecycle.uplift import membership_uplift

            stratified = membership_uplift(fit, table, progress=progress, n_jobs=jobs)
        done, failures = map_replicates(
            seeds,
            lambda seed: resampled.compare(shared_replicate_weights(seed, table.n_customers)),
            table.n_customers,
            progress,
            label="membership uplift from the join",
            n_jobs=jobs,
        )
    means = np.array([] if failures.too_many else [got for _, got in done], dtype=float)
    means = means.reshape(-1, 2)
    diffs = means[:, 0] - means[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(means[:, 1] > 0, means[:, 0] / means[:, 1], np.nan)
    level = fit.conf_level
    diff = estimate(point[0] - point[1], diffs, level)
    rr_point = point[0] / point[1] if point[1] > 0 else float("nan")
    ratio = estimate(rr_point, ratios, level)
    ev_ci = None
    if ratio.ci is not None and ratio.value is not None:
        lo, hi = ratio.ci
        assert lo is not None and hi is not None
        ev_ci = 1.0 if lo <= 1.0 <= hi else e_value(lo if ratio.value > 1 else hi)
    notes = [
        f"{info['n_late']:,} member(s) joined less than {w:g} {fit.period.value}s before the "
        "observation end and are not compared.",
        f"{info['n_unmatched']:,} member(s) had no comparable non-member at their landmark.",
        "Members' windows start at the landmark, up to one step before their join.",
    ]
    return JoinUplift(
        membership_stage=stage,
        window=w,
        step=dt,
        period=fit.period,
        strata=info["strata"],
        difference=diff,
        ratio=ratio,
        member_value=_finite(point[0]),
        non_member_value=_finite(point[1]),
        e_value=e_value(ratio.value),
        e_value_ci=ev_ci,
        n_members=info["n_members"],
        n_members_compared=info["n_compared"],
        n_non_members_compared=info["n_controls"],
        n_landmarks=info["n_landmarks"],
        stratified=stratified,
        notes=tuple(notes),
        **fit.header(),
    )


def _positive(value: Any, name: str) -> float:
    return positive_number(
        value, owner="membership_uplift_from_join", name=name, hint="in the model period"
    )


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
