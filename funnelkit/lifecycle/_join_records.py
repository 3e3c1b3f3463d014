"""The landmark records of the membership uplift from the join, and their comparison.

One record per (landmark, customer) in a cell of the landmark matching (see
:mod:`funnelkit.lifecycle.join_uplift`), with the discounted value bought in the window
after the landmark; :func:`compare` gives the member-weighted means of a weighting of the
customers, and :class:`Resampled` the same for many bootstrap samples at less cost each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from funnelkit.conversion.segments import segment_codes
from funnelkit.exceptions import FunnelkitError
from funnelkit.lifecycle._data import CustomerTable

__all__ = ["Records", "Resampled", "compare", "landmark_records", "strata"]

_MAX_PURCHASES = 3


@dataclass(frozen=True)
class Records:
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


def strata(table: CustomerTable) -> tuple[np.ndarray, int, tuple[str, ...]]:
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


def landmark_records(
    table: CustomerTable, stage: str, window: float, step: float, delta: float
) -> tuple[Records, dict[str, Any]]:
    """The records of the landmarks every ``step`` from the first join to ``window`` before
    the observation end, purchases discounted at rate ``delta``, and the counts for the notes.
    """
    k = table.stage_names.index(stage)
    join = table.entry[:, k]
    before = table.entry[:, k - 1]
    fixed, n_fixed, names = strata(table)
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
    return Records(cust, compact, out, order, n_member_rows, used.size, rank), info


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


class Resampled:
    """:func:`compare` of the records for many bootstrap samples, with less work per sample.

    A sample's counts per cell are sums of whole numbers, exact in any order. A non-member
    stays in one stratum over consecutive landmarks, so their records fill consecutive cells
    in the order of :attr:`Records.cell_rank`: each such run adds the customer's count at
    its first cell and takes it off after its last, and a cumulative sum gives the
    non-members' counts from a few runs per customer rather than from every record (the
    runs with the same first and last cell summed first, in one pass). The
    weighted purchases keep the order of the records, without the records with none in the
    window: their terms are +0.0 and leave every sum as it is.
    """

    def __init__(self, records: Records) -> None:
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
        """:func:`compare` of the records with ``counts`` (whole numbers) per customer."""
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


def compare(records: Records, weights: np.ndarray) -> tuple[float, float]:
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
