"""Every tutorial notebook runs without error (small settings: GRAPHMETA_TUTORIAL_QUICK=1)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "tutorials").glob("*.ipynb"))


def test_there_are_four_tutorials() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04"]


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(notebook: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    shutil.copytree(REPO / "datasets" / "examples", tmp_path / "datasets" / "examples")
    workdir = tmp_path / "tutorials"
    workdir.mkdir()
    monkeypatch.setenv("GRAPHMETA_TUTORIAL_QUICK", "1")
    monkeypatch.setenv("GRAPHMETA_DATA", str(shared_data))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend puts plots in the outputs
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert any("image/png" in o.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])), "a tutorial shows at least one plot"
