"""The per-customer table a lifecycle model is fitted on (built once, reused by every refit).

Everything a refit needs -- stage entries, first purchases, membership, purchase summaries at
the observation end and at stage entry -- is computed here once from the event log, as numpy
arrays over customers. Bootstrap replicates and segment fits then only change customer
weights.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from funnelkit.clv._data import FitData, distinct_combinations
from funnelkit.conversion.cure_refit import CureRows
from funnelkit.events import EventLog
from funnelkit.exceptions import DataError, FunnelkitError
from funnelkit.ingest.numpy_summaries import stage_entry_times
from funnelkit.journeys import Journeys
from funnelkit.lifecycle._history import (
    History,
    PurchaseEvents,
    PurchasePeriods,
    history_at,
    purchase_events,
    time_periods,
    value_at,
)
from funnelkit.lifecycle._rows import Block, Converters, RowsOf, SpendRows, WeightPlan
from funnelkit.stages import Funnel
from funnelkit.units import TimeUnit

__all__ = ["CustomerTable", "PostEntrants", "PreEntrants", "UniqueRows", "build_table"]

MEMBER, NON_MEMBER, EVERYONE = "member", "non-member", "all buyers"
#: how the note starts that says the membership stage was asked for but nobody reached it
NOBODY_REACHED = "nobody reached the membership stage"


@dataclass(frozen=True)
class UniqueRows:
    """Distinct ``(frequency, recency, T)`` rows of some customers and the map back to them."""

    customers: np.ndarray  # customer codes
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    inverse: np.ndarray  # per customer in ``customers``: its row

    def mapping(self) -> dict[str, np.ndarray]:
        return {"frequency": self.frequency, "recency": self.recency, "T": self.T}

    @functools.cached_property
    def _all_rows(self) -> FitData:
        """Every row with its customer count: the parent of :meth:`fit_data`'s subsets."""
        counts = np.bincount(self.inverse, minlength=self.T.size).astype(float)
        return FitData(columns=self.mapping(), weights=counts, n_customers=int(counts.sum()))

    def fit_data(self, row_weights: np.ndarray, unit: TimeUnit) -> FitData:
        """What a purchase model's likelihood sees of the rows of positive ``row_weights``.

        The same rows, columns and groups as the fitters' own compression of these rows
        would give (a bootstrap refit hands it to ``refit`` directly): the rows are unique
        and checked already, and the groups of distinct values are derived from those of
        all rows, found once, without sorting again.
        """
        # positions, not a mask: a random mask selects five times slower than a gather
        drawn = np.flatnonzero(row_weights > 0)
        columns = {k: v[drawn] for k, v in self.mapping().items()}
        return RowsOf(
            columns=columns,
            weights=row_weights[drawn],
            n_customers=round(float(row_weights.sum())),
            time_unit=unit,
            training=columns,
            parent=self._all_rows,
            rows=drawn,
            parent_weights=row_weights,
        )

    @functools.cached_property
    def repeat_rows(self) -> np.ndarray:
        """Positions of the rows with a repeat purchase (``frequency > 0``)."""
        return np.flatnonzero(self.frequency > 0)

    def row_weights(self, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.inverse, weights=weights[self.customers], minlength=self.T.size)

    def subset(self, keep: np.ndarray, new_code: np.ndarray) -> UniqueRows:
        """The rows of the customers where ``keep`` (per customer of the table) is True.

        ``new_code`` maps the table's customer codes to those of the smaller table. Rows
        nobody keeps are dropped; the others keep their order, so a fit on them sees the
        same rows as a fit giving the dropped ones weight 0.
        """
        mine = np.flatnonzero(keep[self.customers])
        rows = self.inverse[mine]
        # mark the rows in use and number them in order: the order np.unique gives, unsorted
        in_use = np.zeros(self.T.size, dtype=bool)
        in_use[rows] = True
        used = np.flatnonzero(in_use)
        inverse = (np.cumsum(in_use) - 1)[rows]
        return UniqueRows(
            customers=new_code[self.customers[mine]],
            frequency=self.frequency[used],
            recency=self.recency[used],
            T=self.T[used],
            inverse=inverse.reshape(-1),
        )


@dataclass(frozen=True)
class PreEntrants:
    """Entrants of a stage with no purchase yet: time from entry to the first purchase."""

    customers: np.ndarray
    durations: np.ndarray
    converted: np.ndarray
    member_at_purchase: np.ndarray  # for converters; False otherwise

    # What every refit needs and no weight changes, computed on first use and kept (a
    # bootstrap refits a stage a hundred times).
    @functools.cached_property
    def converters(self) -> Converters:
        """The converters' customer codes, membership and log delays (see :class:`Converters`)."""
        rows = np.flatnonzero(self.converted)
        return Converters(
            rows=rows,
            customers=self.customers[rows],
            member=self.member_at_purchase[rows],
            log_durations=np.log(np.maximum(self.durations[rows], 1e-9)),
            durations=self.durations[rows],
        )

    @functools.cached_property
    def cure_rows(self) -> CureRows:
        """The durations prepared for cure-model refits under any weights."""
        return CureRows.of(self.durations, self.converted)


@dataclass(frozen=True)
class PostEntrants:
    """Entrants of a stage who had bought by the time they entered it."""

    customers: np.ndarray
    group: np.ndarray
    entry_value: np.ndarray  # value of purchases at the very moment of entry
    delay: np.ndarray  # time from the first purchase to entering the stage
    frequency: np.ndarray
    monetary_value: np.ndarray
    rows: list[UniqueRows]  # per group, rows of (x, t_x, T) at entry


@dataclass(frozen=True)
class CustomerTable:
    """Per-customer arrays of one event log under one funnel (see module docstring).

    Frozen: a fitted model hands it out as ``customers_`` and computes from it again.
    """

    customer_ids: np.ndarray
    stage_names: tuple[str, ...]
    entry: np.ndarray  # customers x stages, NaN where not reached
    unit: TimeUnit
    observation_end: float
    attributes: dict[str, np.ndarray]
    is_datetime: bool
    events: PurchaseEvents
    at_end: History
    group: np.ndarray  # per customer: group code of buyers, -1 for non-buyers
    group_names: tuple[str, ...]
    buyer_rows: list[UniqueRows]  # per group, RFM rows at the observation end
    pre: dict[str, PreEntrants]
    post: dict[str, PostEntrants]
    journeys: Journeys
    membership_stage: str | None
    purchase_counts: dict[str, int]  # stages counted in purchases → the count
    followup_order: np.ndarray  # buyers sorted by follow-up since their first purchase
    followup_sorted: np.ndarray
    notes: list[str] = field(default_factory=list)

    def followup_survival(self, delay: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """Share of buyers (weighted) followed for at least ``delay`` since their first purchase."""
        w = (
            np.ones(self.followup_order.size)
            if weights is None
            else weights[self.followup_order].astype(float)
        )
        at_least = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
        pos = np.searchsorted(self.followup_sorted, delay, side="left")
        return at_least[pos] / max(float(w.sum()), 1e-300)

    @property
    def n_customers(self) -> int:
        return int(self.customer_ids.shape[0])

    @functools.cached_property
    def spend_rows(self) -> list[SpendRows]:
        """Per buyer group, the Gamma-Gamma rows of its buyers (found once, for every refit)."""
        return [
            SpendRows.of(rows.customers, self.at_end.frequency, self.at_end.monetary_value)
            for rows in self.buyer_rows
        ]

    @functools.cached_property
    def buyer_first_spends(self) -> list[np.ndarray]:
        """Per buyer group, the spend of each buyer's first purchase period (in the order of
        ``buyer_rows[g].customers``): found once, for every refit."""
        return [self.at_end.first_spend[rows.customers] for rows in self.buyer_rows]

    @functools.cached_property
    def weight_plan(self) -> WeightPlan:
        """The rows every refit counts a sample's customers onto (see :class:`WeightPlan`).

        Blocks: ``("pre", stage)`` the stage's entrants with no purchase yet, in entrant
        order; ``("post", stage)`` its entrants who had bought, one row per buyer group;
        ``("buyers", g)`` buyer group ``g``'s distinct purchase rows; ``("spend", g)`` its
        distinct (frequency, spend) rows.
        """
        n = self.n_customers
        blocks: dict[Any, Block] = {}
        for stage, pre in self.pre.items():
            blocks["pre", stage] = Block.counting(pre.customers, None, pre.customers.size, n)
        for stage, post in self.post.items():
            groups = len(self.group_names)
            blocks["post", stage] = Block.counting(post.customers, post.group, groups, n)
        for g, rows in enumerate(self.buyer_rows):
            blocks["buyers", g] = Block.counting(rows.customers, rows.inverse, rows.T.size, n)
        if self.has_values:
            for g, spend in enumerate(self.spend_rows):
                size = spend.all_rows.n_rows
                blocks["spend", g] = Block.counting(spend.customers, spend.inverse, size, n)
        return WeightPlan(blocks, n)

    def prepare_refits(self) -> None:
        """Build here what every bootstrap refit reads and no sample's weights change: the
        blocks a sample's weights are counted onto, the buyers' first spends, each stage's
        delays and the grids they and the converters are spread over.

        Worker processes forked afterwards share them. Built in each worker instead, each
        worker's first sample pays for its own copy in fresh memory, faulted in page by
        page: at a million customers that made it 0.3-0.7 s longer, where building them
        here takes 0.06 s.
        """
        _ = self.weight_plan, self.buyer_first_spends  # each built on first use
        for pre in self.pre.values():
            pre.cure_rows.prepare_grids()
            pre.converters.spread_rows()

    def forget_refit_caches(self) -> None:
        """Drop what bootstrap refits keep: the per-row terms at the full-data estimates,
        each stage's delays prepared for refits and the grids of those and of the
        converters. They are as large as the rows (about 120 MiB at a million customers)
        and a fitted model keeps its table (``customers_``); a later refit finds them
        again."""
        for pre in self.pre.values():
            held = vars(pre)
            held.pop("cure_rows", None)
            if "converters" in held:
                held["converters"].terms.clear()
                held["converters"].grid.clear()
        for rows in self.buyer_rows:
            if "_all_rows" in vars(rows):
                rows._all_rows.cache.pop("terms", None)
        for spend in vars(self).get("spend_rows", []):
            spend.all_rows.cache.pop("terms", None)

    def subset(self, customers: np.ndarray) -> CustomerTable:
        """The table of ``customers`` (increasing customer codes) alone.

        A segment's refits on it give the same fits as on the whole table with weight 0
        outside the segment (every fit drops weight-0 rows), while each refit touches only
        the segment's rows: build it once per segment, not once per bootstrap sample.
        """
        return _subset(self, np.asarray(customers, dtype=np.int64))

    @property
    def has_values(self) -> bool:
        return self.events.has_values


def unique_rows(
    customers: np.ndarray, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray
) -> UniqueRows:
    """Compress ``(frequency, recency, T)`` triples into distinct rows."""
    if customers.size == 0:
        empty = np.zeros(0)
        return UniqueRows(customers, empty, empty, empty, np.zeros(0, dtype=np.int64))
    x, r, t = (np.asarray(a, dtype=float) for a in (frequency, recency, T))
    first, inverse = distinct_combinations(x, r, t)
    return UniqueRows(customers, x[first], r[first], t[first], inverse)


def build_table(
    log: EventLog,
    funnel: Funnel,
    *,
    observation_end: Any,
    unit: TimeUnit,
    purchase_events_: Sequence[str],
    membership_stage: str | None,
    fitted_groups: bool = False,
) -> CustomerTable:
    """Build the customer table (journeys, purchases, membership, histories at entry).

    ``fitted_groups=True`` builds the table of customers to be scored by a model already
    fitted: a log without any purchase is then valid (everyone is still to buy), and the
    buyer groups stay those of ``membership_stage`` even if nobody in it reached that stage.
    """
    if not isinstance(log, EventLog):
        raise FunnelkitError(
            f"LifecycleModel.fit takes an EventLog, got {type(log).__name__}; build one with "
            "EventLog.from_frame(frame, ...)."
        )
    if not isinstance(funnel, Funnel):
        raise FunnelkitError(
            f"funnel must be a Funnel, got {type(funnel).__name__}; e.g. Funnel.community()."
        )
    names = list(purchase_events_)
    if not fitted_groups and not any(n in log.event_types for n in names):
        raise DataError(
            f"No purchase events: none of {names} occurs in the log, whose event types are "
            f"{list(log.event_types)}. Pass purchase_events=[...] naming the purchase event."
        )
    journeys = funnel.journeys(log, observation_end=observation_end, time_unit=unit)
    end = journeys.observation_end
    end_raw = log.last_time if observation_end is None else log.raw_time(observation_end)
    events = purchase_events(log, names, end_raw, unit)
    if events.customer.size == 0 and not fitted_groups:
        raise DataError("No purchases fall inside the observation window; check observation_end.")
    n = log.n_customers
    end_period = int(time_periods(log, np.array([end]), unit)[0])
    # the histories at the end and at each stage entry share one pass over the purchases
    periods = PurchasePeriods.of(events)
    at_end = history_at(events, np.full(n, end), np.full(n, end_period), periods=periods)
    first = at_end.first_time
    notes: list[str] = []

    member_time = np.full(n, np.nan)
    if membership_stage is not None:
        stage = funnel.stage(membership_stage)
        # membership counts on its own, whatever the stages before it
        member_time = stage_entry_times(log, stage, observation_end=observation_end, time_unit=unit)
        if np.isnan(member_time).all() and not fitted_groups:
            notes.append(
                f"{NOBODY_REACHED} {membership_stage!r}: members and non-members cannot be "
                "told apart, so one purchase model is fitted for everyone"
            )
            membership_stage = None
    buyers = at_end.has_purchase
    if membership_stage is None:
        group_names: tuple[str, ...] = (EVERYONE,)
        group = np.where(buyers, 0, -1).astype(np.int8)
        member_first = np.zeros(n, dtype=bool)
    else:
        group_names = (NON_MEMBER, MEMBER)
        member_first = buyers & (member_time <= first)
        group = np.where(buyers, member_first.astype(np.int8), -1).astype(np.int8)
    buyer_rows = [
        unique_rows(c, at_end.frequency[c], at_end.recency[c], at_end.T[c])
        for c in (np.flatnonzero(group == g) for g in range(len(group_names)))
    ]

    entry = journeys.entry_times
    pre: dict[str, PreEntrants] = {}
    post: dict[str, PostEntrants] = {}
    for k, name in enumerate(funnel.stage_names):
        entered = ~np.isnan(entry[:, k])
        bought_before = entered & (first <= entry[:, k])
        waiting = np.flatnonzero(entered & ~bought_before)
        if waiting.size:
            converted = buyers[waiting]
            durations = np.where(converted, first[waiting], end) - entry[waiting, k]
            pre[name] = PreEntrants(
                customers=waiting,
                durations=np.maximum(durations, 0.0),
                converted=converted,
                member_at_purchase=member_first[waiting],
            )
        done = np.flatnonzero(bought_before)
        if done.size:
            post[name] = _post_entrants(
                log, events, periods, entry[:, k], done, group, len(group_names), first
            )
    buyer_codes = np.flatnonzero(buyers)
    followup = end - first[buyer_codes]
    order = np.argsort(followup, kind="stable")
    return CustomerTable(
        customer_ids=log.customer_ids,
        stage_names=funnel.stage_names,
        entry=entry,
        unit=unit,
        observation_end=end,
        attributes=journeys.attributes,
        is_datetime=log.is_datetime,
        events=events,
        at_end=at_end,
        group=group,
        group_names=group_names,
        buyer_rows=buyer_rows,
        pre=pre,
        post=post,
        journeys=journeys,
        membership_stage=membership_stage,
        purchase_counts={
            st.name: st.min_count for st in funnel.stages if set(st.events) <= set(names)
        },
        followup_order=buyer_codes[order],
        followup_sorted=followup[order],
        notes=notes,
    )


def _post_entrants(
    log: EventLog,
    events: PurchaseEvents,
    periods: PurchasePeriods,
    entry: np.ndarray,
    customers: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    first: np.ndarray,
) -> PostEntrants:
    cutoff = np.full(events.n_customers, np.nan)
    cutoff[customers] = entry[customers]
    history = history_at(events, cutoff, time_periods(log, cutoff, events.unit), periods=periods)
    entry_value = value_at(events, cutoff, periods)
    g = group[customers]
    rows = []
    for code in range(n_groups):
        mine = customers[g == code]
        rows.append(
            unique_rows(mine, history.frequency[mine], history.recency[mine], history.T[mine])
        )
    return PostEntrants(
        customers=customers,
        group=g,
        entry_value=entry_value[customers].astype(float),
        delay=entry[customers] - first[customers],
        frequency=history.frequency[customers],
        monetary_value=history.monetary_value[customers],
        rows=rows,
    )


def _subset(table: CustomerTable, customers: np.ndarray) -> CustomerTable:
    """See :meth:`CustomerTable.subset`."""
    n = table.n_customers
    keep = np.zeros(n, dtype=bool)
    keep[customers] = True
    new_code = np.full(n, -1, dtype=np.int64)
    new_code[customers] = np.arange(customers.size)

    def per_customer(obj: Any) -> Any:
        # every array field of a History is indexed by customer
        return dataclasses.replace(
            obj, **{f.name: getattr(obj, f.name)[customers] for f in dataclasses.fields(obj)}
        )

    pre: dict[str, PreEntrants] = {}
    # Each mask picks rows from several arrays: find its rows once and take them.
    for name, entrants in table.pre.items():
        mine = np.flatnonzero(keep[entrants.customers])
        pre[name] = PreEntrants(
            customers=new_code[entrants.customers[mine]],
            durations=entrants.durations[mine],
            converted=entrants.converted[mine],
            member_at_purchase=entrants.member_at_purchase[mine],
        )
    post: dict[str, PostEntrants] = {}
    for name, buyers in table.post.items():
        mine = np.flatnonzero(keep[buyers.customers])
        post[name] = PostEntrants(
            customers=new_code[buyers.customers[mine]],
            group=buyers.group[mine],
            entry_value=buyers.entry_value[mine],
            delay=buyers.delay[mine],
            frequency=buyers.frequency[mine],
            monetary_value=buyers.monetary_value[mine],
            rows=[rows.subset(keep, new_code) for rows in buyers.rows],
        )
    journeys = table.journeys
    attributes = {k: v[customers] for k, v in table.attributes.items()}
    # The table shares its entry times and ids with its journeys: cut each array once.
    entry = table.entry[customers]
    ids = table.customer_ids[customers]
    followed = np.flatnonzero(keep[table.followup_order])
    return dataclasses.replace(
        table,
        customer_ids=ids,
        entry=entry,
        attributes=attributes,
        events=table.events.of_customers(customers),
        at_end=per_customer(table.at_end),
        group=table.group[customers],
        buyer_rows=[rows.subset(keep, new_code) for rows in table.buyer_rows],
        pre=pre,
        post=post,
        journeys=Journeys(
            stage_names=journeys.stage_names,
            entry_times=entry
            if journeys.entry_times is table.entry
            else journeys.entry_times[customers],
            customer_ids=ids
            if journeys.customer_ids is table.customer_ids
            else journeys.customer_ids[customers],
            censoring_times=journeys.censoring_times[customers],
            time_unit=journeys.time_unit,
            attributes=attributes,
            is_datetime=journeys.is_datetime,
            notes=journeys.notes,
        ),
        followup_order=new_code[table.followup_order[followed]],
        followup_sorted=table.followup_sorted[followed],
        notes=list(table.notes),
    )
