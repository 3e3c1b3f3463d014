"""``funnelkit demo``: where it writes, and that it needs neither pandas nor polars."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from funnelkit.cli import main

SMALL = ["--prospects", "2000", "--seed", "3", "--bootstrap", "0", "--quiet"]


def test_demo_writes_funnelkit_demo_html_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", *SMALL]) == 0
    page = tmp_path / "funnelkit-demo.html"
    assert f"HTML report written to {page}\n" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["funnelkit-demo.html"]
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_demo_out_names_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pages").mkdir()
    assert main(["demo", *SMALL, "--out", "pages/community.html"]) == 0
    page = tmp_path / "pages" / "community.html"
    assert f"HTML report written to {page}\n" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["pages"]
    assert page.is_file()


def test_demo_runs_without_pandas_or_polars(tmp_path: Path) -> None:
    # A finder in front of sys.meta_path makes `import pandas` fail as if not installed.
    script = (
        "import sys\n"
        "class Uninstalled:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pandas', 'polars'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Uninstalled())\n"
        "from funnelkit.cli import main\n"
        f"code = main(['demo', *{SMALL!r}])\n"
        "assert 'pandas' not in sys.modules and 'polars' not in sys.modules\n"
        "raise SystemExit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "Stage counts" in done.stdout
    assert (tmp_path / "funnelkit-demo.html").is_file()


def test_demo_runs_on_a_core_only_install(tmp_path: Path) -> None:
    # None in sys.modules makes `import pandas` fail as if the library were not installed.
    blocked = ("pandas", "polars", "pyarrow", "duckdb")
    page = tmp_path / "d.html"
    argv = ["demo", "--prospects", "3000", "--bootstrap", "3", "--out", str(page)]
    script = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None\n"
        "from funnelkit.cli import main\n"
        f"code = main({argv!r})\n"
        f"loaded = [n for n in {blocked!r} if sys.modules[n] is not None]\n"
        "assert not loaded, loaded\n"
        "raise SystemExit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "error" not in done.stderr
    assert f"HTML report written to {page}\n" in done.stdout
    assert "Membership uplift" in done.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["d.html"]
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
