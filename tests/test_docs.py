"""Documentation that runs: every docstring example, and every code block of docs/*.md.

The ``pycon`` examples are doctests (they print what the page says). The ``python`` blocks of a
page run in order in one namespace, as a reader would paste them into one session, in an
empty working directory (the pages load their data from :mod:`funnelkit.datasets`). The
commands of the ``bash`` blocks of the docs and the README must exist. The README's Python
blocks are executed, with their numbers checked, in test_readme.py.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import json
import os
import pkgutil
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funnelkit
from funnelkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
#: Packages a docs block may import that a test environment may lack: the block (and every
#: later block that needs what it defines) then does not run. PyMC-Marketing is compared
#: with, never installed; Spark blocks run in their own slow test.
OPTIONAL_IMPORTS = {"pymc_marketing", "pyspark"}
#: shell words that are not executables
SHELL_BUILTINS = {".", "source", "cd", "export", "set"}


def _modules() -> list[str]:
    names = ["funnelkit"]
    for info in pkgutil.walk_packages(funnelkit.__path__, prefix="funnelkit."):
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples(module_name: str) -> None:
    if module_name.endswith(("spark", "__main__")):
        pytest.importorskip("pyspark")
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, module_name, globs={**vars(module), "np": np}):
        if test.filename is None or not test.filename.startswith(str(ROOT)):
            continue  # re-exported objects are tested in their own module
        runner.run(test)
    summary = runner.summarize(verbose=False)
    assert summary.failed == 0, f"{summary.failed} docstring example(s) failed in {module_name}"


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_docs_examples(page: str) -> None:
    """The ``pycon`` examples of the docs pages run and print what the page says."""
    if page == "migration.md":
        pytest.importorskip("lifetimes")  # the guide checks its numbers against lifetimes
    result = doctest.testfile(
        str(ROOT / "docs" / page),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.failed == 0, f"{result.failed} example(s) failed in docs/{page}"


# ------------------------------------------------------------------ python blocks of the pages
def fenced(text: str, language: str) -> list[tuple[int, str]]:
    """``(first line number, code)`` of every fenced block in ``language``, in page order."""
    return [
        (text.count("\n", 0, m.start(1)) + 1, m.group(1))
        for m in re.finditer(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)
    ]


def _names(code: str) -> tuple[set[str], set[str], set[str]]:
    """Top-level modules imported, names assigned (or imported) and names read by ``code``."""
    modules: set[str] = set()
    stored: set[str] = set()
    loaded: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
            stored |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module.split(".")[0])
            stored |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
    return modules, stored, loaded


def run_page(page: str, workdir: Path, *, spark: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Run the page's python blocks in order; returns the namespace and the blocks left out."""
    path = ROOT / "docs" / page
    unavailable = {"pyspark"} if not spark else set()
    unavailable |= {m for m in OPTIONAL_IMPORTS if importlib.util.find_spec(m) is None}
    namespace: dict[str, Any] = {"__name__": "docs"}
    missing: dict[str, set[str]] = {}  # name -> the optional packages it would have needed
    left_out = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        for line, code in fenced(path.read_text(encoding="utf-8"), "python"):
            modules, stored, loaded = _names(code)
            absent = {m for m in modules if importlib.util.find_spec(m) is None}
            assert absent <= OPTIONAL_IMPORTS, (
                f"docs/{page}:{line} imports {sorted(absent)}, which is not installed"
            )
            needs = modules & unavailable
            for name in loaded - stored:
                needs |= missing.get(name, set())
            if needs:
                # what this block would have defined is missing for the blocks after it
                missing |= {name: needs for name in stored - set(namespace)}
                left_out.append(f"docs/{page}:{line} (needs {sorted(needs)})")
                continue
            exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    return namespace, left_out


def _check_index(ns: dict[str, Any]) -> None:
    # the counts and the repr the page shows in its comments
    counts = ns["journeys"].counts()
    assert list(counts.items())[:3] == [("prospect", 2000), ("visitor", 678), ("member", 247)]
    assert repr(ns["conversion"]).startswith("<ConversionFitter() fitted on 2,000 journeys: ")


def _check_concepts(ns: dict[str, Any]) -> None:
    # the page shows the log's repr in a comment
    assert repr(ns["log"]).startswith("<EventLog: 4,054 events, 2,000 customers, "), ns["log"]
    assert ns["funnel"] == funnelkit.Funnel.community()  # "returns exactly this funnel"


def _check_lifecycle_value(ns: dict[str, Any]) -> None:
    model, loaded, new_log = ns["model"], ns["loaded"], ns["new_log"]
    # "new customers, the same numbers as `model`"
    ours = model.score(new_log, backend="pandas")
    theirs = loaded.score(new_log, backend="pandas")
    assert ours.equals(theirs)
    assert len(ours) == new_log.n_customers == 500
    assert list(model.summary().columns[-4:]) == ["estimate", "std_error", "lower", "upper"]
    assert Path("lifecycle.html").stat().st_size > 0


def _check_scaling(ns: dict[str, Any]) -> None:
    assert sorted(p.name for p in Path("events").iterdir()) == ["part-0.parquet", "part-1.parquet"]
    # "The lazy path gives the same result as the in-memory path"
    memory = ns["log"].rfm(time_unit="W", calibration_end="2024-10-01").to_frame()
    lazy = funnelkit.RFM.from_events(
        "events/*.parquet",
        value_col="value",
        event_col="event",
        time_unit="W",
        calibration_end="2024-10-01",
    ).to_frame()
    memory, lazy = (f.sort_values("customer_id").reset_index(drop=True) for f in (memory, lazy))
    assert list(memory.columns) == list(lazy.columns)
    for column in memory.columns:
        ours, theirs = memory[column].to_numpy(), lazy[column].to_numpy()
        if "monetary" in column:  # summed in each engine's own order
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
        else:  # ids, counts and periods: exactly
            np.testing.assert_array_equal(ours, theirs)


PAGE_CHECKS = {
    "index.md": _check_index,
    "concepts.md": _check_concepts,
    "lifecycle_value.md": _check_lifecycle_value,
    "scaling.md": _check_scaling,
}


@pytest.mark.parametrize(
    "page", [p for p in PAGES if fenced((ROOT / "docs" / p).read_text(), "python")]
)
def test_docs_python_blocks_run_as_written(page: str, tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    namespace, left_out = run_page(page, tmp_path)
    for reason in left_out:
        assert any(m in reason for m in OPTIONAL_IMPORTS), reason
    check = PAGE_CHECKS.get(page)
    if check is not None:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path)
            check(namespace)


@pytest.mark.slow
@pytest.mark.spark
def test_docs_spark_blocks_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("pyspark")
    from pyspark import SparkContext

    # "The executors need funnelkit installed": here, this interpreter's
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    # The page starts Spark as a user's fresh session does. A JVM that another test module
    # started keeps resolving relative paths ("events/") against the directory it began in.
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    if SparkContext._gateway is not None:
        SparkContext._gateway.shutdown()
        SparkContext._gateway = SparkContext._jvm = None
    namespace, left_out = run_page("scaling.md", tmp_path, spark=True)
    assert left_out == []
    scored = namespace["scored"]
    # "`score` adds expected_purchases, probability_alive, expected_spend and clv columns"
    added = ["expected_purchases", "probability_alive", "expected_spend", "clv"]
    assert scored.columns[-4:] == added
    assert (tmp_path / "scores").is_dir()
    namespace["spark"].stop()


def test_every_page_with_checks_exists() -> None:
    assert set(PAGE_CHECKS) <= set(PAGES)


# ------------------------------------------------------------------ bash blocks: commands exist
def _bash_commands() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line, code in fenced(path.read_text(encoding="utf-8"), "bash"):
            for command in re.split(r"&&|\|\||;|\|", " ".join(code.split("\\\n"))):
                for part in command.strip().splitlines():
                    if part.strip() and not part.lstrip().startswith("#"):
                        found.append((f"{path.name}:{line}", part.strip()))
    return found


@pytest.mark.parametrize(("where", "command"), _bash_commands())
def test_bash_block_commands_exist(where: str, command: str) -> None:
    words = shlex.split(command)
    program = words[0]
    if program in SHELL_BUILTINS:
        return
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    if program != "funnelkit":
        assert shutil.which(program, path=search), f"{where}: {program!r} is not installed"
        return
    # a funnelkit command: its subcommand must exist (--help exits 0 only for a known one)
    subcommand = [w for w in words[1:] if not w.startswith("-")][:1]
    with pytest.raises(SystemExit) as done:
        main([*subcommand, "--help"])
    assert done.value.code == 0, f"{where}: {command!r} is not a funnelkit command"


# ------------------------------------------------------------------ the notebooks the site shows
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: names the package retired; a stored output showing one was executed against old code
RETIRED = ("lower 95%", "upper 95%", "ConversionSummary(", "standard_error", "n_bootstrap=")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_outputs_are_stored_and_current(path: Path) -> None:
    """The site renders the stored outputs (tests/test_notebooks.py executes the notebooks)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert code and all(c["execution_count"] is not None for c in code), "not executed"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), f"executed out of order: {counts}"
    outputs = json.dumps([c["outputs"] for c in code])
    assert [name for name in RETIRED if name in outputs] == []
    assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"])
