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
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from funnelkit._results import html_table
from funnelkit.conversion.segments import segment_codes
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle._bootstrap import estimate, shared_replicate_weights
from funnelkit.lifecycle._data import CustomerTable
from funnelkit.lifecycle._settings import positive_number
from funnelkit.lifecycle.results import MembershipUplift, ValueEstimate, _Header, _money
from funnelkit.lifecycle.state import LifecycleFit, check_customers
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

_MAX_PURCHASES = 3


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


@dataclass(frozen=True)
class _Records:
    """One row per (landmark, customer) in a cell with at least one member.

    Stored with the members' rows first (``n_member_rows`` of them), then the non-members',
    each part in landmark then customer order: a replicate sums each part on its own, in the
    same order per cell as over all rows, without the zero terms of the other part.
    ``customer``, ``cell``, ``member`` and ``outcome`` give the rows in landmark order.
    """

    parts_customer: np.ndarray
    parts_cell: np.ndarray
    parts_outcome: np.ndarray
    order: np.ndarray  # landmark-order position of each stored row
    n_member_rows: int
    n_cells: int
    # each cell's place in the order by stratum, then landmark: a non-member's cells in one
    # stratum are consecutive there
    cell_rank: np.ndarray

    def _in_landmark_order(self, stored: np.ndarray) -> np.ndarray:
        out = np.empty_like(stored)
        out[self.order] = stored
        return out

    @property
    def customer(self) -> np.ndarray:
        return self._in_landmark_order(self.parts_customer)

    @property
    def cell(self) -> np.ndarray:
        return self._in_landmark_order(self.parts_cell)

    @property
    def outcome(self) -> np.ndarray:
        return self._in_landmark_order(self.parts_outcome)

    @property
    def member(self) -> np.ndarray:
        stored = np.zeros(self.order.size, dtype=bool)
        stored[: self.n_member_rows] = True
        return self._in_landmark_order(stored)


def membership_uplift_from_join(
    fit: LifecycleFit,
    customers: CustomerTable,
    *,
    window: float | None = None,
    step: float | None = None,
    stratified: MembershipUplift | None = None,
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
    """
    check_customers(fit, customers, "Membership uplift from the join")
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
    records, info = _landmark_records(table, stage, w, dt, fit.grid.delta)
    if info["n_compared"] == 0:
        raise FunnelkitError(
            f"No member could be compared: {info['n_members']:,} joined, none with a full "
            f"{w:g}-{fit.period.value} window before the observation end and a comparable "
            "non-member. Use a shorter window=..., or more data."
        )
    if stratified is None and len(table.group_names) == 2:
        from funnelkit.lifecycle.uplift import membership_uplift

        # first: the samples' counts it draws are then taken back by the loop below
        stratified = membership_uplift(fit, table)
    point = _compare(records, np.ones(table.n_customers))
    diffs, ratios = [], []
    resampled = _Resampled(records)
    for replicate in fit.replicates:
        got = resampled.compare(shared_replicate_weights(replicate.seed, table.n_customers))
        diffs.append(got[0] - got[1])
        ratios.append(got[0] / got[1] if got[1] > 0 else np.nan)
    level = fit.conf_level
    diff = estimate(point[0] - point[1], np.array(diffs, dtype=float), level)
    rr_point = point[0] / point[1] if point[1] > 0 else float("nan")
    ratio = estimate(rr_point, np.array(ratios, dtype=float), level)
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


def _strata(table: CustomerTable) -> tuple[np.ndarray, int, tuple[str, ...]]:
    """Fixed part of the stratum (channel x entry month) per customer, its size and names."""
    first = table.stage_names[0]
    everyone = np.arange(table.n_customers)
    entered = ~np.isnan(table.entry[:, 0])
    code = np.zeros(table.n_customers, dtype=np.int64)
    size = 1
    names: list[str] = []
    if "channel" in table.attributes:
        ch, labels = segment_codes(table.journeys, "channel", everyone, first)
        code = np.asarray(ch, dtype=np.int64)
        size = len(labels)
        names.append("channel")
    if entered.any():
        idx = np.flatnonzero(entered)
        months, labels = segment_codes(table.journeys, "cohort:month", idx, first)
        month = np.zeros(table.n_customers, dtype=np.int64)
        month[idx] = np.asarray(months)
        code = code * len(labels) + month
        size *= len(labels)
        names.append(f"{first} month")
    names.append("purchases so far")
    return code, size, tuple(names)


def _landmark_records(
    table: CustomerTable, stage: str, window: float, step: float, delta: float
) -> tuple[_Records, dict[str, Any]]:
    k = table.stage_names.index(stage)
    join = table.entry[:, k]
    before = table.entry[:, k - 1]
    fixed, n_fixed, names = _strata(table)
    ev = table.events
    joined = ~np.isnan(join)
    end = table.observation_end
    n_members = int(joined.sum())
    if n_members == 0:
        raise FunnelkitError(f"Nobody reached {stage!r}: there are no members to compare.")
    start = float(np.nanmin(join))
    landmarks = np.arange(start, end - window + 1e-9, step)
    n_levels = _MAX_PURCHASES + 1
    n_strata = n_fixed * n_levels
    # Only customers who reached the stage before membership are ever at risk: every
    # landmark works on them alone (in customer order, so the records keep their order).
    cand = np.flatnonzero(~np.isnan(before))
    before, join, fixed = before[cand], join[cand], fixed[cand]
    local = np.full(table.n_customers, -1, dtype=np.int64)
    local[cand] = np.arange(cand.size)
    bought = _Purchases.of(ev, local, landmarks)
    custs, bounds = bought.step_customer, bought.bounds
    # the members' rows and the non-members', each in landmark then customer order, with
    # their positions among all rows in that order
    members: list[tuple[np.ndarray, ...]] = []
    controls: list[tuple[np.ndarray, ...]] = []
    n_rows = 0
    compared = np.zeros(cand.size, dtype=bool)
    control_used = np.zeros(cand.size, dtype=bool)
    # purchases before the landmark, and up to the end of the step in which its window
    # ends, counted on from one landmark to the next
    so_far = np.zeros(cand.size, dtype=np.int64)
    through = np.zeros(cand.size, dtype=np.int64)
    counted = counted_through = 0
    fixed_part = fixed * n_levels
    for j, land in enumerate(landmarks):
        # Who had reached the stage before membership by the end of the step and had not
        # joined before the landmark (positions among the candidates, increasing).
        risk = np.flatnonzero((before < land + step) & ~(join < land))
        member = join[risk] < land + step
        if not member.any():
            continue
        # purchases before the landmark: those of the steps before it
        upto = bounds[j + 1]
        so_far += np.bincount(custs[counted:upto], minlength=cand.size)
        counted = upto
        stratum = fixed_part[risk] + np.minimum(so_far[risk], _MAX_PURCHASES)
        # strata are small integers: look-up tables instead of set membership tests
        with_members = np.zeros(n_strata, dtype=bool)
        with_members[stratum[member]] = True
        control = ~member & with_members[stratum]
        idx = np.flatnonzero(member | control)
        # The window's purchases of those compared: from the landmark to the end of the
        # step in which the window ends, less the ones after the window.
        last_step = int(np.searchsorted(landmarks, land + window, side="right"))
        stop = bounds[last_step + 1]
        through += np.bincount(custs[counted_through:stop], minlength=cand.size)
        counted_through = stop
        kept = risk[idx]
        outcome = bought.window_sums(kept, so_far[kept], through[kept], land, window, delta)
        cell = j * n_strata + stratum[idx]
        is_member = member[idx]
        for rows, part in ((members, is_member), (controls, ~is_member)):
            at = np.flatnonzero(part)
            rows.append((cand[kept[at]], cell[at], outcome[at], n_rows + at))
        n_rows += idx.size
        with_controls = np.zeros(n_strata, dtype=bool)
        with_controls[stratum[control]] = True
        compared[risk[member & with_controls[stratum]]] = True
        control_used[risk[control]] = True
    n_member_rows = sum(part[0].size for part in members)
    if members:
        cust, cell, out, order = (np.concatenate(p) for p in zip(*members, *controls, strict=True))
    else:
        cust = cell = order = np.zeros(0, dtype=np.int64)
        out = np.zeros(0)
    last = landmarks[-1] + step if landmarks.size else start
    late = int((joined & (table.entry[:, k] >= last)).sum())
    info = {
        "n_members": n_members,
        "n_compared": int(compared.sum()),
        "n_controls": int(control_used.sum()),
        "n_late": late,
        "n_unmatched": n_members - late - int(compared.sum()),
        "n_landmarks": len(landmarks),
        "strata": names,
    }
    compact, used = _compact(cell, landmarks.size * n_strata)
    rank = np.empty(used.size, dtype=np.int64)
    rank[np.lexsort((used // n_strata, used % n_strata))] = np.arange(used.size)
    return _Records(cust, compact, out, order, n_member_rows, used.size, rank), info


@dataclass(frozen=True)
class _Purchases:
    """The candidates' purchases, by customer then time, and their landmark steps.

    ``step_customer`` holds the candidate code of each purchase grouped by landmark step
    (step ``s`` holds the purchases after ``s`` landmarks, and starts at ``bounds[s]``): a
    stable counting sort on the step number instead of a sort of millions of times.
    """

    time: np.ndarray  # by candidate, then time
    value: np.ndarray
    start: np.ndarray  # where each candidate's purchases start
    step_customer: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, events: Any, local: np.ndarray, landmarks: np.ndarray) -> _Purchases:
        columns = (events.customer, events.time, events.value, local[events.customer])
        mine = columns[3] >= 0
        if not mine.all():  # else all the purchases are the candidates': used as they are
            theirs = np.flatnonzero(mine)
            columns = tuple(c[theirs] for c in columns)
        customer, time = columns[0], columns[1]
        same = customer[1:] == customer[:-1]
        if not (np.all(customer[1:] >= customer[:-1]) and np.all(np.diff(time)[same] >= 0)):
            # the log's order is by customer, then time; anything else is put in that order
            order = np.lexsort((time, customer))
            columns = tuple(c[order] for c in columns)
        customer, time, value, code = columns
        # ``code`` increases with the customer
        steps = np.searchsorted(landmarks, time, side="right")
        small = np.int16 if landmarks.size < np.iinfo(np.int16).max else np.int64
        order = np.argsort(steps.astype(small), kind="stable")
        per_step = np.bincount(steps, minlength=landmarks.size + 1)
        per_candidate = np.bincount(code, minlength=int(local.max()) + 1)
        return cls(
            time=time,
            value=value,
            start=np.concatenate(([0], np.cumsum(per_candidate))),
            step_customer=code[order],
            bounds=np.concatenate(([0], np.cumsum(per_step))),
        )

    def window_sums(
        self,
        who: np.ndarray,
        before: np.ndarray,
        through: np.ndarray,
        land: float,
        window: float,
        delta: float,
    ) -> np.ndarray:
        """Discounted value of each of ``who``'s purchases in ``[land, land + window]``.

        ``before`` and ``through`` count each one's purchases before ``land`` and up to the
        end of the step in which the window ends. Each customer's are summed in time order,
        as over all the candidates' purchases sorted by time: the ones after the window add
        nothing instead of 0.0, which leaves every sum as it is.
        """
        first = self.start[who] + before
        count = through - before
        total = int(count.sum())
        row = np.repeat(np.arange(who.size), count)
        at = np.arange(total) + np.repeat(first - (np.cumsum(count) - count), count)
        time, value = self.time[at], self.value[at]
        # exp(-0 t) is exactly 1: no exponentials without a discount
        weight = value if delta == 0.0 else value * np.exp(-delta * (time - land))
        inside = time <= land + window
        return np.bincount(row[inside], weights=weight[inside], minlength=who.size)


def _compact(cell: np.ndarray, n_possible: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell ids renumbered 0..k-1 in their order (as ``np.unique``'s inverse), and the k ids.

    The per-replicate counts then stay small. The ids are below ``n_possible`` (landmarks x
    strata, a small number): a table of the ids in use replaces sorting every record.
    """
    if n_possible > 4 * cell.size + 1_000_000:
        uniq, inverse = np.unique(cell, return_inverse=True)
        return inverse.reshape(-1), uniq
    used = np.zeros(n_possible, dtype=bool)
    used[cell] = True
    rank = np.cumsum(used) - 1
    return rank[cell], np.flatnonzero(used)


class _Resampled:
    """:func:`_compare` of the records for many bootstrap samples, with less work per sample.

    A sample's counts per cell are sums of whole numbers, exact in any order. A non-member
    stays in one stratum over consecutive landmarks, so their records fill consecutive cells
    in the order of :attr:`_Records.cell_rank`: each such run adds the customer's count at
    its first cell and takes it off after its last, and a cumulative sum gives the
    non-members' counts from a few runs per customer rather than from every record (the
    runs with the same first and last cell summed first, in one pass). The
    weighted purchases keep the order of the records, without the records with none in the
    window: their terms are +0.0 and leave every sum as it is.
    """

    def __init__(self, records: _Records) -> None:
        split, self.n_cells = records.n_member_rows, records.n_cells
        self.member_customer = records.parts_customer[:split]
        self.member_cell = records.parts_cell[:split]
        self.member_outcome = records.parts_outcome[:split]
        customer, cell = records.parts_customer[split:], records.parts_cell[split:]
        outcome = records.parts_outcome[split:]
        bought = outcome != 0.0
        self.bought_customer, self.bought_cell = customer[bought], cell[bought]
        self.bought_outcome = outcome[bought]
        place = records.cell_rank[cell]
        order = np.lexsort((place, customer))
        customer, place = customer[order], place[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = (customer[1:] != customer[:-1]) | (place[1:] != place[:-1] + 1)
        starts = np.flatnonzero(first)
        last = np.append(starts[1:], order.size)[: starts.size] - 1
        begin, end = place[starts], place[last] + 1
        # the runs grouped by their first and last cell
        span = begin * (self.n_cells + 1) + end
        by_span = np.argsort(span, kind="stable")
        self.run_customer = customer[starts][by_span]
        span = span[by_span]
        self.span_start = np.flatnonzero(np.append(True, span[1:] != span[:-1])[: span.size])
        self.span_begin = begin[by_span][self.span_start]
        self.span_end = end[by_span][self.span_start]
        self.rank = records.cell_rank

    def compare(self, counts: np.ndarray) -> tuple[float, float]:
        """:func:`_compare` of the records with ``counts`` (whole numbers) per customer."""
        k = self.n_cells
        if counts.size and counts.max() <= np.iinfo(np.uint8).max:
            # the records gather from a copy eight times smaller, which the caches hold
            counts = counts.astype(np.uint8)
        w_m = counts[self.member_customer].astype(float)
        n_m = np.bincount(self.member_cell, weights=w_m, minlength=k)
        s_m = np.bincount(self.member_cell, weights=w_m * self.member_outcome, minlength=k)
        edges = np.zeros(k + 1)
        if self.span_start.size:
            runs = counts[self.run_customer]
            per_span = np.add.reduceat(runs, self.span_start, dtype=np.int64).astype(float)
            edges += np.bincount(self.span_begin, weights=per_span, minlength=k + 1)
            edges -= np.bincount(self.span_end, weights=per_span, minlength=k + 1)
        n_c = np.cumsum(edges[:k])[self.rank]
        w_c = counts[self.bought_customer].astype(float)
        s_c = np.bincount(self.bought_cell, weights=w_c * self.bought_outcome, minlength=k)
        return _means(n_m, n_c, s_m, s_c)


def _compare(records: _Records, weights: np.ndarray) -> tuple[float, float]:
    """Member-weighted means of members and of their cells' non-members."""
    w = weights[records.parts_customer]
    weighted = w * records.parts_outcome
    k, split = records.n_cells, records.n_member_rows
    cell_m, cell_c = records.parts_cell[:split], records.parts_cell[split:]
    n_m = np.bincount(cell_m, weights=w[:split], minlength=k)
    n_c = np.bincount(cell_c, weights=w[split:], minlength=k)
    s_m = np.bincount(cell_m, weights=weighted[:split], minlength=k)
    s_c = np.bincount(cell_c, weights=weighted[split:], minlength=k)
    return _means(n_m, n_c, s_m, s_c)


def _means(
    n_m: np.ndarray, n_c: np.ndarray, s_m: np.ndarray, s_c: np.ndarray
) -> tuple[float, float]:
    """Members' mean and their cells' non-members' means weighted by members, from the sums."""
    ok = (n_m > 0) & (n_c > 0)
    total = n_m[ok].sum()
    if not total > 0:
        return float("nan"), float("nan")
    member = float(s_m[ok].sum() / total)
    control = float(np.dot(n_m[ok], s_c[ok] / n_c[ok]) / total)
    return member, control
