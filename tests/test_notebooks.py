"""Execute every notebook in notebooks/ so the walkthroughs never drift from the code."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
#: Wall-clock budget for one whole notebook (cells share it), generous for a 2-core CI box.
NOTEBOOK_TIMEOUT = 300


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=NOTEBOOK_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(
                    f"{path.name} exceeded its {NOTEBOOK_TIMEOUT} s budget before cell {index}"
                )
            # each cell may only use what is left of the notebook's budget
            client.timeout = max(1, int(remaining))
            client.execute_cell(cell, index)


def test_notebooks_are_found() -> None:
    assert any(p.name == "clv_cdnow.ipynb" for p in NOTEBOOKS)
