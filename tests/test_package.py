"""Package-level promises: light import, version, CLI, datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import funnelkit
from funnelkit.cli import main
from funnelkit.datasets import CommunityParams, load_cdnow, simulate_community

HEAVY = ("pandas", "polars", "pyarrow", "duckdb", "matplotlib", "lifetimes", "pyspark")


def test_import_loads_no_optional_dependency() -> None:
    code = (
        "import sys, json, funnelkit, funnelkit.datasets\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_version_and_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert funnelkit.__version__.count(".") == 2
    with pytest.raises(SystemExit):
        main(["--version"])
    assert funnelkit.__version__ in capsys.readouterr().out


def test_demo_prints_a_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo writes funnelkit-demo.html where it runs
    assert main(["demo", "--prospects", "3000", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    for needle in ("Stage counts", "repeat_buyer", "Reach by acquisition channel", "RFM summary"):
        assert needle in out


def test_simulation_is_seeded_and_follows_its_parameters() -> None:
    a = simulate_community(5_000, seed=11)
    b = simulate_community(5_000, seed=11)
    assert a.events.equals(b.events)
    params = CommunityParams()
    truth = a.truth
    for name, channel in params.channels.items():
        mask = truth["channel"] == name
        share_visit = truth["will_visit"][mask].mean()
        se = np.sqrt(channel.visit_prob * (1 - channel.visit_prob) / mask.sum())
        assert abs(share_visit - channel.visit_prob) < 4 * se
    assert a.events["timestamp"].max() <= a.observation_end


def test_load_cdnow() -> None:
    pytest.importorskip("lifetimes")
    summary = load_cdnow()
    assert summary.shape == (2357, 5)
    from lifetimes.datasets import load_cdnow_summary

    reference = load_cdnow_summary(index_col=[0])
    np.testing.assert_array_equal(summary[["frequency", "recency", "T"]], reference)
    assert (summary.loc[summary["frequency"] == 0, "monetary_value"] == 0).all()
    transactions = load_cdnow("transactions")
    assert set(transactions.columns) == {"customer_id", "date", "value"}
