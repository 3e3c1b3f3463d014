"""The analysis config: TOML/JSON, its published schema, and ``report --config``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funnelkit.cli import main
from funnelkit.config import AnalysisConfig, config_schema, load_config, template, to_toml
from funnelkit.datasets import simulate_community
from funnelkit.exceptions import DataError, SpecError
from funnelkit.report import LifecycleReport

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "config.schema.json"


def test_the_published_schema_is_up_to_date() -> None:
    published = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert published == config_schema(), (
        "docs/config.schema.json is out of date: run "
        "'funnelkit config --schema --out docs/config.schema.json'"
    )


def test_schema_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_schema()


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_templates_read_back_to_the_defaults(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"template{suffix}"
    assert main(["config", "--template", "--out", str(path)]) == 0
    assert capsys.readouterr().err == f"written to {path}\n"
    assert load_config(path) == AnalysisConfig()


def test_toml_keeps_every_setting_including_no_event_column(tmp_path: Path) -> None:
    config = AnalysisConfig.model_validate(
        {
            "columns": {"customer": "email", "event": None, "value": "total", "segment": "src"},
            "stages": [{"name": "buyer", "events": ["purchase"]}],
            "currency": "EUR",
            "margin": 0.25,
            "horizon": 6,
            "discount_rate": 0.01,
            "costs": "/data/costs.csv",
        }
    )
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    assert load_config(path) == config
    assert 'event = ""' in path.read_text(encoding="utf-8")
    assert '# time_format = "%d/%m/%Y %H:%M"' in template()


def test_a_relative_costs_file_is_found_beside_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"costs": "costs.csv"}', encoding="utf-8")
    assert load_config(path).costs == str(tmp_path / "costs.csv")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.toml",
            'horizon = -1\ncurrency = "euro"\n[columns]\ncustmer = "x"\n',
            "bad.toml has 3 problem(s): columns.custmer: unknown setting; did you mean "
            "'customer'?; currency: String should match pattern '^[A-Z]{3}$' (got 'euro'); "
            "horizon: Input should be greater than 0 (got -1). Start from "
            "'funnelkit config --template'; docs/config.schema.json lists every setting.",
        ),
        ("broken.toml", "horizon = = 2\n", "broken.toml is not valid TOML: "),
        ("broken.json", "{horizon: 2}", "broken.json is not valid JSON: "),
        ("list.json", "[1, 2]", "A config holds a table of settings, not a list."),
        ("config.yaml", "horizon: 2\n", "A config file is *.toml or *.json, not '.yaml'."),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises((SpecError, DataError)) as info:
        load_config(path)
    assert message in str(info.value)


def test_a_missing_config_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "e.csv"
    events.write_text("customer_id,timestamp\n1,2024-01-01\n", encoding="utf-8")
    args = ["report", str(events), "--config", str(tmp_path / "none.toml"), "--quiet"]
    assert main(args) == 2
    assert capsys.readouterr().err == (
        f"funnelkit: error: FileNotFoundError: no such config file: {tmp_path / 'none.toml'}\n"
    )


def test_report_reads_the_config_and_options_win(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulate_community(1_500, seed=4)
    frame = sim.events.rename(
        columns={"customer_id": "user", "timestamp": "ts", "event": "kind", "channel": "utm"}
    )
    frame.to_csv(tmp_path / "events.csv", sep=";", index=False)
    config = tmp_path / "shop.toml"
    config.write_text(
        'horizon = 6.0\nseed = 3\nn_resamples = 0\n[columns]\ncustomer = "user"\ntime = "ts"\n'
        'event = "kind"\nvalue = "value"\nsegment = "utm"\ndelimiter = ";"\n',
        encoding="utf-8",
    )
    out = tmp_path / "r.json"
    args = ["report", str(tmp_path / "events.csv"), "--config", str(config), "--seed", "5",
            "--quiet", "--out", str(tmp_path / "r.html"), "--json", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rep = LifecycleReport.from_json(out.read_text(encoding="utf-8"))
    assert rep.settings.horizon == 6.0
    assert rep.settings.random_state == 5  # the option, not the file's seed 3
    assert rep.stage_counts["prospect"] == 1_500
    assert rep.channels is not None and rep.channels.by == "utm"


def test_costs_and_margin_reach_the_report_from_options_and_from_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulate_community(3_000, seed=2)
    sim.events.to_csv(tmp_path / "events.csv", index=False)
    sim.costs().to_csv(tmp_path / "costs.csv", index=False)
    (tmp_path / "c.toml").write_text(
        'costs = "costs.csv"\nmargin = 0.4\nn_resamples = 0\n', encoding="utf-8"
    )
    runs = {
        "options": ["--costs", str(tmp_path / "costs.csv"), "--margin", "0.4", "--bootstrap", "0"],
        "config": ["--config", str(tmp_path / "c.toml")],
    }
    tables = []
    for name, extra in runs.items():
        out = tmp_path / f"{name}.json"
        args = ["report", str(tmp_path / "events.csv"), *extra, "--value-col", "value",
                "--quiet", "--out", str(tmp_path / f"{name}.html"), "--json", str(out)]  # fmt: skip
        assert main(args) == 0, capsys.readouterr().err
        economics = LifecycleReport.from_json(out.read_text(encoding="utf-8")).economics
        assert economics is not None
        tables.append(economics.model_dump_json())
    assert tables[0] == tables[1]
    assert '"margin":0.4' in tables[0] and '"value_unit":"purchases"' not in tables[0]


def test_a_strict_funnel_reads_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('order = "strict"\n', encoding="utf-8")
    assert load_config(config).funnel().order == "strict"
