from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import polars as pl

    from trailscope.trail import Trail

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE_LOGS = ROOT / "sample_logs"
REAL = ROOT.parent / "shared" / "data" / "real"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from current output (read the diff before committing)",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/<name>; --update-golden rewrites the file."""

    def check(name: str, actual: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8", newline="\n")
        assert path.exists(), f"no golden file {path}; run pytest --update-golden"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"{path} differs; rerun with --update-golden and read the diff"

    return check


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of the sample organization (sample_logs/), ingested once per test session.
    Open it with Trail(sample_db, read_only=True)."""
    from trailscope.trail import Trail

    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    with Trail(db) as trail:
        summary = trail.ingest(SAMPLE_LOGS)
    assert summary.ok, summary.lines()
    return db


@pytest.fixture(scope="session")
def sample_trail(sample_db: Path) -> Iterator[Trail]:
    """The sample organization, opened read-only as the analysis commands open it."""
    from trailscope.trail import Trail

    with Trail(sample_db, read_only=True) as trail:
        yield trail


def module_result(trail: Trail | None, name: str, params: dict[str, Any]) -> pl.DataFrame:
    """A query module's rows (on an empty in-memory database when `trail` is None), after
    checking that its columns are the ones its outputs header promises."""
    from trailscope.analysis import load_queries
    from trailscope.trail import Trail

    if trail is None:
        with Trail() as empty:
            df = empty.query(name, **params)
    else:
        df = trail.query(name, **params)
    assert tuple(df.columns) == load_queries()[name].outputs, name
    return df
