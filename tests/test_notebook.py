"""The example notebook, executed with a real Jupyter kernel so it never rots."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, SAMPLE_LOGS

NOTEBOOKS = ROOT / "notebooks"


def test_notebook_file_is_what_make_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make", NOTEBOOKS / "make.py")
    assert spec and spec.loader
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    on_disk = nbformat.read(NOTEBOOKS / "explore_root_activity.ipynb", as_version=4)
    assert on_disk == make.build(), "run: python notebooks/make.py"


@pytest.mark.slow
def test_notebook_runs_in_a_real_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = nbformat.read(NOTEBOOKS / "explore_root_activity.ipynb", as_version=4)
    monkeypatch.setenv("TRAILSCOPE_SAMPLE_LOGS", str(SAMPLE_LOGS))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = {
        i: cell.get("outputs", []) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
    }
    assert all(not any(o.get("output_type") == "error" for o in out) for out in outputs.values())
    text = "".join(o.get("text", "") for out in outputs.values() for o in out)
    assert "records: 20,128 read, 20,121 stored, 7 duplicates, 0 rejected" in text
    assert "after its root password was deleted centrally" in text  # the finding, printed
    assert any(o.get("output_type") == "execute_result" for o in outputs[max(outputs)])
