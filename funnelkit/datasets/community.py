"""A generative community funnel with known parameters, for demos and recovery tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from funnelkit._frames import Backend, frame_from_columns
from funnelkit._results import Spec
from funnelkit.exceptions import SpecError
from funnelkit.stages import _spec_error as spec_error

__all__ = ["ChannelParams", "CommunityParams", "SimulatedCommunity", "simulate_community"]

_FIX = "Change the offending values; the defaults of CommunityParams() are a valid community."


class ChannelParams(Spec):
    """One acquisition channel: its share of prospects and how well it converts to visits."""

    share: float = Field(gt=0)
    visit_prob: float = Field(ge=0, le=1, description="eventual prospect → visitor probability")
    visit_delay_mean: float = Field(gt=0, description="mean days from touch to visit")
    cost_per_prospect: float = Field(
        default=1.0, ge=0, description="acquisition spend per prospect (for channel economics)"
    )

    def __init__(self, **data: Any) -> None:
        # pydantic wraps a validator's error in its ValidationError, which is no FunnelkitError
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, _FIX) from exc


class BuyingParams(Spec):
    """MBG/NBD repeat buying after the first purchase (Batislam et al. 2007), rates per day.

    As in MBG/NBD, a customer may drop out right after any purchase, the first included.
    """

    r: float = Field(gt=0)
    alpha: float = Field(gt=0)
    a: float = Field(gt=0)
    b: float = Field(gt=0)

    def __init__(self, **data: Any) -> None:
        # pydantic wraps a validator's error in its ValidationError, which is no FunnelkitError
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, _FIX) from exc


class CommunityParams(Spec):
    """The true parameters of :func:`simulate_community` (delays in days, exponential)."""

    start: str = "2024-01-01"
    acquisition_days: float = Field(default=240.0, gt=0)
    observation_days: float = Field(default=365.0, gt=0)
    channels: dict[str, ChannelParams] = Field(
        default_factory=lambda: {
            "instagram": ChannelParams(
                share=0.4, visit_prob=0.35, visit_delay_mean=6.0, cost_per_prospect=2.0
            ),
            "tiktok": ChannelParams(
                share=0.3, visit_prob=0.25, visit_delay_mean=4.0, cost_per_prospect=1.5
            ),
            "facebook": ChannelParams(
                share=0.2, visit_prob=0.30, visit_delay_mean=10.0, cost_per_prospect=2.5
            ),
            "referral": ChannelParams(
                share=0.1, visit_prob=0.60, visit_delay_mean=3.0, cost_per_prospect=0.5
            ),
        }
    )
    join_prob: float = Field(default=0.4, ge=0, le=1, description="visitor → member")
    join_delay_mean: float = Field(default=14.0, gt=0)
    first_purchase_prob_member: float = Field(default=0.7, ge=0, le=1)
    first_purchase_prob_visitor: float = Field(default=0.3, ge=0, le=1)
    first_purchase_delay_mean: float = Field(default=20.0, gt=0)
    buying_member: BuyingParams = BuyingParams(r=0.9, alpha=40.0, a=0.6, b=4.0)
    buying_visitor: BuyingParams = BuyingParams(r=0.5, alpha=60.0, a=0.9, b=2.5)
    spend_p: float = Field(default=6.0, gt=0, description="Gamma-Gamma shape of a spend")
    spend_q: float = Field(default=4.0, gt=1, description="Gamma-Gamma shape of the scale")
    spend_v: float = Field(default=15.0, gt=0, description="Gamma-Gamma rate of the scale")

    def __init__(self, **data: Any) -> None:
        # pydantic wraps a validator's error in its ValidationError, which is no FunnelkitError
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise spec_error(exc, _FIX) from exc

    @model_validator(mode="after")
    def _has_channels(self) -> CommunityParams:
        if not self.channels:
            raise SpecError(
                "at least one channel is needed, e.g. channels={'social': "
                "ChannelParams(share=1.0, visit_prob=0.3, visit_delay_mean=5.0)}"
            )
        return self


@dataclass(frozen=True)
class SimulatedCommunity:
    """Simulated events plus the truth that generated them.

    ``events`` (a frame, or a mapping of numpy arrays for ``backend="numpy"``) has columns
    ``customer_id, timestamp, event, value, channel``; ``truth`` holds
    per-prospect arrays (``channel``, ``will_visit``, ``visit_delay``, ``will_join``, ...)
    before censoring, so estimators can be checked against what really happened.
    """

    events: Any
    params: CommunityParams
    observation_end: np.datetime64
    truth: dict[str, np.ndarray]

    def costs(self, backend: Backend = "pandas") -> Any:
        """The known acquisition spend per channel: ``channel``, ``cost``.

        Each channel's ``cost_per_prospect`` times the prospects it brought.

        >>> sim = simulate_community(1000, seed=0)
        >>> list(sim.costs().columns)
        ['channel', 'cost']
        """
        names = list(self.params.channels)
        counts = np.array([(self.truth["channel"] == n).sum() for n in names], dtype=float)
        rate = np.array([c.cost_per_prospect for c in self.params.channels.values()])
        return frame_from_columns(
            {"channel": np.array(names, dtype=object), "cost": counts * rate}, backend
        )


def simulate_community(
    n_prospects: int,
    *,
    seed: int | np.random.Generator | None,
    params: CommunityParams | None = None,
    backend: Backend | Literal["numpy"] = "pandas",
) -> SimulatedCommunity:
    """Simulate a community funnel: touch → visit → join → purchases with spend.

    Prospects arrive uniformly over ``acquisition_days`` from channels in proportion to their
    share. Each eventually visits with the channel's ``visit_prob`` after an exponential delay;
    visitors join with ``join_prob``; members and non-member visitors make a first purchase with
    their own probability; after it, repeat purchases follow MBG/NBD (a dropout chance after
    every purchase, the first included; Batislam et al. 2007) with separate parameters for
    members and non-members, and each purchase's value is Gamma-Gamma distributed. Events after
    ``observation_days`` are censored (not emitted).

    ``backend`` names the frame library of :attr:`SimulatedCommunity.events`; ``"numpy"``
    gives a mapping of column names to numpy arrays instead, which
    :meth:`funnelkit.EventLog.from_frame` reads as a frame and which needs no frame library.

    Examples
    --------
    >>> sim = simulate_community(1000, seed=0)
    >>> sorted(sim.events["event"].unique())
    ['join', 'purchase', 'touch', 'visit']
    >>> from funnelkit import EventLog
    >>> events = simulate_community(1000, seed=0, backend="numpy").events
    >>> list(events)
    ['customer_id', 'timestamp', 'event', 'value', 'channel']
    >>> EventLog.from_frame(events).event_types
    ('join', 'purchase', 'touch', 'visit')
    """
    p = params or CommunityParams()
    rng = np.random.default_rng(seed)
    n = int(n_prospects)
    names = list(p.channels)
    shares = np.array([c.share for c in p.channels.values()])
    channel = rng.choice(len(names), size=n, p=shares / shares.sum())
    visit_prob = np.array([c.visit_prob for c in p.channels.values()])[channel]
    visit_mean = np.array([c.visit_delay_mean for c in p.channels.values()])[channel]

    touch = rng.uniform(0.0, p.acquisition_days, n)
    will_visit = rng.random(n) < visit_prob
    visit_delay = rng.exponential(visit_mean)
    visit = np.where(will_visit, touch + visit_delay, np.inf)
    will_join = will_visit & (rng.random(n) < p.join_prob)
    join_delay = rng.exponential(p.join_delay_mean, n)
    join = np.where(will_join, visit + join_delay, np.inf)
    buy_prob = np.where(will_join, p.first_purchase_prob_member, p.first_purchase_prob_visitor)
    will_buy = will_visit & (rng.random(n) < buy_prob)
    first_buy = np.where(
        will_buy,
        np.where(will_join, join, visit) + rng.exponential(p.first_purchase_delay_mean, n),
        np.inf,
    )

    member = will_join & (join <= first_buy)
    lam, drop = _buying_traits(rng, member, p)
    end = p.observation_days
    buyer_idx, buy_times = _purchases(rng, first_buy, lam, drop, end)
    nu = rng.gamma(p.spend_q, 1.0 / p.spend_v, n)
    spend = rng.gamma(p.spend_p, 1.0 / nu[buyer_idx])

    ids = np.arange(n)
    parts = [
        (ids, touch, "touch", np.nan),
        (ids[visit <= end], visit[visit <= end], "visit", np.nan),
        (ids[join <= end], join[join <= end], "join", np.nan),
    ]
    cust = np.concatenate([x[0] for x in parts] + [buyer_idx])
    day = np.concatenate([x[1] for x in parts] + [buy_times])
    event = np.concatenate(
        [np.full(x[0].size, x[2], dtype=object) for x in parts]
        + [np.full(buyer_idx.size, "purchase", dtype=object)]
    )
    value = np.concatenate([np.full(x[0].size, np.nan) for x in parts] + [np.round(spend, 2)])
    order = np.lexsort((day, cust))
    start = np.datetime64(p.start, "ns")
    stamps = start + (day[order] * 86_400e9).astype("timedelta64[ns]")
    channel_names = np.array(names, dtype=object)
    columns = {
        "customer_id": np.char.add("c", cust[order].astype(str)).astype(object),
        "timestamp": stamps,
        "event": event[order],
        "value": value[order],
        "channel": channel_names[channel[cust[order]]],
    }
    truth = {
        "customer_id": np.char.add("c", ids.astype(str)).astype(object),
        "channel": channel_names[channel],
        "touch": touch,
        "will_visit": will_visit,
        "visit_delay": visit_delay,
        "will_join": will_join,
        "will_buy": will_buy,
        "first_purchase": first_buy,
        "member_at_first_purchase": member,
        "purchase_rate": lam,
        "dropout_prob": drop,
        "spend_scale": nu,
    }
    return SimulatedCommunity(
        events=columns if backend == "numpy" else frame_from_columns(columns, backend),
        params=p,
        observation_end=start + np.timedelta64(int(end * 86_400e9), "ns"),
        truth=truth,
    )


def _buying_traits(
    rng: np.random.Generator, member: np.ndarray, p: CommunityParams
) -> tuple[np.ndarray, np.ndarray]:
    n = member.size
    lam = np.empty(n)
    drop = np.empty(n)
    for mask, bp in ((member, p.buying_member), (~member, p.buying_visitor)):
        k = int(mask.sum())
        lam[mask] = rng.gamma(bp.r, 1.0 / bp.alpha, k)
        drop[mask] = rng.beta(bp.a, bp.b, k)
    return lam, drop


def _purchases(
    rng: np.random.Generator, first: np.ndarray, lam: np.ndarray, drop: np.ndarray, end: float
) -> tuple[np.ndarray, np.ndarray]:
    """MBG/NBD purchase times: first purchase, then Poisson(λ) repeats until a p-coin says die."""
    idx = np.flatnonzero(first <= end)
    when = first[idx]
    out_idx, out_t = [idx], [when]
    while idx.size:
        # After each purchase the customer becomes inactive with probability p.
        alive = rng.random(idx.size) >= drop[idx]
        idx, when = idx[alive], when[alive]
        when = when + rng.exponential(1.0 / lam[idx])
        keep = when <= end
        idx, when = idx[keep], when[keep]
        out_idx.append(idx)
        out_t.append(when)
    return np.concatenate(out_idx), np.concatenate(out_t)
