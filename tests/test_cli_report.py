"""``funnelkit report`` and ``funnelkit demo`` end to end: CSV, Parquet, JSON, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from funnelkit import Funnel, Stage
from funnelkit.cli import main
from funnelkit.datasets import simulate_community
from funnelkit.report import LifecycleReport


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    sim = simulate_community(3_000, seed=4)
    frame = sim.events.rename(
        columns={"customer_id": "user", "timestamp": "ts", "event": "kind", "value": "amount"}
    )
    paths = {
        "csv": root / "events.csv",
        "parquet": root / "events.parquet",
        "funnel": root / "funnel.json",
        "bad_funnel": root / "bad_funnel.json",
        "root": root,
    }
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"])
    paths["funnel"].write_text(Funnel.community().model_dump_json())
    paths["bad_funnel"].write_text('{"stages": [], "order": "ordered"}')
    return paths


COLUMNS = [
    "--customer-col", "user", "--time-col", "ts", "--event-col", "kind", "--value-col", "amount",
]  # fmt: skip


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_report_command_writes_html_and_json(
    files: dict[str, Path], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = files["root"] / f"report_{kind}.html"
    as_json = files["root"] / f"report_{kind}.json"
    args = [
        "report", str(files[kind]), *COLUMNS, "--funnel", str(files["funnel"]),
        "--out", str(out), "--json", str(as_json), "--bootstrap", "5", "--seed", "1",
    ]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Stage values" in captured.out
    assert "lifecycle model" in captured.err and "bootstrap: 5/5 samples" in captured.err
    assert f"HTML report written to {out}" in captured.err
    page = out.read_text(encoding="utf-8")
    ET.fromstring(page.split("\n", 1)[1])
    rep = LifecycleReport.from_json(as_json.read_text())
    assert rep.stage_counts["prospect"] == 3_000
    assert rep.channels is not None  # the 'channel' column is picked up by default
    assert rep.to_html() == page


def test_csv_and_parquet_give_the_same_report(files: dict[str, Path]) -> None:
    reports = []
    for kind in ("csv", "parquet"):
        out = files["root"] / f"same_{kind}.json"
        args = ["report", str(files[kind]), *COLUMNS, "--bootstrap", "0", "--quiet",
                "--out", str(files["root"] / "same.html"), "--json", str(out)]  # fmt: skip
        assert main(args) == 0
        reports.append(LifecycleReport.from_json(out.read_text()))
    a, b = reports
    assert a.stage_values == b.stage_values
    assert a.stage_counts == b.stage_counts


def test_json_to_stdout(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["report", str(files["csv"]), *COLUMNS, "--bootstrap", "0", "--quiet", "--by", "",
            "--out", str(files["root"] / "stdout.html"), "--json", "-"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema_name"] == "funnelkit.report.lifecycle"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--customer-col", "usr"], "column 'usr' (given as --customer-col)"),
        (["--funnel", "BAD"], "is not a valid funnel"),
        (["--funnel", "MISSING"], "no such funnel file"),
        (["--horizon", "-2"], "The --horizon option must be > 0. Got -2.0 instead."),
        (["--time-unit", "fortnight"], "The --time-unit option must be a time unit such as"),
        (["--by", "region"], "by='region' is not an attribute"),
        (["--by", "region"], "Name the column with --attribute-cols, or pass --by '' for no"),
        (["--seed", "-1"], "argument --seed: must be an int >= 0, got '-1' (see 'funnelkit report"),
        (["--bootstrap", "x"], "argument --bootstrap: must be an int >= 0, got 'x'"),
        (["--penalizer", "nan"], "argument --penalizer: must be a finite number >= 0, got 'nan'"),
        (["--horizon", "soon"], "argument --horizon: invalid float value: 'soon'"),
        (["--purchase-events", "order"], "No purchase events"),
        (["--observation-end", "not a date"], "--observation-end 'not a date' is not a timestamp"),
    ],
)
def test_bad_input_is_one_readable_line(
    files: dict[str, Path], extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = [
        str(files["bad_funnel"])
        if e == "BAD"
        else str(files["root"] / "nope.json")
        if e == "MISSING"
        else e
        for e in extra
    ]
    args = ["report", str(files["csv"]), *COLUMNS, "--bootstrap", "0", "--quiet", *extra,
            "--out", str(files["root"] / "bad.html")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("funnelkit: error: ")
    assert message in lines[0]
    assert "Traceback" not in err


def test_missing_and_unknown_files(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(files["root"] / "none.csv"), "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["report", str(files["funnel"]), "--quiet"]) == 2
    assert "name the file *.csv or *.parquet" in capsys.readouterr().err


def test_console_script_fails_without_a_traceback(files: dict[str, Path]) -> None:
    cmd = [sys.executable, "-m", "funnelkit.cli", "report", str(files["csv"]),
           "--customer-col", "nobody", "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("funnelkit: error: Missing columns")
    assert "Traceback" not in done.stderr


def test_a_funnel_file_with_other_stages(files: dict[str, Path]) -> None:
    funnel = Funnel(
        stages=[Stage(name="visitor", events=["visit"]), Stage(name="buyer", events=["purchase"])]
    )
    path = files["root"] / "two_stages.json"
    path.write_text(funnel.model_dump_json())
    out = files["root"] / "two.json"
    args = ["report", str(files["csv"]), *COLUMNS, "--funnel", str(path), "--bootstrap", "0",
            "--quiet", "--out", str(files["root"] / "two.html"), "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    assert list(LifecycleReport.from_json(out.read_text()).stage_counts) == ["visitor", "buyer"]


def test_demo_writes_the_full_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.html"
    assert main(["demo", "--prospects", "3000", "--seed", "2", "--bootstrap", "5",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    for needle in (
        "Stage counts",
        "Reach by acquisition channel",
        "RFM summary",
        "Stage conversion (95% intervals",
        "eventual",
        "Stage values",
        "Value of advancing",
        "Value by segment: channel",
        "not a causal effect",
        f"HTML report written to {out}",
    ):
        assert needle in text
    ET.fromstring(out.read_text(encoding="utf-8").split("\n", 1)[1])


def test_unknown_event_names_give_a_purchases_report_and_say_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulate_community(1_500, seed=3)
    names = {"touch": "impression", "visit": "session", "join": "signup"}
    frame = sim.events.assign(event=sim.events["event"].replace(names))
    path = tmp_path / "renamed.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "renamed.json"
    args = ["report", str(path), "--value-col", "value", "--bootstrap", "0", "--quiet",
            "--out", str(tmp_path / "renamed.html"), "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(
        "funnelkit: warning: the log has no events of the funnel stage(s) prospect ('touch'), "
        "visitor ('visit'), member ('join'); its event types are "
    )
    for name in ("'impression'", "'session'", "'signup'", "'purchase'"):
        assert name in err
    rep = LifecycleReport.from_json(out.read_text())
    assert rep.data_quality[0] == " ".join(err.removeprefix("funnelkit: warning: ").split())
    assert rep.stage_counts == {"prospect": 0, "visitor": 0, "member": 0, "repeat_buyer": 0}
    assert rep.stage_values.buyer_values["all buyers"].value is not None
    assert rep.settings.random_state == 0


def test_unknown_event_names_without_purchases_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulate_community(500, seed=3)
    frame = sim.events.assign(event="pageview")
    path = tmp_path / "pageviews.csv"
    frame.to_csv(path, index=False)
    args = ["report", str(path), "--quiet", "--bootstrap", "0",
            "--out", str(tmp_path / "pv.html")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "No purchase events" in err and "Traceback" not in err


def test_the_seed_option_is_recorded(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = files["root"] / "seeded.json"
    args = ["report", str(files["csv"]), *COLUMNS, "--bootstrap", "2", "--quiet", "--by", "",
            "--seed", "11", "--out", str(files["root"] / "seeded.html"),
            "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    assert LifecycleReport.from_json(out.read_text()).settings.random_state == 11


def test_the_jobs_option_gives_the_same_report(files: dict[str, Path]) -> None:
    # the bootstrap spread over processes gives the numbers of one process
    texts = []
    for jobs in ("1", "2"):
        out = files["root"] / f"jobs{jobs}.json"
        args = ["report", str(files["csv"]), *COLUMNS, "--bootstrap", "3", "--quiet",
                "--jobs", jobs, "--out", str(files["root"] / f"jobs{jobs}.html"),
                "--json", str(out)]  # fmt: skip
        assert main(args) == 0
        texts.append(LifecycleReport.from_json(out.read_text()).stage_values.model_dump_json())
    assert texts[0] == texts[1]
    assert main(["report", str(files["csv"]), "--jobs", "0", "--quiet"]) == 2


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("funnelkit: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv is empty: an event file has a header and one row per event"),
        ("header.csv", b"customer_id,timestamp,event\n", "The event log is empty: it has no rows"),
        ("binary.csv", bytes(range(128, 256)) * 3, "binary.csv as CSV (is it a UTF-8 text file?)"),
        (
            "semicolons.csv",
            b"customer_id;timestamp;event\n1;2024-01-01;purchase\n",
            "its fields seem separated by ';'. Pass --delimiter ';'.",
        ),
        (
            "other.csv",
            b"a,b\n1,2\n",
            "Available columns: ['a', 'b']. Pass the right name, e.g. --customer-col user_id.",
        ),
        ("fake.parquet", b"not parquet", "fake.parquet as Parquet: ArrowInvalid: "),
        (
            "ragged.csv",
            b"customer_id,timestamp,event\nc1,2024-01-01,purchase,9.5\n",
            "ragged.csv as CSV: ParserWarning: Length of header or names does not match length "
            "of data.",
        ),
        (
            "latin1.csv",
            "customer_id,timestamp,event\nc\u00e9,2024-01-01,purchase\n".encode("latin-1"),
            "latin1.csv as CSV (is it a UTF-8 text file?): UnicodeDecodeError: 'utf-8' codec ",
        ),
        (
            "refunds.csv",
            b"customer_id,timestamp,event,value\n1,2024-01-01,purchase,-5\n",
            "If these are refunds, pass --allow-negative-values; otherwise fix the values.",
        ),
        (
            "dates.csv",
            b"customer_id,timestamp,event\n1,2024-01-01,purchase\n2,someday,purchase\n",
            "Fix or drop them, or pass --time-format FORMAT with the exact format.",
        ),
    ],
)
def test_unreadable_files_are_one_readable_line(
    tmp_path: Path, name: str, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    args = ["report", str(path), "--quiet", "--bootstrap", "0", "--out", str(tmp_path / "r.html")]
    if name == "refunds.csv":
        args += ["--value-col", "value"]
    assert main(args) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "r.html").exists()


def test_a_directory_is_not_an_event_or_funnel_file(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(files["root"]), "--quiet"]) == 2
    assert _one_error_line(capsys.readouterr().err).endswith(
        "is a directory: name one *.csv or *.parquet event file"
    )
    assert main(["report", str(files["csv"]), "--funnel", str(files["root"]), "--quiet"]) == 2
    assert "is a directory: name one JSON file" in _one_error_line(capsys.readouterr().err)


def test_the_remedy_options_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim = simulate_community(1_500, seed=5)
    frame = sim.events.copy()
    frame.loc[frame.index[frame["event"] == "purchase"][:3], "value"] *= -1  # three refunds
    frame["timestamp"] = frame["timestamp"].dt.strftime("%d/%m/%Y %H:%M")
    path = tmp_path / "refunds.csv"
    frame.to_csv(path, index=False, sep=";")
    out = tmp_path / "refunds.json"
    args = ["report", str(path), "--value-col", "value", "--delimiter", ";",
            "--time-format", "%d/%m/%Y %H:%M", "--allow-negative-values", "--penalizer", "0.01",
            "--bootstrap", "0", "--quiet", "--out", str(tmp_path / "r.html"),
            "--json", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    rep = LifecycleReport.from_json(out.read_text())
    assert rep.data.n_events == len(frame)
    assert rep.settings.purchase_model == "BetaGeoFitter"
    assert {c.purchase_fit.penalizer for c in rep.clv} == {0.01}


def test_a_bug_is_an_internal_error_line_and_debug_shows_it(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("unsupported operand")

    monkeypatch.setattr("funnelkit.report.report", broken)
    args = [
        "report",
        str(files["csv"]),
        *COLUMNS,
        "--quiet",
        "--out",
        str(files["root"] / "i.html"),
    ]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("funnelkit: internal error: TypeError: unsupported operand -- a bug in ")
    assert err.endswith("(rerun with --debug or FUNNELKIT_DEBUG=1 for the traceback)\n")
    with pytest.raises(TypeError, match="unsupported operand"):
        main([*args, "--debug"])
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["--debug", *args])
    monkeypatch.setenv("FUNNELKIT_DEBUG", "1")
    with pytest.raises(TypeError, match="unsupported operand"):
        main(args)


def test_an_interrupt_is_one_line_and_exit_130(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("funnelkit.report.report", interrupted)
    assert main(["report", str(files["csv"]), *COLUMNS, "--quiet"]) == 130
    assert capsys.readouterr().err == "funnelkit: interrupted\n"


def test_errors_of_data_libraries_are_bad_input(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np
    import pyarrow as pa

    for exc, shown in [
        (pa.ArrowTypeError("cannot convert"), "ArrowTypeError: cannot convert"),
        (np.linalg.LinAlgError("Singular matrix"), "LinAlgError: Singular matrix"),
        (OverflowError("math range error"), "OverflowError: math range error"),
    ]:

        def failing(*args: object, error: Exception = exc, **kwargs: object) -> None:
            raise error

        monkeypatch.setattr("funnelkit.report.report", failing)
        assert main(["report", str(files["csv"]), *COLUMNS, "--quiet"]) == 2
        assert _one_error_line(capsys.readouterr().err) == f"funnelkit: error: {shown}"


def test_help_offers_every_remedy_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["report", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    options = ["--allow-negative-values", "--time-format", "--delimiter", "--penalizer",
               "--purchase-events", "--attribute-cols", "--by", "--funnel", "--debug"]  # fmt: skip
    for option in options:
        assert option in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--prospects", "0"], "The event log is empty: it has no rows."),
        (["demo", "--prospects", "many"], "argument --prospects: must be an int >= 0, got 'many'"),
        (["reprt"], "argument command: invalid choice: 'reprt' (choose from "),
    ],
)
def test_demo_and_usage_errors_are_one_line(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--quiet", "--out", str(tmp_path / "d.html")] if args[0] == "demo" else []
    assert main([*args, *options]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "d.html").exists()


TOO_FEW = (
    "funnelkit: warning: Lifetime-value models, What each stage is worth, Value by channel, "
    "Members vs non-members: could not be computed: The all buyers purchase model cannot be "
    "fitted: not enough data: 15 repeat buyers, need 20"
)


def test_too_few_repeat_buyers_give_a_report_and_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = simulate_community(200, seed=1)
    path = tmp_path / "small.csv"
    sim.events.to_csv(path, index=False)
    out, as_json = tmp_path / "small.html", tmp_path / "small.json"
    args = ["report", str(path), "--value-col", "value", "--bootstrap", "3", "--out", str(out),
            "--json", str(as_json)]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert [line for line in captured.err.splitlines() if "warning" in line] == [TOO_FEW]
    assert f"HTML report written to {out}" in captured.err
    rep = LifecycleReport.from_json(as_json.read_text())
    assert rep.stage_values is None and rep.transitions is not None
    assert rep.stage_counts == {"prospect": 200, "visitor": 57, "member": 24, "repeat_buyer": 14}
    assert "not enough data: 15 repeat buyers, need 20" in out.read_text(encoding="utf-8")


def test_demo_of_a_small_community_warns_and_still_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d.html"
    args = ["demo", "--prospects", "200", "--seed", "1", "--bootstrap", "0", "--quiet",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [TOO_FEW]
    assert "Stage conversion" in captured.out and "Stage values" not in captured.out
    assert out.exists()
