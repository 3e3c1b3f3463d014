"""The README, executed as written, with its numbers checked.

The code is read from README.md on every run, so these tests follow the README as it changes.
Each ```python block runs in a fresh namespace in a temporary working directory, with the
README's own (default) arguments and seed; then the results it names are checked to be finite
and plausible against the simulated data, not only to have been computed without an error.
"""

from __future__ import annotations

import ast
import itertools
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _finite import non_finite_json, non_finite_tokens

from funnelkit.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
WEEKS_PER_MONTH = 365.25 / 12 / 7


def _fenced(language: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of every fenced block in ``language``, in README order."""
    blocks = []
    for match in re.finditer(rf"^```{language}\n(.*?)^```", TEXT, flags=re.S | re.M):
        blocks.append((TEXT.count("\n", 0, match.start(1)) + 1, match.group(1)))
    return blocks


def _block_assigning(name: str) -> tuple[int, str]:
    """The README Python block that assigns ``name`` at top level."""
    for line, code in _fenced("python"):
        tree = ast.parse(code)
        targets = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        if name in targets:
            return line, code
    raise AssertionError(f"no ```python block of README.md assigns {name!r}; update this test")


def _inline(prefix: str) -> str:
    """The README's inline code span starting with ``prefix``, whitespace normalised."""
    prose = re.sub(r"^```.*?^```", "", TEXT, flags=re.S | re.M)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", prose)]
    found = [s for s in spans if s.startswith(prefix)]
    assert found, f"README.md has no inline code starting with {prefix!r}; update this test"
    return found[0]


def _run(block: tuple[int, str], workdir: Path, namespace: dict[str, Any]) -> dict[str, Any]:
    """Execute a block in ``workdir``; tracebacks point at the README's own line numbers."""
    line, code = block
    compiled = compile("\n" * (line - 1) + code, str(README), "exec")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        exec(compiled, namespace)
    return namespace


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("quickstart")
    namespace = _run(_block_assigning("clv"), workdir, {"__name__": "readme"})
    assert not any(workdir.iterdir()), "the quickstart is not meant to write files"
    return namespace


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")  # every warning a reader of the README would see
        namespace = _run(
            _block_assigning("forecast"),
            tmp_path_factory.mktemp("lifecycle"),
            {"__name__": "readme"},
        )
    return {**namespace, "warnings shown": [(w.category.__name__, str(w.message)) for w in shown]}


# ----------------------------------------------------------------- first block: quickstart
def test_quickstart_counts_fall_along_the_funnel(quickstart: dict[str, Any]) -> None:
    counts = quickstart["journeys"].counts()
    assert list(counts) == ["prospect", "visitor", "member", "repeat_buyer"]
    assert counts["prospect"] == quickstart["log"].n_customers == 10_000
    values = list(counts.values())
    assert all(later < earlier for earlier, later in itertools.pairwise(values)), counts
    assert values[-1] > 0, counts


def test_quickstart_conversion_interval_holds_its_estimate(quickstart: dict[str, Any]) -> None:
    estimate = quickstart["conversion"].estimate("visitor", "member")
    counts = quickstart["journeys"].counts()
    assert (estimate.n_entered, estimate.n_converted) == (counts["visitor"], counts["member"])
    assert estimate.eventual_rate is not None
    assert estimate.eventual_rate_ci is not None
    lower, upper = estimate.eventual_rate_ci
    assert 0.0 <= lower <= estimate.eventual_rate <= upper <= 1.0, estimate.eventual_rate_ci
    # members already observed are a floor: censoring can only add converters
    assert upper >= counts["member"] / counts["visitor"]


def test_quickstart_purchase_model_predicts_finite_numbers(quickstart: dict[str, Any]) -> None:
    bgnbd, rfm = quickstart["bgnbd"], quickstart["rfm"]
    converged = bgnbd.result_.converged
    purchases = bgnbd.expected_purchases(12 * WEEKS_PER_MONTH, rfm)
    alive = bgnbd.probability_alive(rfm)
    params = {k: p.estimate for k, p in bgnbd.result_.params.items()}
    for name, values in (("expected_purchases", purchases), ("probability_alive", alive)):
        bad = int(np.sum(~np.isfinite(values)))
        assert bad == 0, (
            f"BG/NBD reports converged={converged} with {params}, but {name} is not finite "
            f"for {bad} of {len(values)} customers"
        )
    assert np.all(purchases >= 0)
    assert np.all((alive >= 0) & (alive <= 1))


def test_quickstart_clv_is_finite_and_plausible(quickstart: dict[str, Any]) -> None:
    clv, rfm = quickstart["clv"], quickstart["rfm"]
    assert clv.shape == (len(rfm),)
    bad = int(np.sum(~np.isfinite(clv)))
    assert bad == 0, f"customer_lifetime_value is not finite for {bad} of {len(clv)} customers"
    assert np.all(clv >= 0)
    assert np.mean(clv > 0) >= 0.99
    # The observed repeat-purchase rate and spend per purchase, kept up for 12 months with
    # nobody dropping out, bound the mean value from above; drop-out and discounting lower it,
    # but not by a factor of four on data simulated with most customers still active.
    columns = rfm.columns()
    frequency, weeks, spend = columns["frequency"], columns["T"], columns["monetary_value"]
    rate_per_week = frequency.sum() / weeks.sum()
    spend_per_purchase = (frequency * spend).sum() / frequency.sum()
    no_dropout = rate_per_week * 12 * WEEKS_PER_MONTH * spend_per_purchase
    assert no_dropout / 4 <= np.mean(clv) <= no_dropout * 1.25, (np.mean(clv), no_dropout)


# ------------------------------------------------------- second block: lifecycle value
def test_lifecycle_forecast_is_finite_and_ordered(lifecycle: dict[str, Any]) -> None:
    forecast, journeys = lifecycle["forecast"], lifecycle["journeys"]
    counts = journeys.counts()
    stages = list(counts)
    assert list(forecast.reached) == stages
    slack = 1e-9 * forecast.n_customers  # the counts are sums of per-customer probabilities
    for stage in stages:
        low, mid, high = (
            forecast.reached_lower[stage],
            forecast.reached[stage],
            forecast.reached_upper[stage],
        )
        assert np.isfinite([low, mid, high]).all(), (stage, low, mid, high)
        assert low - slack <= mid <= high + slack, (stage, low, mid, high)
        # everyone who has reached a stage by the end of observation has still reached it
        # 60 days later; nobody can reach it who is not in the forecast
        assert counts[stage] - slack <= mid <= forecast.n_customers + slack, (stage, mid)
    reached = [forecast.reached[s] for s in stages]
    assert all(later <= earlier for earlier, later in itertools.pairwise(reached)), reached
    assert forecast.reached["repeat_buyer"] > counts["repeat_buyer"]


def test_lifecycle_warns_only_what_the_readme_explains(lifecycle: dict[str, Any]) -> None:
    # the data say little about whether members who have not bought again yet ever will: their
    # drop-out rate is weakly identified, and the README says why the reader sees that warning
    shown = lifecycle["warnings shown"]
    assert len(shown) == 1, shown
    category, message = shown[0]
    assert category == "StatisticalWarning", shown
    assert message.startswith("stage 'member': the drop-out rate is weakly identified"), shown
    text = " ".join(TEXT.split())
    assert "warns that the members' drop-out rate is weakly identified" in text


def test_lifecycle_stage_values_are_finite_and_rise(lifecycle: dict[str, Any]) -> None:
    values = lifecycle["model"].stage_values()
    assert list(values) == ["prospect", "visitor", "member", "repeat_buyer"]
    shown = [values[s].value for s in values]
    assert all(v is not None and np.isfinite(v) and v > 0 for v in shown), shown
    # a customer further along the funnel has already done what earlier ones may not do
    assert all(later > earlier for earlier, later in itertools.pairwise(shown)), shown
    for stage in values:
        # n_bootstrap=10 in the README: an interval is only given when every sample could be
        # refitted, so a missing one means bootstrap fits failed on well-behaved data
        assert values[stage].ci is not None, (stage, values.notes)
        lower, upper = values[stage].ci
        assert lower <= values[stage].value <= upper, (stage, values[stage])


def test_lifecycle_value_of_advancing_is_the_difference(lifecycle: dict[str, Any]) -> None:
    model = lifecycle["model"]
    advance = model.value_of_advancing("visitor", "member")
    values = model.stage_values()
    assert advance.value is not None
    assert np.isfinite(advance.value)
    assert advance.value == pytest.approx(values["member"].value - values["visitor"].value)
    assert advance.ci is not None
    assert np.isfinite(advance.ci).all()
    assert advance.ci[0] <= advance.value <= advance.ci[1]


# ------------------------------------------------------------ inline report commands
@pytest.mark.slow
def test_inline_report_line_writes_a_finite_page(lifecycle: dict[str, Any], tmp_path: Path) -> None:
    code = _inline("fk.report(")
    _run((1, code), tmp_path, dict(lifecycle))
    out = re.search(r"to_html\(\"([^\"]+)\"\)", code)
    assert out is not None, code
    page = (tmp_path / out.group(1)).read_text(encoding="utf-8")
    assert non_finite_tokens(page) == []


@pytest.mark.slow
def test_inline_report_command_writes_a_finite_page(
    lifecycle: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = shlex.split(_inline("funnelkit report "))
    events = next(a for a in command[2:] if a.endswith(".csv"))
    lifecycle["sim"].events.to_csv(tmp_path / events, index=False)
    monkeypatch.chdir(tmp_path)
    assert main([*command[1:], "--quiet", "--json", "report.json"]) == 0
    html = command[command.index("--out") + 1]
    assert non_finite_tokens((tmp_path / html).read_text(encoding="utf-8")) == []
    assert non_finite_json((tmp_path / "report.json").read_text(encoding="utf-8")) == []


# ------------------------------------------------------- first set-up command: the demo
def _setup_commands() -> list[str]:
    """The ``funnelkit ...`` commands of the README's first ```bash block."""
    assert _fenced("bash"), "README.md has no ```bash block"
    _, code = _fenced("bash")[0]
    commands = [c.strip() for c in " ".join(code.split()).split("&&")]
    found = [c for c in commands if c.startswith("funnelkit")]
    assert found, f"the README's first set-up command runs no funnelkit command: {code!r}"
    return found


def _console_script() -> Path:
    script = Path(sys.executable).with_name("funnelkit")
    if not script.is_file():
        if os.environ.get("CI"):
            raise AssertionError(f"the funnelkit console script is not installed ({script})")
        pytest.skip("funnelkit is not installed in this environment (no console script)")
    return script


@pytest.mark.parametrize("command", _setup_commands())
def test_setup_command_runs_with_defaults(command: str, tmp_path: Path) -> None:
    # The demo writes its page to a new temporary directory; TMPDIR keeps that in tmp_path.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    argv = [str(_console_script()), *shlex.split(command)[1:]]
    done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert non_finite_tokens(done.stdout) == []
    written = re.search(r"HTML report written to (\S+)", done.stdout)
    assert written is not None, done.stdout[-2000:]
    page = Path(written.group(1))
    assert page.is_relative_to(tmp_path)
    assert non_finite_tokens(page.read_text(encoding="utf-8")) == []


def test_every_python_block_is_executed() -> None:
    """The fixtures above run the blocks assigning ``clv`` and ``forecast``: that is all."""
    executed = {_block_assigning("clv"), _block_assigning("forecast")}
    assert set(_fenced("python")) == executed, "a README ```python block is not executed"
