"""Fuzz ``funnelkit report``: whatever file it is given, it writes a report whose page shows
no NaN or infinity as a number (exit 0), or says what is wrong in exactly one
``funnelkit: error:`` line (exit 2). No exception escapes, no traceback, no exit 3."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from _examples import DERANDOMIZE
from hypothesis import HealthCheck, given, settings, strategies as st

from funnelkit.cli import main

HEADER = "customer_id,timestamp,event,value"
EVENTS = ["touch", "visit", "join", "purchase", "signup", "Purchase"]
TIME_FORMS = ["iso", "date", "dmy", "epoch", "days", "garbage", "empty"]
# A NaN or an infinity printed as a number: 'nan', 'NaN', 'inf', '-inf', 'Infinity', as a
# word of its own (not inside 'financial' or 'infinite' in prose), and not the limit a
# parameter tends to in a note ("a + b -> inf with a / (a + b) = p").
NON_FINITE = re.compile(
    r"(?<![A-Za-z])(?<!-> )(?<!-&gt; )[-+]?(nan|NaN|NAN|inf|Inf|Infinity)(?![A-Za-z])"
)


def _timestamp(rng: np.random.Generator, form: str) -> str:
    day = int(rng.integers(0, 500))
    date = np.datetime64("2023-01-01") + np.timedelta64(day, "D")
    seconds = int(rng.integers(0, 86_400))
    if form == "iso":
        return f"{date}T{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:00"
    if form == "date":
        return str(date)
    if form == "dmy":
        y, m, d = str(date).split("-")
        return f"{d}/{m}/{y}"
    if form == "epoch":
        return str(1_672_531_200 + day * 86_400 + seconds)
    if form == "days":
        return f"{day + seconds / 86_400:.3f}"
    if form == "garbage":
        return str(rng.choice(["soon", "2023-13-45", "yesterday", "12:00"]))
    return ""


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """The bytes of a CSV file, well formed or not, and the column options that go with it."""
    kinds = ["rows"] * 4 + ["bytes", "empty", "header", "columns", "semicolons", "ragged"]
    kind = draw(st.sampled_from([*kinds, "latin-1"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300)), []
    if kind == "empty":
        return b"", []
    if kind == "header":
        return (HEADER + "\n").encode(), []
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_customers = draw(st.sampled_from([25, 40, 1, 3]))
    n_rows = draw(st.sampled_from([200, 1, 5, 200]))
    forms = draw(st.lists(st.sampled_from(TIME_FORMS), min_size=1, max_size=2, unique=True))
    purchases_only = draw(st.booleans())
    negative = draw(st.booleans()) and draw(st.booleans())
    weights = np.array([1.0, 1.0, 0.5, 4.0, 0.2, 0.2])
    lines = [HEADER if kind != "columns" else "user,when,what,amount"]
    for _ in range(n_rows):
        customer = int(rng.integers(0, n_customers))
        event = "purchase" if purchases_only else str(rng.choice(EVENTS, p=weights / 6.9))
        value = round(float(rng.gamma(2.0, 20.0)), 2) * (-1 if negative else 1)
        stamp = _timestamp(rng, str(rng.choice(forms)))
        lines.append(f"c{customer},{stamp},{event},{value if event == 'purchase' else ''}")
    if kind == "ragged":  # a stray field in some rows, the first one included
        lines = [lines[0]] + [
            line + ",x" if i == 0 or rng.random() < 0.1 else line
            for i, line in enumerate(lines[1:])
        ]
    text = "\n".join(lines) + "\n"
    if kind == "latin-1":
        return text.replace("c1", "c\u00e91").encode("latin-1"), []
    options: list[str] = []
    if kind == "semicolons":
        text = text.replace(",", ";")
        options = draw(st.sampled_from([[], ["--delimiter", ";"]]))
    elif kind == "columns" and draw(st.booleans()):
        options = ["--customer-col", "user", "--time-col", "when", "--event-col", "what"]
    return text.encode(), options


def run_report(content: bytes, extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="funnelkit-fuzz-"))
    try:
        path, out = root / "events.csv", root / "report.html"
        path.write_bytes(content)
        args = ["report", str(path), "--quiet", "--bootstrap", "2", "--out", str(out), *extra]
        code = main(args)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        errors = [line for line in err.splitlines() if line.startswith("funnelkit: error:")]
        others = [
            line
            for line in err.splitlines()
            if line.strip() and not line.startswith(("funnelkit: error:", "funnelkit: warning:"))
        ]
        assert not others, err
        if code == 0:
            assert errors == []
            page = out.read_text(encoding="utf-8")
            shown = re.sub(r"<script.*?</script>|<style.*?</style>", "", page, flags=re.S)
            found = NON_FINITE.findall(re.sub(r"<[^>]+>", " ", shown))
            assert not found, f"non-finite numbers shown: {found[:5]}"
        else:
            assert code == 2, err
            assert len(errors) == 1 and err.rstrip("\n").endswith(errors[0]), err
            assert not out.exists()
    finally:
        shutil.rmtree(root)


OPTIONS = st.sampled_from(
    [
        [],
        ["--value-col", "value"],
        ["--value-col", "value", "--allow-negative-values"],
        ["--value-col", "value", "--penalizer", "0.01"],
        ["--purchase-events", "purchase,Purchase", "--value-col", "value"],
        ["--value-col", "amount"],
        ["--time-format", "%d/%m/%Y", "--period", "week", "--time-unit", "week"],
        ["--observation-end", "2024-01-01", "--value-col", "value"],
        ["--horizon", "0.5", "--discount-rate", "0.1", "--purchase-model", "paretonbd"],
    ]
)
FAST = settings(
    max_examples=120,
    database=None,
    deadline=None,
    derandomize=DERANDOMIZE,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@given(file=csv_files(), extra=OPTIONS)
@FAST
def test_report_of_any_file_is_a_page_or_one_error_line(
    file: tuple[bytes, list[str]], extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_report(file[0], [*file[1], *extra], capsys)


@pytest.mark.slow
@given(file=csv_files(), extra=OPTIONS)
@settings(FAST, max_examples=1000, derandomize=False)
def test_report_of_any_file_is_a_page_or_one_error_line_many(
    file: tuple[bytes, list[str]], extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    run_report(file[0], [*file[1], *extra], capsys)
