"""End-to-end sweeps over seeds and sizes: every run finishes, and every number is finite.

One seed proves little about a pipeline with optimisers and bootstraps in it: a fit that
reaches a boundary of its parameter space on one simulated community in ten shows up only
when many are tried. ``funnelkit demo`` runs on 30 seeds at each of three sizes, and the
README's ``fk.report(log)`` on 20 seeds of the README's data.

The demo runs with a small bootstrap: every bootstrap sample is a refit of the same models,
so the main fits (where boundaries are met) are exercised on every seed whatever the count.
Ten samples is the fewest for which intervals are reported at all, so the interval code is
exercised too (and a refit that overflows in a bootstrap sample is met); the 90 demo runs
then take about 3 CPU minutes (1.3 at 3 samples). The 20 reports take about 5 CPU minutes.
Parametrised per run so pytest-xdist spreads the sweep.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from _finite import non_finite_json, non_finite_tokens

import funnelkit as fk
from funnelkit.cli import main
from funnelkit.datasets import simulate_community

pytestmark = pytest.mark.slow

DEMO_SEEDS = range(30)
DEMO_SIZES = (3_000, 10_000, 50_000)
#: Bootstrap samples per demo run: the fewest for which intervals are shown (module doc).
DEMO_BOOTSTRAP = 10
REPORT_SEEDS = range(20)


@pytest.mark.parametrize("seed", DEMO_SEEDS)
@pytest.mark.parametrize("prospects", DEMO_SIZES)
def test_demo_finishes_with_finite_numbers(
    prospects: int, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "demo.html"
    argv = ["demo", "--quiet", "--prospects", str(prospects), "--seed", str(seed)]
    argv += ["--bootstrap", str(DEMO_BOOTSTRAP), "--out", str(page)]
    try:
        status = main(argv)
    except Exception as exc:  # the CLI promises an exit status, never a traceback
        pytest.fail(f"funnelkit {' '.join(argv[:-2])} raised {type(exc).__name__}: {exc}")
    printed = capsys.readouterr()
    assert status == 0, printed.err[-2000:]
    assert non_finite_tokens(printed.out) == []
    assert non_finite_tokens(page.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("seed", REPORT_SEEDS)
def test_readme_report_finishes_with_finite_numbers(seed: int) -> None:
    sim = simulate_community(10_000, seed=seed)
    log = fk.EventLog.from_frame(sim.events, value_col="value", attribute_cols=["channel"])
    with warnings.catch_warnings():
        # statistical warnings are part of a report's answer; only its numbers are checked
        warnings.simplefilter("ignore")
        # the README leaves the bootstrap unseeded; seeding it makes a failure reproducible
        result = fk.report(log, random_state=seed)
    assert non_finite_json(result.to_json()) == []
    assert non_finite_tokens(result.to_html()) == []
