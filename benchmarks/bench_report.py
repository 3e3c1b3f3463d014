"""The full lifecycle report on a large simulated community: time of every step.

Run ``python benchmarks/bench_report.py`` (1,000,000 customers, about 10 million events) or
``--quick`` (100,000 customers). The community is simulated with busier buyers than the
default (about 10 events per customer); simulating it is not timed. Timed: ingestion of the
pandas frame into an EventLog, ``funnelkit.report`` without bootstrap (every step listed),
JSON and HTML rendering, and -- unless ``--bootstrap 0`` -- the report with bootstrap
intervals (default: the model's default number of samples). Prints, asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import time
from functools import partial

from _common import PeakRSS, timed

import funnelkit as fk
from funnelkit.datasets import ChannelParams, CommunityParams, simulate_community
from funnelkit.datasets.community import BuyingParams
from funnelkit.lifecycle import LifecycleModel

PARAMS = CommunityParams(
    channels={
        "instagram": ChannelParams(share=0.4, visit_prob=0.8, visit_delay_mean=6.0),
        "tiktok": ChannelParams(share=0.3, visit_prob=0.7, visit_delay_mean=4.0),
        "facebook": ChannelParams(share=0.2, visit_prob=0.75, visit_delay_mean=10.0),
        "referral": ChannelParams(share=0.1, visit_prob=0.9, visit_delay_mean=3.0),
    },
    join_prob=0.5,
    first_purchase_prob_member=0.9,
    first_purchase_prob_visitor=0.6,
    buying_member=BuyingParams(r=2.0, alpha=16.0, a=0.5, b=16.0),
    buying_visitor=BuyingParams(r=1.2, alpha=30.0, a=0.8, b=8.0),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 customers")
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=LifecycleModel().n_bootstrap,
        help="bootstrap samples of the second run (0: skip it)",
    )
    args = parser.parse_args()
    if args.quick:
        args.customers = 100_000

    start = time.perf_counter()
    sim = simulate_community(args.customers, seed=1, params=PARAMS)
    print(
        f"simulated {args.customers:,} customers, {len(sim.events):,} events "
        f"in {time.perf_counter() - start:.1f} s (not timed below)"
    )
    events, end = sim.events, sim.observation_end
    del sim
    gc.collect()
    with PeakRSS() as mem:
        seconds, log = timed(
            partial(fk.EventLog.from_frame, events, value_col="value", attribute_cols=["channel"])
        )
    print(f"ingest (EventLog.from_frame)      {seconds:8.1f} s   peak +{mem.added / 2**30:.2f} GiB")
    del events
    gc.collect()

    with PeakRSS() as mem:
        seconds, rep = timed(
            lambda: fk.report(log, observation_end=end, n_bootstrap=0, random_state=0)
        )
    print(f"report, no bootstrap              {seconds:8.1f} s   peak +{mem.added / 2**30:.2f} GiB")
    for step, s in rep.seconds.items():
        print(f"    {step:<30}{s:8.1f} s")
    json_seconds, text = timed(rep.to_json)
    html_seconds, page = timed(rep.to_html)
    print(f"to_json                           {json_seconds:8.2f} s   {len(text) / 1e6:.2f} MB")
    print(f"to_html                           {html_seconds:8.2f} s   {len(page) / 1e6:.2f} MB")

    if args.bootstrap:
        seconds, rep = timed(
            lambda: fk.report(log, observation_end=end, n_bootstrap=args.bootstrap, random_state=0)
        )
        print(f"report, {args.bootstrap} bootstrap samples   {seconds:8.1f} s")
        for step, s in rep.seconds.items():
            print(f"    {step:<30}{s:8.1f} s")


if __name__ == "__main__":
    main()
