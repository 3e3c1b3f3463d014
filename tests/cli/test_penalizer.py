"""--penalizer reaches every purchase fit of the report, for every purchase model name."""

from __future__ import annotations

from pathlib import Path

import pytest

from funnelkit.cli import main
from funnelkit.datasets import simulate_community
from funnelkit.report import LifecycleReport


def test_penalizer_of_a_named_purchase_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulate_community(1_500, seed=5)
    path = tmp_path / "events.csv"
    sim.events.to_csv(path, index=False)
    out = tmp_path / "r.json"
    args = ["report", str(path), "--value-col", "value", "--purchase-model", "paretonbd",
            "--penalizer", "0.02", "--bootstrap", "0", "--quiet", "--by", "",
            "--out", str(tmp_path / "r.html"), "--json", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rep = LifecycleReport.from_json(out.read_text())
    assert rep.settings.purchase_model == "ParetoNBDFitter"
    assert len(rep.clv) > 0
    assert {c.purchase_fit.penalizer for c in rep.clv} == {0.02}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "r.html", "r.json"]
