"""Documentation that runs: every docstring example (the README is in test_readme.py)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest

import funnelkit

ROOT = Path(__file__).resolve().parents[1]


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
