"""The example notebook, executed with a real Jupyter kernel so it never rots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, SAMPLE_LOGS

if TYPE_CHECKING:
    from trailscope.trail import Trail

NOTEBOOKS = ROOT / "notebooks"


def test_notebook_file_is_what_make_writes() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make", NOTEBOOKS / "make.py")
    assert spec and spec.loader
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    on_disk = nbformat.read(NOTEBOOKS / "explore_root_activity.ipynb", as_version=4)
    assert on_disk == make.build(), "run: python notebooks/make.py"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("│").split("┆")]


def _table(outputs: list[Any], *columns: str) -> list[list[str]]:
    """The rows of the DataFrame a cell displayed whose columns start with `columns`, as printed
    (its text/plain repr), cell by cell."""
    for out in outputs:
        lines = out.get("data", {}).get("text/plain", "").splitlines()
        heads = [i for i, line in enumerate(lines) if line.startswith("│")]
        if heads and _cells(lines[heads[0]])[: len(columns)] == list(columns):
            body = lines[next(i for i, line in enumerate(lines) if line.startswith("╞")) + 1 :]
            return [_cells(line) for line in body if line.startswith("│")]
    raise AssertionError(f"no cell displayed a table of {columns}")


@pytest.mark.slow
def test_notebook_runs_in_a_real_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_trail: Trail
) -> None:
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
    everything = [o for out in outputs.values() for o in out]
    text = "".join(o.get("text", "") for o in everything)
    assert "records: 20,128 read, 20,121 stored, 7 duplicates, 0 rejected" in text
    assert "after its root password was deleted centrally" in text  # the finding, printed
    assert any(o.get("output_type") == "execute_result" for o in outputs[max(outputs)])

    # the figures it prints are the database's: per account, its own days, regions and events
    expected = sample_trail.sql(
        "select recipient_account_id, count(distinct cast(event_time as date)),"
        " count(distinct aws_region), count(*) from events group by 1 order by 1"
    ).rows()
    per_account = _table(everything, "account_id", "days", "regions", "events")
    assert [(a, int(d), int(r), int(n)) for a, d, r, n in per_account] == expected
    assert len({(d, n) for _, d, _, n in per_account}) > 2  # not one figure for every account
    found = sample_trail.findings().group_by("check", "severity").len().sort("check", "severity")
    printed = _table(everything, "check", "severity", "len")
    assert [(c, s, int(n)) for c, s, n in printed] == found.rows()
    sessions = sample_trail.sessions()
    assert f"{len(sessions)} root sessions, {sessions['events'].sum()} events made" in text
